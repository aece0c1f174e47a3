"""Whole-job benchmark: `meltano run intercom-to-salesforce` against both emulators.

    .venv/bin/python benchmarks/bench_pipeline.py [--contacts 5000] [--conversations 2000]

Prints, for a full sync, an incremental run after simulated activity and an unchanged run:
wall time, Intercom and Salesforce API calls, and records per second through the whole pipe.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from pipeline import Pipeline, RunResult, meltano_install  # noqa: E402


def line(label: str, result: RunResult, seconds: float, records: int) -> None:
    objects = result.summary.get("objects", {})
    written = sum(c.get("created", 0) + c.get("updated", 0) for c in objects.values())
    unchanged = sum(c.get("unchanged", 0) for c in objects.values())
    rejected = sum(c.get("rejected", 0) for c in objects.values())
    waiting = sum(c.get("waiting", 0) for c in objects.values())
    print(
        f"{label:<22} {seconds:7.1f} s  Intercom calls {result.intercom_calls:6}  "
        f"Salesforce calls {result.salesforce_calls:4}  written {written:6}  "
        f"unchanged {unchanged:6}  waiting {waiting:6}  rejected {rejected:6}  "
        f"{records / seconds:8.0f} Intercom records/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--conversations", type=int, default=2000)
    args = parser.parse_args()
    meltano_install()
    with tempfile.TemporaryDirectory() as tmp, Pipeline(Path(tmp)) as pipe:
        seeded = pipe.intercom.admin(
            "POST",
            "seed",
            {"contacts": args.contacts, "conversations": args.conversations, "seed": 1},
        )
        records = seeded["contacts"] + seeded["conversations"] + seeded["parts"]
        print(
            f"workspace: {seeded['contacts']} contacts, {seeded['conversations']} "
            f"conversations, {seeded['parts']} parts"
        )
        start = time.monotonic()
        full = pipe.run()
        line("full sync", full, time.monotonic() - start, records)
        pipe.intercom.admin("POST", "simulate", {"steps": 100, "seed": 2})
        start = time.monotonic()
        incremental = pipe.run()
        line("incremental (100 steps)", incremental, time.monotonic() - start, records)
        start = time.monotonic()
        unchanged = pipe.run()
        line("nothing changed", unchanged, time.monotonic() - start, records)
        print(
            f"Salesforce when nothing changed: {unchanged.salesforce_write_calls} write calls, "
            f"{sum(unchanged.salesforce_record_writes.values())} records written"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
