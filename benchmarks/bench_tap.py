"""Benchmark tap-intercom-events against the Intercom emulator and print the figures.

    .venv/bin/python benchmarks/bench_tap.py [--contacts 100000] [--conversations 2000]

1. Full sync of N contacts (contacts stream only): records/s and API calls versus the floor
   ceil(N/150) + a constant.
2. Conversation parts with 100 ms injected latency and a rate limit of 10,000 calls/minute:
   requests/s for GET /conversations/{id} with the default concurrency, versus one at a time.
3. Conversation parts against a rate limit low enough to be the bottleneck (default 2,000 calls
   a minute, 100 ms latency): the share of the limit the parts phase uses, over the phase and
   over the emulator's full 10-second windows inside it, and the 429s (goal >= 95 %, 0 x 429).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulators.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent
TAP = [sys.executable, "-m", "tap_intercom_events.tap"]


def catalog(config_path: Path, streams: set[str]) -> dict:
    """Discovered catalog with only ``streams`` selected."""
    out = subprocess.run(
        [*TAP, "--config", str(config_path), "--discover"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cat = json.loads(out)
    for entry in cat["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["stream"] in streams
    return cat


def run_tap(work: Path, config: dict, streams: set[str]) -> tuple[float, Path, str]:
    """Run the tap with only ``streams`` selected; answers (seconds, stdout file, stderr)."""
    work.mkdir(parents=True, exist_ok=True)
    config_path = work / "config.json"
    config_path.write_text(json.dumps(config))
    catalog_path = work / "catalog.json"
    catalog_path.write_text(json.dumps(catalog(config_path, streams)))
    out_path = work / "out.jsonl"
    started = time.monotonic()
    with out_path.open("w") as out:
        proc = subprocess.run(
            [*TAP, "--config", str(config_path), "--catalog", str(catalog_path)],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"tap failed:\n{proc.stderr[-3000:]}")
    return elapsed, out_path, proc.stderr


def sync_seconds(stderr: str, stream: str) -> float | None:
    """The SDK's sync_duration metric of a parent stream (without process start-up)."""
    pattern = re.compile(r'METRIC: (\{.*"metric":"sync_duration".*\})')
    for match in pattern.finditer(stderr):
        point = json.loads(match.group(1))
        if point["tags"].get("stream") == stream and not point["tags"].get("context"):
            return float(point["value"])
    return None


def count_records(path: Path, stream: str) -> int:
    marker = f'"type":"RECORD","stream":"{stream}"'
    with path.open() as lines:
        return sum(1 for line in lines if marker in line)


def bench_contacts(work: Path, n: int) -> None:
    print(f"== contacts: full sync of {n:,} contacts")
    with EmulatorProcess("intercom", work / "ic", args=["--rate-limit-per-minute", "10000"]) as ic:
        started = time.monotonic()
        ic.admin("POST", "seed", {"contacts": n, "conversations": 10, "seed": 1}, timeout=1800)
        print(f"   seeded in {time.monotonic() - started:.1f} s")
        ic.reset_stats()
        config = {"access_token": "emulator-token", "api_url": ic.url}
        elapsed, out, stderr = run_tap(work / "contacts", config, {"contacts"})
        stats = ic.stats()
    records = count_records(out, "contacts")
    sync = sync_seconds(stderr, "contacts") or elapsed
    search_calls = stats["by_endpoint"].get("POST /contacts/search", 0)
    floor = math.ceil(n / 150)
    print(f"   records emitted          {records:,} (expected {n:,})")
    print(f"   whole process            {elapsed:.2f} s  -> {records / elapsed:,.0f} records/s")
    print(
        f"   contacts stream sync     {sync:.2f} s  -> {records / sync:,.0f} records/s "
        "(target >= 10,000/s)"
    )
    print(
        f"   API calls                {stats['api_calls']} total, {search_calls} searches; "
        f"floor ceil(N/150) = {floor}, overhead {stats['api_calls'] - floor} "
        f"(1 probe for the bookmark ceiling, /tags, and the sub-lists of contacts whose "
        "tags or companies do not fit inline)"
    )
    print(f"   by endpoint              {stats['by_endpoint']}")
    print(f"   429 answers              {stats['status_counts'].get('429', 0)}")


def bench_parts(work: Path, conversations: int, sequential_sample: int) -> None:
    print(
        f"== conversation parts: {conversations:,} conversations, 100 ms latency, 10,000 calls/min"
    )
    with EmulatorProcess(
        "intercom", work / "ic-parts", args=["--rate-limit-per-minute", "10000"]
    ) as ic:
        ic.admin(
            "POST",
            "seed",
            {"contacts": 400, "conversations": conversations, "seed": 2, "big_conversations": 0},
            timeout=1800,
        )
        ic.admin("POST", "faults", {"kind": "latency", "ms": 100})
        results = {}
        for label, concurrency, limit in [
            ("concurrent (default max_concurrency=20)", 20, None),
            ("sequential (max_concurrency=1)", 1, sequential_sample),
        ]:
            ic.reset_stats()
            config = {
                "access_token": "emulator-token",
                "api_url": ic.url,
                "max_concurrency": concurrency,
            }
            if limit:
                # Only the newest conversations: keeps the slow run short.
                config["start_date"] = _start_for_newest(ic, limit)
            elapsed, out, stderr = run_tap(
                work / f"parts-{concurrency}", config, {"conversations", "conversation_parts"}
            )
            stats = ic.stats()
            calls = stats["by_endpoint"].get("GET /conversations/{conversation_id}", 0)
            sync = sync_seconds(stderr, "conversations") or elapsed
            rate = calls / sync
            results[label] = rate
            print(
                f"   {label}: {calls} GET /conversations/{{id}} in {sync:.2f} s -> "
                f"{rate:,.1f} requests/s; {count_records(out, 'conversation_parts'):,} parts; "
                f"429 answers {stats['status_counts'].get('429', 0)}"
            )
        ic.admin("DELETE", "faults")
    concurrent, sequential = results.values()
    print(
        f"   target >= 133 requests/s (80% of 10,000/min); speed-up over sequential "
        f"{concurrent / sequential:.1f}x"
    )


