"""Whole-job benchmark: `meltano run intercom-to-salesforce` against both emulators.

    .venv/bin/python -m benchmarks.bench_pipeline [--contacts 5000] [--conversations 2000]
        [--repeats 5] [--no-discovery-comparison]

Prints, for a full sync, an incremental run after simulated activity, runs where nothing changed
and a run after 1% of the contacts and conversations changed: wall time, Intercom calls,
Salesforce calls (write calls apart) and records per second through the whole pipe. Next to the
runs where nothing changed, in the same sitting and interleaved with them (the machine's load
varies), it times a trivial `meltano run`: a do-nothing tap and target, two small Python
scripts installed as custom plugins of a scratch Meltano project. And, unless told not to, the
same do-nothing run with discovery before the run (as before the committed catalog).

Before measuring, the bytecode of Meltano's and the plugins' environments is compiled (see the
README's "Bytecode"), so that both kinds of run start from compiled modules.

The last line of output is one JSON object with the figures (keys `unchanged_intercom_calls`,
`unchanged_salesforce_write_calls`, `unchanged_wall_s`, `trivial_run_wall_s`, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.pipeline import (
    MELTANO,
    Pipeline,
    RunResult,
    all_intercom_contacts,
    all_intercom_conversations,
    meltano_install,
    qualifies,
    tag_names,
)

#: Streams the tap reads whole on every run, and the incremental ones (search with a bookmark).
FULL_TABLE_ENDPOINTS = ("GET /admins", "GET /teams", "GET /tags", "GET /companies")
INCREMENTAL_STREAMS = ("contacts", "conversations")
CHANGED_SHARE = 0.01

NOOP_TAP = """
import json, sys
if "--discover" in sys.argv:
    print(json.dumps({"streams": [{"tap_stream_id": "noop", "stream": "noop",
        "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "metadata": [{"breadcrumb": [], "metadata": {"selected": True,
                      "table-key-properties": ["id"]}}]}]}))
else:
    print(json.dumps({"type": "SCHEMA", "stream": "noop", "key_properties": ["id"],
        "schema": {"type": "object", "properties": {"id": {"type": "integer"}}}}))
    print(json.dumps({"type": "RECORD", "stream": "noop", "record": {"id": 1}}))
    print(json.dumps({"type": "STATE", "value": {"bookmarks": {"noop": {"id": 1}}}}))
"""
NOOP_TARGET = """
import json, sys
state = None
for line in sys.stdin:
    message = json.loads(line)
    if message.get("type") == "STATE":
        state = message["value"]
if state is not None:
    print(json.dumps(state), flush=True)
"""


class TrivialProject:
    """A scratch Meltano project whose job runs a do-nothing tap into a do-nothing target."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for name, body in (("tap-noop", NOOP_TAP), ("target-noop", NOOP_TARGET)):
            script = root / name
            script.write_text(f"#!{sys.executable}\n{textwrap.dedent(body)}")
            script.chmod(0o755)
        (root / "meltano.yml").write_text(
            textwrap.dedent(
                f"""\
                project_id: trivial-run
                send_anonymous_usage_stats: false
                default_environment: dev
                environments:
                - name: dev
                plugins:
                  extractors:
                  - name: tap-noop
                    namespace: tap_noop
                    executable: {root / "tap-noop"}
                    capabilities: [catalog, discover, state]
                  loaders:
                  - name: target-noop
                    namespace: target_noop
                    executable: {root / "target-noop"}
                jobs:
                - name: noop
                  tasks:
                  - tap-noop target-noop
                """
            )
        )

    def run(self) -> float:
        """Seconds of one `meltano run noop`."""
        env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
        env.pop("MELTANO_DATABASE_URI", None)
        env.pop("MELTANO_ENVIRONMENT", None)
        start = time.monotonic()
        proc = subprocess.run(
            [MELTANO, "run", "noop"], cwd=self.root, env=env, capture_output=True, text=True
        )
        seconds = time.monotonic() - start
        if proc.returncode != 0:
            raise RuntimeError(f"the trivial meltano run failed:\n{proc.stderr[-3000:]}")
        return seconds


