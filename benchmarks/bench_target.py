"""Benchmark target-salesforce-leads against the Salesforce emulator.

Prints: API calls to upsert 500 and 100,000 new Leads (targets <= 4 and <= 15), records/s through
the target including validation (target >= 5,000/s), and peak memory of the target process at
1,000,000 records (target <= 300 MB). The 1,000,000-record run is a dry run (validation, hashing,
lookups and routing, no writes) so that it measures the target rather than the emulator's write
speed; say so when quoting the figure.

Next to the 100,000 new Leads it runs the SDK's own no-op target (a BatchSink whose
process_batch does nothing, with the SDK's default record validation) on the same messages,
fed the same way through stdin and timed the same way (process start to exit), and prints our
records/s excluding the Bulk wait as a share of the no-op's (goal >= 60%).

Usage: .venv/bin/python benchmarks/bench_target.py [--skip-million | --million-writes]
       .venv/bin/python benchmarks/bench_target.py --throughput 3 [--profile DIR [--py-spy]]
(--throughput N: only the 100,000-Lead comparison, N times, each on a fresh emulator, and the
medians; --profile DIR: also write cProfile stats of each of our runs into DIR, or with --py-spy
sample them with py-spy, if installed in the venv, and print the top costs.)
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from emulators.testing import EmulatorProcess

SCHEMA = {
    "type": "SCHEMA",
    "stream": "Lead",
    "key_properties": ["Intercom_Contact_ID__c"],
    "schema": {
        "type": "object",
        "properties": {
            "Intercom_Contact_ID__c": {"type": "string"},
            "FirstName": {"type": ["string", "null"]},
            "LastName": {"type": ["string", "null"]},
            "Company": {"type": ["string", "null"]},
            "Email": {"type": ["string", "null"]},
            "Phone": {"type": ["string", "null"]},
            "Title": {"type": ["string", "null"]},
            "LeadSource": {"type": ["string", "null"]},
            "Company_Size__c": {"type": ["integer", "null"]},
            "Intercom_Qualification__c": {"type": ["string", "null"]},
            "Intercom_Last_Seen__c": {"type": ["string", "null"], "format": "date-time"},
            "Intercom_Sessions__c": {"type": ["integer", "null"]},
            "Intercom_Event_Count__c": {"type": ["integer", "null"]},
            "Intercom_Engagement_Score__c": {"type": ["integer", "null"]},
            "Intercom_URL__c": {"type": ["string", "null"]},
        },
    },
}

# Measures the target's own peak RSS: the wrapper's only child is the target, whose STATE
# messages go to the file named first.
RUNNER = """
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    proc = subprocess.run(sys.argv[2:], stdin=sys.stdin, stdout=out)
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(use.ru_maxrss, proc.returncode, use.ru_utime + use.ru_stime)
"""


# The SDK's own no-op target: default validation (validate_records), default batching, nothing
# written. Run as a separate process exactly like ours.
NOOP_TARGET = """
from singer_sdk.sinks import BatchSink
from singer_sdk.target_base import Target


class NoopSink(BatchSink):
    def process_batch(self, context):
        pass


class NoopTarget(Target):
    name = "target-noop"
    config_jsonschema = {"type": "object", "properties": {}}
    default_sink_class = NoopSink


