"""Benchmark the real-time job end to end and print the figures (issue 11's goals).

    .venv/bin/python -m benchmarks.bench_realtime [--rates 1,10,100] [--seconds 30]
        [--max-events 1000] [--ack-burst 1000] [--sf-latency-ms 150] [--quick]

Against both emulators, with every Salesforce API call delayed by `--sf-latency-ms` (150 ms, a
realistic round trip to an org): the receiver (`meltano invoke intercom-webhook-receiver`) is
subscribed to the Intercom emulator's webhooks and the long-lived `meltano run
intercom-realtime-to-salesforce` runs beside it. For each rate, the emulator's burst creates
that many new qualifying leads per second (`contact.lead.created`, for `--seconds`, at most
`--max-events`), and:

- end-to-end latency per event: from the first attempt to deliver its notification (the
  emulator's attempt log, `sent_at`, wall clock) to its Lead's `CreatedDate` in the Salesforce
  emulator (stamped, to the millisecond, when the insert is applied; the record is queryable from
  that commit on). Both clocks are this machine's. p50 and p95 per rate (goal: p95 <= 5 s at
  10/s);
- Salesforce API calls (billed calls of the emulator's stats, the job's look-ups and writes)
  per 1,000 events of that rate; the headline figure is the highest rate's (1,000 events at
  100/s; goal <= 20, against 1,000 for one call per event). At 1/s every event is its own batch
  (the target writes a batch at most 1 s after its first record).

Then the receiver's acknowledgement latency under a burst of `--ack-burst` notifications, sent
at once by 50 connections to a fresh receiver (benchmarks/bench_receiver.py's `run`; goal p99 <=
100 ms). The last line of output is one JSON object: `p50_s`, `p95_s` (each by rate),
`ack_p50_ms`, `ack_p99_ms`, `sf_calls_per_1000`, `sf_calls_per_1000_by_rate`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import bench_receiver
from scripts.pipeline import FAST_INTERCOM_ARGS, Pipeline, RunningJob, meltano_install

HAND_TO_SALES = {"qualification": "hand_to_sales"}


def percentile(values: list[float], q: float) -> float:
    return bench_receiver.percentile(values, q)


def lead_created(pipe: Pipeline) -> dict[str, float]:
    """Intercom contact id -> its Lead's CreatedDate (epoch seconds)."""
    rows = pipe.soql("SELECT Intercom_Contact_ID__c, CreatedDate FROM Lead")
    return {
        r["Intercom_Contact_ID__c"]: dt.datetime.strptime(
            r["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z"
        ).timestamp()
        for r in rows
        if r.get("Intercom_Contact_ID__c")
    }


def wait_for(condition: Any, what: str, timeout: float, job: RunningJob) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if not job.alive():
            raise RuntimeError(
                f"the real-time job ended before {what}:\n{job.log.read_text()[-4000:]}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {timeout} s")
        time.sleep(0.5)


def fire(pipe: Pipeline, count: int, rate: float, job: RunningJob) -> list[str]:
    """A burst of `count` new qualifying leads at `rate`/s; the contact ids, once it is done."""
    started = pipe.intercom.admin(
        "POST",
        "webhooks/burst",
        {
            "topic": "contact.lead.created",
            "count": count,
            "rate_per_s": rate,
            "custom_attributes": HAND_TO_SALES,
        },
    )

    def done() -> bool:
        return bool(pipe.intercom.admin("GET", f"webhooks/bursts/{started['id']}")["done"])

    wait_for(done, "the burst's end", count / rate + 60, job)
    return list(pipe.intercom.admin("GET", f"webhooks/bursts/{started['id']}")["items"])


def first_sent(pipe: Pipeline) -> dict[str, float]:
    """Contact id -> when the emulator first tried to deliver its notification (epoch s)."""
    item_of = {
        d["id"]: d["item_id"]
        for d in pipe.intercom.admin("GET", "webhooks/deliveries?limit=100000")
    }
    sent: dict[str, float] = {}
    after = 0
    while True:
        page = pipe.intercom.admin("GET", f"webhooks/attempts?after={after}&limit=10000")
        if not page:
            return sent
        for attempt in page:
            item = item_of.get(attempt["id"])
            if item is not None and attempt.get("sent_at") is not None:
                sent[item] = min(sent.get(item, float("inf")), _epoch(attempt["sent_at"]))
        after = page[-1]["seq"]


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def phase(pipe: Pipeline, job: RunningJob, rate: float, count: int) -> dict[str, Any]:
    pipe.salesforce.reset_stats()
    pipe.intercom.reset_stats()
    items = fire(pipe, count, rate, job)
    wait_for(
        lambda: set(items) <= set(lead_created(pipe)), f"the Leads of the {rate}/s burst", 120, job
    )
    time.sleep(1.5)  # let a last, empty batch or STATE be counted
    sf_stats = pipe.salesforce.stats()
    sf_calls = int(sf_stats.get("api_calls", 0))
    print("  Salesforce calls by endpoint:", dict(sf_stats.get("by_endpoint", {})), flush=True)
    ic_calls = int(pipe.intercom.stats().get("api_calls", 0))
    created, sent = lead_created(pipe), first_sent(pipe)
    latencies = [created[cid] - sent[cid] for cid in items]
    figures = {
        "rate_per_s": rate,
        "events": len(items),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies), 3),
        "sf_calls": sf_calls,
        "sf_calls_per_1000": round(1000 * sf_calls / len(items), 1),
        "intercom_calls_per_event": round(ic_calls / len(items), 2),
    }
    print(
        f"{rate:>6g}/s: {len(items)} events, end-to-end p50 {figures['p50_s']} s, p95 "
        f"{figures['p95_s']} s, max {figures['max_s']} s; {sf_calls} Salesforce calls "
        f"({figures['sf_calls_per_1000']} per 1,000 events), "
        f"{figures['intercom_calls_per_event']} Intercom calls per event",
        flush=True,
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="1,10,100", help="events per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=30, help="length of each rate's burst")
    parser.add_argument("--max-events", type=int, default=1000, help="most events per rate")
    parser.add_argument("--ack-burst", type=int, default=1000)
    parser.add_argument(
        "--ack-repeat",
        type=int,
        default=3,
        help="receiver bursts (each into a new inbox); the median is reported",
    )
    parser.add_argument("--sf-latency-ms", type=float, default=150)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10 s per rate, at most 200 events, one ack burst of 300",
    )
    parser.add_argument("--no-install", action="store_true", help="skip `meltano install`")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.max_events, args.ack_burst, args.ack_repeat = 10, 200, 300, 1
    rates = [float(r) for r in args.rates.split(",")]
    if not args.no_install:
        meltano_install()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as tmp:
        workdir = Path(tmp)
        with Pipeline(workdir / "pipe", intercom_args=FAST_INTERCOM_ARGS) as pipe:
            pipe.intercom.admin("POST", "seed", {"contacts": 20, "conversations": 5, "seed": 1})
            pipe.salesforce.admin("POST", "faults", {"kind": "latency", "ms": args.sf_latency_ms})
            receiver = pipe.start_receiver()
            pipe.subscribe(receiver, ["contact.lead.created"])
            job = pipe.start_realtime()
            t0 = time.monotonic()
            warm = fire(pipe, 1, 1, job)
            wait_for(lambda: set(warm) <= set(lead_created(pipe)), "the first Lead", 180, job)
            print(
                f"real-time job up: first Lead {time.monotonic() - t0:.1f} s after start "
                f"(Salesforce latency {args.sf_latency_ms:g} ms a call)",
                flush=True,
            )
            for rate in rates:
                count = max(1, min(args.max_events, round(rate * args.seconds)))
                results[f"{rate:g}"] = phase(pipe, job, rate, count)
            job.kill_group()
            receiver.kill_group()
        ack_runs = [
            bench_receiver.run(
                f"sqlite:///{workdir}/ack-{n}.db", workdir, args.ack_burst, 50, f"ack-{n}"
            )
            for n in range(args.ack_repeat)
        ]
    ack_p50 = statistics.median(r["ack_p50_ms"] for r in ack_runs)
    ack_p99 = statistics.median(r["ack_p99_ms"] for r in ack_runs)
    top = results[f"{max(rates):g}"]
    print(
        f"receiver: burst of {args.ack_burst}, ack p50 {ack_p50} ms, p99 {ack_p99} ms "
        "(goal p99 <= 100 ms)"
    )
    print(
        f"Salesforce calls per 1,000 events at {max(rates):g}/s: {top['sf_calls_per_1000']} "
        "(goal <= 20)"
    )
    print(
        json.dumps(
            {
                "p50_s": {k: r["p50_s"] for k, r in results.items()},
                "p95_s": {k: r["p95_s"] for k, r in results.items()},
                "ack_p50_ms": ack_p50,
                "ack_p99_ms": ack_p99,
                "sf_calls_per_1000": top["sf_calls_per_1000"],
                "sf_calls_per_1000_by_rate": {
                    k: r["sf_calls_per_1000"] for k, r in results.items()
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