PARTS_PATH = re.compile(r"^/conversations/[^/]+$")
#: Answers the emulator keeps in its request log.
LOG_SIZE = 5000


def bench_parts_share(
    work: Path, conversations: int, per_minute: int, latency_ms: int, save_log: Path | None = None
) -> None:
    per_window = math.ceil(per_minute / 6)
    print(
        f"== conversation parts at the rate limit: {conversations:,} conversations, "
        f"{latency_ms} ms latency, {per_minute:,} calls/min ({per_window} per 10-s window)"
    )
    with EmulatorProcess(
        "intercom", work / "ic-share", args=["--rate-limit-per-minute", str(per_minute)]
    ) as ic:
        ic.admin(
            "POST",
            "seed",
            {"contacts": 400, "conversations": conversations, "seed": 3, "big_conversations": 0},
            timeout=1800,
        )
        if latency_ms:
            ic.admin("POST", "faults", {"kind": "latency", "ms": latency_ms})
        ic.reset_stats()
        config = {"access_token": "emulator-token", "api_url": ic.url}
        elapsed, out, stderr = run_tap(
            work / "parts-share", config, {"conversations", "conversation_parts"}
        )
        log = ic.admin("GET", f"requests?limit={LOG_SIZE}")
        stats = ic.stats()
    if save_log:
        save_log.write_text(json.dumps(log))
    if stats["api_calls"] > len(log):
        print(
            f"   warning: {stats['api_calls']} calls but the emulator kept only the last "
            f"{len(log)}; use fewer conversations"
        )
    refused = stats["status_counts"].get("429", 0)
    # Calls the window budget counted: every authenticated answer but the refusals.
    counted = [e for e in log if e["status"] not in (0, 401, 429)]
    parts = [e["time"] for e in counted if e["method"] == "GET" and PARTS_PATH.match(e["path"])]
    first, last = min(parts), max(parts)
    in_phase = [e for e in counted if first <= e["time"] <= last]
    seconds = last - first
    phase_share = len(in_phase) / (seconds * per_window / 10) if seconds > 0 else 0.0
    per_window_calls: dict[int, int] = {}
    for entry in in_phase:
        window = int(entry["time"] // 10)
        per_window_calls[window] = per_window_calls.get(window, 0) + 1
    # Windows wholly inside the phase (the emulator's windows start at multiples of 10 s).
    full = [per_window_calls.get(w, 0) for w in range(math.ceil(first / 10), int(last // 10))]
    full_share = sum(full) / (len(full) * per_window) if full else float("nan")
    print(
        f"   records                  {count_records(out, 'conversations'):,} conversations, "
        f"{count_records(out, 'conversation_parts'):,} parts; whole process {elapsed:.1f} s"
    )
    print(
        f"   parts phase              {len(parts):,} GET /conversations/{{id}}, "
        f"{len(in_phase):,} calls in {seconds:.1f} s"
    )
    print(
        f"   share of the limit       {full_share:.1%} over the {len(full)} full windows inside "
        f"the phase {full} of {per_window}; {phase_share:.1%} over the whole phase (its "
        "first, partial window holds a whole window's budget)"
    )
    print(f"   429 answers              {refused}")
    print("   goal                     >= 95% of the limit, 0 x 429")
    summary = {
        "parts_share_phase": round(phase_share, 4),
        "parts_share_full_windows": round(full_share, 4),
        "full_windows": len(full),
        "parts_calls": len(parts),
        "refused_429": refused,
        "per_minute": per_minute,
        "latency_ms": latency_ms,
    }
    print(json.dumps(summary))


def _start_for_newest(ic: EmulatorProcess, n: int) -> str:
    """A start_date that leaves about ``n`` conversations (read without the tap)."""
    import urllib.request

    body = json.dumps(
        {
            "query": {"field": "updated_at", "operator": ">", "value": 0},
            "pagination": {"per_page": n},
            "sort": {"field": "updated_at", "order": "descending"},
        }
    ).encode()
    request = urllib.request.Request(
        f"{ic.url}/conversations/search",
        data=body,
        method="POST",
        headers={"Authorization": "Bearer emulator-token", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        found = json.loads(answer.read())["conversations"]
    oldest = min(c["updated_at"] for c in found)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(oldest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=2_000)
    parser.add_argument("--sequential-sample", type=int, default=60)
    parser.add_argument(
        "--share-conversations",
        type=int,
        default=2_000,
        help="conversations of the rate-limited parts run",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=2_000,
        help="calls per minute of the rate-limited parts run",
    )
    parser.add_argument(
        "--latency-ms", type=int, default=100, help="latency of the rate-limited parts run"
    )
    parser.add_argument(
        "--save-log",
        type=Path,
        help="write the emulator's request log of the rate-limited run here",
    )
    parser.add_argument("--only", choices=["contacts", "parts", "share"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tap-") as tmp:
        work = Path(tmp)
        if args.only in (None, "contacts"):
            bench_contacts(work, args.contacts)
        if args.only in (None, "parts"):
            bench_parts(work, args.conversations, args.sequential_sample)
        if args.only in (None, "share"):
            bench_parts_share(
                work, args.share_conversations, args.rate_limit, args.latency_ms, args.save_log
            )


if __name__ == "__main__":
    main()