NoopTarget.cli()
"""

# Our target under cProfile (stats into the file named first); SystemExit is caught by cProfile.
PROFILED_TARGET = """
import cProfile, sys
out = sys.argv.pop(1)
from target_salesforce_leads.target import TargetSalesforceLeads as T
cProfile.run("T.cli()", out)
"""


def lead_line(prefix: str, i: int, title: str = "Engineer") -> str:
    rec = {
        "Intercom_Contact_ID__c": f"{prefix}{i:08d}",
        "FirstName": "Ada",
        "LastName": f"Lovelace {i}",
        "Company": f"Company {i % 5000}",
        "Email": f"{prefix}{i}@example.com",
        "Phone": "+49 30 1234567",
        "Title": title,
        "LeadSource": "Web",
        "Company_Size__c": 10 + i % 500,
        "Intercom_Qualification__c": "hand_to_sales",
        "Intercom_Last_Seen__c": "2026-11-24T10:00:00Z",
        "Intercom_Sessions__c": i % 90,
        "Intercom_Event_Count__c": i % 1000,
        "Intercom_Engagement_Score__c": i % 100,
        "Intercom_URL__c": f"https://app.intercom.com/a/apps/x/users/{i}",
    }
    return json.dumps({"type": "RECORD", "stream": "Lead", "record": rec})


@functools.lru_cache(maxsize=2)
def records_text(prefix: str, count: int, title: str) -> tuple[str, ...]:
    """The RECORD lines, in chunks of 5,000.

    Built once before the clock starts, so the feeder costs the target and the no-op the same
    little CPU.
    """
    return tuple(
        "".join(lead_line(prefix, i, title) + "\n" for i in range(start, min(count, start + 5000)))
        for start in range(0, count, 5000)
    )


def run_process(
    cmd_tail: list[str],
    tmp: Path,
    name: str,
    prefix: str,
    count: int,
    title: str = "Engineer",
    first_state: str | None = None,
) -> tuple[float, int, int, float]:
    """Feed SCHEMA, ``count`` RECORDs and a STATE to ``CMD_TAIL`` through stdin.

    Returns (seconds from start to exit, peak RSS in kB, exit code, CPU seconds).
    """
    states = tmp / f"{name}-states.jsonl"
    records_text(prefix, count, title)
    cmd = [sys.executable, "-c", RUNNER, str(states), *cmd_tail]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def feed() -> None:
        assert proc.stdin is not None
        if first_state:
            proc.stdin.write(json.dumps({"type": "STATE", "value": json.loads(first_state)}) + "\n")
        proc.stdin.write(json.dumps(SCHEMA) + "\n")
        for chunk in records_text(prefix, count, title):
            proc.stdin.write(chunk)
        proc.stdin.write(json.dumps({"type": "STATE", "value": {"bench": name}}) + "\n")
        proc.stdin.close()

    feeder = threading.Thread(target=feed)
    feeder.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    feeder.join()
    proc.wait()
    elapsed = time.perf_counter() - start
    maxrss_kb, rc, cpu = out.split()
    return elapsed, int(maxrss_kb), int(rc), float(cpu)


def run_noop(tmp: Path, name: str, prefix: str, count: int) -> dict[str, Any]:
    """The SDK's no-op target (with validation) on the same messages as ``run_target``."""
    cfg_path = tmp / f"{name}.json"
    cfg_path.write_text("{}")
    elapsed, maxrss_kb, rc, cpu = run_process(
        [sys.executable, "-c", NOOP_TARGET, "--config", str(cfg_path)], tmp, name, prefix, count
    )
    return {
        "records": count,
        "seconds": elapsed,
        "records_per_s": count / elapsed,
        "peak_rss_mb": maxrss_kb / 1024,
        "returncode": rc,
        "cpu_seconds": cpu,
    }


def run_target(
    sf: EmulatorProcess,
    tmp: Path,
    name: str,
    prefix: str,
    count: int,
    title: str = "Engineer",
    after: str | None = None,
    profile: Path | None = None,
    **overrides: object,
) -> dict[str, Any]:
    """One target run.

    ``after`` names the run whose last STATE comes first, as a tap that passes the target's section
    back does (it holds the generation the hashes belong to).
    """
    cfg = {
        "instance_url": sf.url,
        "login_url": sf.url,
        "ca_bundle": str(sf.ca_path),
        "client_id": "emulator-client",
        "client_secret": "emulator-secret",
        "refresh_token": "emulator-refresh-token",
        "state_path": str(tmp / f"{name}.sqlite"),
        "reject_file": str(tmp / f"{name}-rejects.jsonl"),
        "summary_file": str(tmp / f"{name}-summary.json"),
        "api_budget": 1.0,
    }
    cfg.update(overrides)
    cfg_path = tmp / f"{name}.json"
    cfg_path.write_text(json.dumps(cfg))
    sf.reset_stats()
    first_state = None
    if after is not None:
        lines = (tmp / f"{after}-states.jsonl").read_text().splitlines()
        first_state = lines[-1] if lines else None
    code = [
        sys.executable,
        "-c",
        "from target_salesforce_leads.target import TargetSalesforceLeads as T; T.cli()",
    ]
    if profile is not None and profile.suffix == ".raw":
        # Sampled (no overhead in the target): py-spy's folded stacks, summed by top_costs.
        code = [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(profile),
            "--",
            *code,
        ]
    elif profile is not None:
        code = [sys.executable, "-c", PROFILED_TARGET, str(profile)]
    elapsed, maxrss_kb, rc, cpu = run_process(
        [*code, "--config", str(cfg_path)], tmp, name, prefix, count, title, first_state
    )
    summary = json.loads((tmp / f"{name}-summary.json").read_text())
    stats = sf.stats()
    return {
        "records": count,
        "seconds": elapsed,
        "records_per_s": count / elapsed,
        "peak_rss_mb": maxrss_kb / 1024,
        "returncode": rc,
        "cpu_seconds": cpu,
        "api_calls_target": summary["api_calls"],
        "api_calls_emulator": stats["api_calls"],
        "by_endpoint": stats["by_endpoint"],
        "outcomes": summary["objects"],
        "bulk_wait": float(summary.get("bulk_wait_seconds") or 0.0),
    }


