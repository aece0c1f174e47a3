"""Benchmark target-salesforce-leads against the Salesforce emulator.

Prints: API calls to upsert 500 and 100,000 new Leads (targets <= 4 and <= 15), records/s through
the target including validation (target >= 5,000/s), and peak memory of the target process at
1,000,000 records (target <= 300 MB). The 1,000,000-record run is a dry run (validation, hashing,
lookups and routing, no writes) so that it measures the target rather than the emulator's write
speed; say so when quoting the figure.

Usage: .venv/bin/python benchmarks/bench_target.py [--skip-million | --million-writes]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from emulators.testing import EmulatorProcess

SCHEMA = {
    "type": "SCHEMA", "stream": "Lead", "key_properties": ["Intercom_Contact_ID__c"],
    "schema": {"type": "object", "properties": {
        "Intercom_Contact_ID__c": {"type": "string"},
        "FirstName": {"type": ["string", "null"]}, "LastName": {"type": ["string", "null"]},
        "Company": {"type": ["string", "null"]}, "Email": {"type": ["string", "null"]},
        "Phone": {"type": ["string", "null"]}, "Title": {"type": ["string", "null"]},
        "LeadSource": {"type": ["string", "null"]},
        "Company_Size__c": {"type": ["integer", "null"]},
        "Intercom_Qualification__c": {"type": ["string", "null"]},
        "Intercom_Last_Seen__c": {"type": ["string", "null"], "format": "date-time"},
        "Intercom_Sessions__c": {"type": ["integer", "null"]},
        "Intercom_Event_Count__c": {"type": ["integer", "null"]},
        "Intercom_Engagement_Score__c": {"type": ["integer", "null"]},
        "Intercom_URL__c": {"type": ["string", "null"]},
    }},
}

# Measures the target's own peak RSS: the wrapper's only child is the target, whose STATE
# messages go to the file named first.
RUNNER = """
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    proc = subprocess.run(sys.argv[2:], stdin=sys.stdin, stdout=out)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, proc.returncode)
"""


def lead_line(prefix: str, i: int, title: str = "Engineer") -> str:
    rec = {
        "Intercom_Contact_ID__c": f"{prefix}{i:08d}", "FirstName": "Ada",
        "LastName": f"Lovelace {i}", "Company": f"Company {i % 5000}",
        "Email": f"{prefix}{i}@example.com", "Phone": "+49 30 1234567", "Title": title,
        "LeadSource": "Web", "Company_Size__c": 10 + i % 500,
        "Intercom_Qualification__c": "hand_to_sales",
        "Intercom_Last_Seen__c": "2026-11-24T10:00:00Z", "Intercom_Sessions__c": i % 90,
        "Intercom_Event_Count__c": i % 1000, "Intercom_Engagement_Score__c": i % 100,
        "Intercom_URL__c": f"https://app.intercom.com/a/apps/x/users/{i}",
    }
    return json.dumps({"type": "RECORD", "stream": "Lead", "record": rec})


def run_target(sf: EmulatorProcess, tmp: Path, name: str, prefix: str, count: int,
               title: str = "Engineer", after: str | None = None,
               **overrides: object) -> dict[str, object]:
    """One target run; ``after`` names the run whose last STATE comes first, as a tap that
    passes the target's section back does (it holds the generation the hashes belong to)."""
    cfg = {
        "instance_url": sf.url, "login_url": sf.url, "ca_bundle": str(sf.ca_path),
        "client_id": "emulator-client", "client_secret": "emulator-secret",
        "refresh_token": "emulator-refresh-token", "state_path": str(tmp / f"{name}.sqlite"),
        "reject_file": str(tmp / f"{name}-rejects.jsonl"),
        "summary_file": str(tmp / f"{name}-summary.json"), "api_budget": 1.0,
    }
    cfg.update(overrides)
    cfg_path = tmp / f"{name}.json"
    cfg_path.write_text(json.dumps(cfg))
    sf.reset_stats()
    states = tmp / f"{name}-states.jsonl"
    first_state = None
    if after is not None:
        lines = (tmp / f"{after}-states.jsonl").read_text().splitlines()
        first_state = lines[-1] if lines else None
    cmd = [sys.executable, "-c", RUNNER, str(states), sys.executable, "-c",
           "from target_salesforce_leads.target import TargetSalesforceLeads as T; T.cli()",
           "--config", str(cfg_path)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def feed() -> None:
        assert proc.stdin is not None
        if first_state:
            proc.stdin.write(json.dumps({"type": "STATE", "value": json.loads(first_state)})
                             + "\n")
        proc.stdin.write(json.dumps(SCHEMA) + "\n")
        buf = []
        for i in range(count):
            buf.append(lead_line(prefix, i, title))
            if len(buf) == 5000:
                proc.stdin.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            proc.stdin.write("\n".join(buf) + "\n")
        proc.stdin.write(json.dumps({"type": "STATE", "value": {"bench": name}}) + "\n")
        proc.stdin.close()

    feeder = threading.Thread(target=feed)
    feeder.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    feeder.join()
    proc.wait()
    elapsed = time.perf_counter() - start
    maxrss_kb, rc = out.split()
    summary = json.loads((tmp / f"{name}-summary.json").read_text())
    stats = sf.stats()
    return {
        "records": count, "seconds": elapsed, "records_per_s": count / elapsed,
        "peak_rss_mb": int(maxrss_kb) / 1024, "returncode": int(rc),
        "api_calls_target": summary["api_calls"], "api_calls_emulator": stats["api_calls"],
        "by_endpoint": stats["by_endpoint"], "outcomes": summary["objects"],
        "bulk_wait": float(summary.get("bulk_wait_seconds") or 0.0),
    }


def report(title: str, r: dict[str, object], target: str = "") -> None:
    print(f"\n== {title} {target}")
    print(f"   {r['records']:,} records in {r['seconds']:.1f}s = {r['records_per_s']:,.0f} "
          f"records/s; peak RSS {r['peak_rss_mb']:.0f} MB; exit {r['returncode']}")
    if r["bulk_wait"]:
        own = r["seconds"] - r["bulk_wait"]
        print(f"   of which {r['bulk_wait']:.1f}s waiting for the emulator to process the Bulk "
              f"job; the target's own throughput: {r['records'] / own:,.0f} records/s")
    print(f"   API calls: {r['api_calls_emulator']} billed by the emulator "
          f"({r['api_calls_target']} counted by the target, OAuth token excluded)")
    print(f"   by endpoint: {json.dumps(r['by_endpoint'], sort_keys=True)}")
    print(f"   outcomes: {json.dumps(r['outcomes'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument("--million-writes", action="store_true",
                        help="write the 1,000,000 Leads for real (10 Bulk jobs; several minutes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with EmulatorProcess("salesforce", tmp / "sf",
                             args=["--daily-api-limit", "10000000"]) as sf:
            r = run_target(sf, tmp, "l500", "a", 500)
            report("500 new Leads (Composite: lookups in 1 call, 3 Collections chunks in 1)", r,
                   "[target <= 4 API calls]")
            r = run_target(sf, tmp, "l500w", "w", 500)
            report("500 more new Leads, describe cached from the run before", r,
                   "[target <= 4 API calls]")
            r = run_target(sf, tmp, "l500b", "b", 500, match_contacts_by_email=False)
            report("500 new Leads, match_contacts_by_email off", r, "[target <= 4 API calls]")
            r = run_target(sf, tmp, "l500s", "s", 500, state_path=str(tmp / "l500w.sqlite"),
                           use_composite=False, after="l500w")
            report("500 new Leads, use_composite off (separate calls), describe cached", r)
            r = run_target(sf, tmp, "l100k", "c", 100_000)
            report("100,000 new Leads (Bulk 2.0)", r,
                   "[target <= 15 API calls, >= 5,000 records/s]")
            r = run_target(sf, tmp, "l100k-again", "c", 100_000, after="l100k", state_path=str(
                tmp / "l100k.sqlite"))
            report("the same 100,000 Leads again (skip unchanged)", r, "[0 API calls]")
            r = run_target(sf, tmp, "l5k-changed", "c", 5_000, title="Director", after="l100k",
                           state_path=str(tmp / "l100k.sqlite"))
            report("5,000 of those Leads changed (steady state, org of 101,500 Leads)", r)
            r = run_target(sf, tmp, "dry100k", "d", 100_000, dry_run=True)
            report("100,000 Leads, dry run (validation + matching, no writes)", r,
                   "[>= 5,000 records/s]")
        if not args.skip_million:
            # A fresh org, so that lookups cost what they cost for new people.
            with EmulatorProcess("salesforce", tmp / "sf2",
                                 args=["--daily-api-limit", "10000000"]) as sf2:
                if args.million_writes:
                    r = run_target(sf2, tmp, "w1m", "e", 1_000_000)
                    report("1,000,000 Leads written (10 Bulk jobs)", r,
                           "[peak memory <= 300 MB]")
                else:
                    r = run_target(sf2, tmp, "dry1m", "e", 1_000_000, dry_run=True)
                    report("1,000,000 Leads, dry run", r, "[peak memory <= 300 MB]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