CPU: dict[str, list[float]] = {}


def children_cpu() -> float:
    """CPU seconds of every finished child process.

    Meltano waits for its plugins, so a `meltano run` brings the CPU of the tap, mapper and target
    with it.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(run: Callable[[], Any], kind: str = "") -> tuple[Any, float]:
    """Wall seconds of ``run``; its CPU seconds are kept under ``kind``.

    CPU seconds are less noisy than wall time on a shared machine.
    """
    cpu = children_cpu()
    start = time.monotonic()
    result = run()
    seconds = time.monotonic() - start
    if kind:
        CPU.setdefault(kind, []).append(children_cpu() - cpu)
    return result, seconds


def write_calls(result: RunResult) -> int:
    """Salesforce calls that wrote.

    Write-only endpoints (Collections, sObject rows, Bulk jobs), plus every Composite call
    (`POST /composite`, which may carry lookups and writes) of a run in which the emulator saw
    records written: an upper bound then, 0 exactly when nothing was.
    """
    composite = result.salesforce_by_endpoint.get("POST /composite", 0)
    written = sum(result.salesforce_record_writes.values())
    return result.salesforce_write_calls + (composite if written else 0)


def line(label: str, result: RunResult, seconds: float, records: int) -> None:
    objects = result.summary.get("objects", {})
    written = sum(c.get("created", 0) + c.get("updated", 0) for c in objects.values())
    unchanged = sum(c.get("unchanged", 0) for c in objects.values())
    rejected = sum(c.get("rejected", 0) for c in objects.values())
    waiting = sum(c.get("waiting", 0) for c in objects.values())
    print(
        f"{label:<26} {seconds:7.1f} s  Intercom calls {result.intercom_calls:6}  "
        f"Salesforce calls {result.salesforce_calls:4} (writes {write_calls(result):3})"
        f"  written {written:6}  unchanged {unchanged:6}  waiting {waiting:6}  "
        f"rejected {rejected:6}  {records / seconds:8.0f} Intercom records/s",
        flush=True,
    )


def endpoint_summary(result: RunResult) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(result.intercom_by_endpoint.items()))


def full_table_pages(result: RunResult) -> int:
    return sum(
        n
        for endpoint, n in result.intercom_by_endpoint.items()
        if endpoint.startswith(FULL_TABLE_ENDPOINTS)
    )


def check(result: RunResult, label: str) -> RunResult:
    if result.returncode != 0:
        raise SystemExit(f"{label}: meltano run exited {result.returncode}\n{result.explain()}")
    return result


def change_one_percent(pipe: Pipeline) -> dict[str, int]:
    """Update 1% of the contacts and of the conversations through the emulator's admin calls.

    Contacts get a new job title (a Lead field), conversations one new reply each; evenly spread
    over the ids.
    """
    contacts = sorted(all_intercom_contacts(pipe), key=lambda c: c["id"])
    conversations = sorted(all_intercom_conversations(pipe), key=lambda c: c["id"])
    n_contacts = max(1, round(len(contacts) * CHANGED_SHARE))
    n_conversations = max(1, round(len(conversations) * CHANGED_SHARE))
    names = tag_names(pipe)
    picked = contacts[:: max(1, len(contacts) // n_contacts)][:n_contacts]
    for i, contact in enumerate(picked):
        pipe.intercom.admin(
            "PATCH",
            f"contacts/{contact['id']}",
            {"custom_attributes": {"job_title": f"Benchmark title {i}"}},
        )
    step = max(1, len(conversations) // n_conversations)
    for conv in conversations[::step][:n_conversations]:
        pipe.intercom.admin("POST", f"conversations/{conv['id']}/parts", {"count": 1})
    return {
        "contacts": len(picked),
        "qualifying_contacts": sum(1 for c in picked if qualifies(pipe, c, names)),
        "conversations": n_conversations,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each do-nothing kind")
    parser.add_argument(
        "--no-discovery-comparison",
        action="store_true",
        help="skip the do-nothing runs with discovery before the run (the old behaviour)",
    )
    args = parser.parse_args()
    meltano_install()  # compiles the plugins' bytecode too
    # Meltano's own bytecode as well, so that both kinds of run start from compiled modules
    # (where PYTHONDONTWRITEBYTECODE is set nothing is cached, and the trivial run would pay
    # for compiling Meltano on every start while ours would not pay for its plugins).
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", str(Path(sys.prefix) / "lib")],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, Pipeline(Path(tmp) / "pipe") as pipe:
        trivial = TrivialProject(Path(tmp) / "trivial")
        trivial.run()  # creates its system database; not counted
        seeded = pipe.intercom.admin(
            "POST",
            "seed",
            {"contacts": args.contacts, "conversations": args.conversations, "seed": 1},
        )
        records = seeded["contacts"] + seeded["conversations"] + seeded["parts"]
        print(
            f"workspace: {seeded['contacts']} contacts, {seeded['conversations']} "
            f"conversations, {seeded['parts']} parts",
            flush=True,
        )
        full, seconds = timed(lambda: check(pipe.run(), "full sync"))
        line("full sync", full, seconds, records)
        figures["full_sync_wall_s"] = round(seconds, 2)
        figures["full_sync_intercom_calls"] = full.intercom_calls
        figures["full_sync_salesforce_calls"] = full.salesforce_calls
        pipe.intercom.admin("POST", "simulate", {"steps": 100, "seed": 2})
        incremental, seconds = timed(lambda: check(pipe.run(), "incremental"))
        line("incremental (100 steps)", incremental, seconds, records)

        # Nothing changed: interleaved with the trivial run (and the run with discovery), so
        # that each kind sees the same load on a shared machine.
        unchanged_runs: list[tuple[RunResult, float]] = []
        trivial_s: list[float] = []
        discovery_s: list[float] = []
        no_catalog = {"TAP_INTERCOM_EVENTS__CATALOG": ""}  # Meltano then runs discovery
        for i in range(args.repeats):
            result, seconds = timed(lambda: check(pipe.run(), "nothing changed"), "unchanged")
            unchanged_runs.append((result, seconds))
            line(f"nothing changed #{i + 1}", result, seconds, records)
            trivial_s.append(timed(trivial.run, "trivial")[1])
            print(f"{'trivial meltano run #' + str(i + 1):<26} {trivial_s[-1]:7.1f} s", flush=True)
            if not args.no_discovery_comparison:
                result, seconds = timed(
                    lambda: check(pipe.run(env=no_catalog), "nothing changed, discovery"),
                    "discovery",
                )
                discovery_s.append(seconds)
                line(f"  same, with discovery #{i + 1}", result, seconds, records)
        unchanged = unchanged_runs[-1][0]
        unchanged_wall = statistics.median(s for _, s in unchanged_runs)
        trivial_wall = statistics.median(trivial_s)
        pages = full_table_pages(unchanged)
        goal_calls = pages + 2 * len(INCREMENTAL_STREAMS)
        # Each run against the trivial run right after it: on a shared machine whose load
        # drifts, the median of these pairs moves less than the ratio of medians.
        pair_ratio = statistics.median(
            s / t for (_, s), t in zip(unchanged_runs, trivial_s, strict=True)
        )
        print(f"Intercom calls when nothing changed: {endpoint_summary(unchanged)}")
        print(
            f"nothing changed: {unchanged.intercom_calls} Intercom calls (goal: at most "
            f"{goal_calls} = {pages} full-table pages + 2 per incremental stream), "
            f"{max(write_calls(r) for r, _ in unchanged_runs)} Salesforce write calls "
            f"(goal 0), {unchanged_wall:.1f} s median against {trivial_wall:.1f} s for the "
            f"trivial run: {unchanged_wall / trivial_wall:.2f}x (goal at most 2x; run by run, "
            f"median {pair_ratio:.2f}x)"
            + (
                f"; with discovery before the run (before): {statistics.median(discovery_s):.1f} s"
                if discovery_s
                else ""
            ),
            flush=True,
        )
        cpu = {kind: round(statistics.median(v), 2) for kind, v in CPU.items()}
        print(
            f"CPU seconds (median, the whole process tree): nothing changed {cpu['unchanged']}, "
            f"trivial run {cpu['trivial']}"
            + (f", with discovery {cpu['discovery']}" if "discovery" in cpu else ""),
            flush=True,
        )
        names = {"unchanged": "unchanged", "trivial": "trivial_run"}
        names["discovery"] = "unchanged_with_discovery"
        figures.update({f"{names[kind]}_cpu_s": value for kind, value in cpu.items()})
        figures.update(
            {
                "unchanged_intercom_calls": unchanged.intercom_calls,
                "unchanged_intercom_goal_calls": goal_calls,
                "unchanged_salesforce_calls": unchanged.salesforce_calls,
                "unchanged_salesforce_write_calls": max(write_calls(r) for r, _ in unchanged_runs),
                "unchanged_salesforce_records_written": max(
                    sum(r.salesforce_record_writes.values()) for r, _ in unchanged_runs
                ),
                "unchanged_wall_s": round(unchanged_wall, 2),
                "unchanged_wall_runs_s": [round(s, 2) for _, s in unchanged_runs],
                "trivial_run_wall_s": round(trivial_wall, 2),
                "trivial_run_wall_runs_s": [round(s, 2) for s in trivial_s],
                "unchanged_over_trivial": round(unchanged_wall / trivial_wall, 2),
                "unchanged_over_trivial_pairs_median": round(pair_ratio, 2),
                "unchanged_over_trivial_cpu": round(
                    statistics.median(CPU["unchanged"]) / statistics.median(CPU["trivial"]), 2
                ),
            }
        )
        if discovery_s:
            figures["unchanged_with_discovery_wall_s"] = round(statistics.median(discovery_s), 2)
            figures["unchanged_with_discovery_wall_runs_s"] = [round(s, 2) for s in discovery_s]

        changed = change_one_percent(pipe)
        n_changed = changed["contacts"] + changed["conversations"]
        result, seconds = timed(lambda: check(pipe.run(), "1% changed"))
        line("1% changed", result, seconds, records)
        extra = result.intercom_calls - unchanged.intercom_calls
        print(f"Intercom calls when 1% changed: {endpoint_summary(result)}")
        print(
            f"1% changed: {changed['contacts']} contacts ({changed['qualifying_contacts']} of "
            f"them Leads) and {changed['conversations']} conversations; "
            f"{result.intercom_calls} Intercom calls, {extra} more than with nothing changed: "
            f"{extra / n_changed:.2f} per changed record; Salesforce {result.salesforce_calls} "
            f"calls, {write_calls(result)} write calls, "
            f"{sum(result.salesforce_record_writes.values())} records written; {seconds:.1f} s",
            flush=True,
        )
        figures.update(
            {
                "changed_contacts": changed["contacts"],
                "changed_conversations": changed["conversations"],
                "changed_intercom_calls": result.intercom_calls,
                "changed_extra_intercom_calls_per_record": round(extra / n_changed, 2),
                "changed_salesforce_calls": result.salesforce_calls,
                "changed_salesforce_write_calls": write_calls(result),
                "changed_salesforce_records_written": sum(result.salesforce_record_writes.values()),
                "changed_wall_s": round(seconds, 2),
            }
        )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