def report(title: str, r: dict[str, Any], target: str = "") -> None:
    print(f"\n== {title} {target}")
    print(
        f"   {r['records']:,} records in {r['seconds']:.1f}s = {r['records_per_s']:,.0f} "
        f"records/s; peak RSS {r['peak_rss_mb']:.0f} MB; exit {r['returncode']}"
    )
    if r["bulk_wait"]:
        own = r["seconds"] - r["bulk_wait"]
        print(
            f"   of which {r['bulk_wait']:.1f}s waiting for the emulator to process the Bulk "
            f"job; the target's own throughput: {r['records'] / own:,.0f} records/s"
        )
    print(
        f"   API calls: {r['api_calls_emulator']} billed by the emulator "
        f"({r['api_calls_target']} counted by the target, OAuth token excluded)"
    )
    print(f"   by endpoint: {json.dumps(r['by_endpoint'], sort_keys=True)}")
    print(f"   outcomes: {json.dumps(r['outcomes'])}")


def own_rate(r: dict[str, Any]) -> float:
    """Records/s excluding the wait for the emulator to process Bulk jobs."""
    return float(r["records"]) / (float(r["seconds"]) - float(r["bulk_wait"]))


def report_noop(r: dict[str, Any], ours: dict[str, Any]) -> None:
    print("\n== the SDK's no-op target with validation, same 100,000 Leads, same stdin path")
    print(
        f"   {r['records']:,} records in {r['seconds']:.1f}s = {r['records_per_s']:,.0f} "
        f"records/s; peak RSS {r['peak_rss_mb']:.0f} MB; exit {r['returncode']}"
    )
    print(
        f"   ours excluding the Bulk wait: {own_rate(ours):,.0f} records/s = "
        f"{own_rate(ours) / float(r['records_per_s']):.0%} of the no-op [goal >= 60%]"
    )


def top_costs(raw: Path, n: int = 25) -> None:
    """Print the functions with the most samples in py-spy's folded stacks: own and total."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
            for f in stack.split(";")
        ]
        c = int(count)
        samples += c
        own[frames[-1]] = own.get(frames[-1], 0) + c
        for f in set(frames):
            total[f] = total.get(f, 0) + c
    print(f"\n{raw.name}: {samples} samples; by own time:")
    for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:n]:
        print(f"   {c / samples:6.1%}  {f}")
    print("by total time:")
    for f, c in sorted(total.items(), key=lambda kv: -kv[1])[:n]:
        print(f"   {c / samples:6.1%}  {f}")


def throughput(repeat: int, profile_dir: Path | None, sampled: bool = False) -> None:
    """100,000 new Leads and the no-op, ``repeat`` times (a fresh org each), with medians.

    Wall-clock figures are the goal's; records per CPU second of the target process are printed
    too, as they suffer less from a busy machine.
    """
    rows: list[dict[str, float]] = []
    for n in range(repeat):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            with EmulatorProcess(
                "salesforce", tmp / "sf", args=["--daily-api-limit", "10000000"]
            ) as sf:
                ext = ".raw" if sampled else ".prof"
                prof = profile_dir / f"target-{n + 1}{ext}" if profile_dir else None
                r = run_target(sf, tmp, "l100k", "c", 100_000, profile=prof)
            noop = run_noop(tmp, "noop", "c", 100_000)
        row = {
            "end": float(r["records_per_s"]),
            "own": own_rate(r),
            "noop": float(noop["records_per_s"]),
            "own_cpu": 100_000 / float(r["cpu_seconds"]),
            "noop_cpu": 100_000 / float(noop["cpu_seconds"]),
        }
        row["ratio"] = row["own"] / row["noop"]
        row["ratio_cpu"] = row["own_cpu"] / row["noop_cpu"]
        rows.append(row)
        print(
            f"run {n + 1}: ours {row['end']:,.0f} records/s end to end, {row['own']:,.0f} "
            f"excluding the Bulk wait ({float(r['bulk_wait']):.1f}s), exit "
            f"{r['returncode']}, {r['api_calls_emulator']} API calls, peak RSS "
            f"{float(r['peak_rss_mb']):.0f} MB, "
            f"{row['own_cpu']:,.0f} records per CPU second; no-op {row['noop']:,.0f} "
            f"records/s, {row['noop_cpu']:,.0f} per CPU second; ratio {row['ratio']:.0%} "
            f"(CPU: {row['ratio_cpu']:.0%})",
            flush=True,
        )
        if prof is not None and sampled:
            top_costs(prof)
    med = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
    print(
        f"\nmedian of {repeat}: ours {med['end']:,.0f} records/s end to end, "
        f"{med['own']:,.0f} excluding the Bulk wait; the SDK's no-op with validation "
        f"{med['noop']:,.0f} records/s; ours excluding the wait = {med['ratio']:.0%} of the "
        f"no-op [goal >= 60%]; per CPU second: ours {med['own_cpu']:,.0f}, no-op "
        f"{med['noop_cpu']:,.0f} ({med['ratio_cpu']:.0%})"
    )
    print(
        json.dumps(
            {
                "ours_records_per_s": round(med["end"]),
                "ours_excl_bulk_wait_records_per_s": round(med["own"]),
                "noop_records_per_s": round(med["noop"]),
                "ratio_excl_wait": round(med["ratio"], 3),
                "ours_records_per_cpu_s": round(med["own_cpu"]),
                "noop_records_per_cpu_s": round(med["noop_cpu"]),
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument(
        "--million-writes",
        action="store_true",
        help="write the 1,000,000 Leads for real (10 Bulk jobs; several minutes)",
    )
    parser.add_argument(
        "--throughput",
        type=int,
        metavar="N",
        default=0,
        help="only the 100,000-Lead comparison with the no-op, N times",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="with --throughput: cProfile stats of our runs into DIR",
    )
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="with --profile: sample with py-spy (installed in the venv) "
        "instead, and print the top costs",
    )
    args = parser.parse_args()
    if args.throughput:
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        throughput(args.throughput, args.profile, args.py_spy)
        return 0
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with EmulatorProcess(
            "salesforce", tmp / "sf", args=["--daily-api-limit", "10000000"]
        ) as sf:
            r = run_target(sf, tmp, "l500", "a", 500)
            report(
                "500 new Leads (Composite: lookups in 1 call, 3 Collections chunks in 1)",
                r,
                "[target <= 4 API calls]",
            )
            r = run_target(sf, tmp, "l500w", "w", 500)
            report(
                "500 more new Leads, describe cached from the run before",
                r,
                "[target <= 4 API calls]",
            )
            r = run_target(sf, tmp, "l500b", "b", 500, match_contacts_by_email=False)
            report("500 new Leads, match_contacts_by_email off", r, "[target <= 4 API calls]")
            r = run_target(
                sf,
                tmp,
                "l500s",
                "s",
                500,
                state_path=str(tmp / "l500w.sqlite"),
                use_composite=False,
                after="l500w",
            )
            report("500 new Leads, use_composite off (separate calls), describe cached", r)
            r = run_target(sf, tmp, "l100k", "c", 100_000)
            report(
                "100,000 new Leads (Bulk 2.0)", r, "[target <= 15 API calls, >= 5,000 records/s]"
            )
            report_noop(run_noop(tmp, "noop100k", "c", 100_000), r)
            r = run_target(
                sf,
                tmp,
                "l100k-again",
                "c",
                100_000,
                after="l100k",
                state_path=str(tmp / "l100k.sqlite"),
            )
            report("the same 100,000 Leads again (skip unchanged)", r, "[0 API calls]")
            r = run_target(
                sf,
                tmp,
                "l5k-changed",
                "c",
                5_000,
                title="Director",
                after="l100k",
                state_path=str(tmp / "l100k.sqlite"),
            )
            report("5,000 of those Leads changed (steady state, org of 101,500 Leads)", r)
            r = run_target(sf, tmp, "dry100k", "d", 100_000, dry_run=True)
            report(
                "100,000 Leads, dry run (validation + matching, no writes)",
                r,
                "[>= 5,000 records/s]",
            )
        if not args.skip_million:
            # A fresh org, so that lookups cost what they cost for new people.
            with EmulatorProcess(
                "salesforce", tmp / "sf2", args=["--daily-api-limit", "10000000"]
            ) as sf2:
                if args.million_writes:
                    r = run_target(sf2, tmp, "w1m", "e", 1_000_000)
                    report("1,000,000 Leads written (10 Bulk jobs)", r, "[peak memory <= 300 MB]")
                else:
                    r = run_target(sf2, tmp, "dry1m", "e", 1_000_000, dry_run=True)
                    report("1,000,000 Leads, dry run", r, "[peak memory <= 300 MB]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
