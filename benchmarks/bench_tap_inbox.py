"""Benchmark the tap's inbox mode against the Intercom emulator and print the figures.

    .venv/bin/python benchmarks/bench_tap_inbox.py [--notifications 5000] [--samples 20]

1. Drain: N notifications in a SQLite inbox (4 in 5 about 1,000 contacts, 1 in 5 about 200
   conversations, picked at random), read by `follow: false` with the default settings, with
   0 and 50 ms of API latency: seconds (start-up included), re-reads per stream (coalescing
   within batches of 500), and 429s.
2. Follow: with `follow: true` and `poll_interval_seconds` 1, the time from a notification
   being stored in the inbox to its record and the STATE after it on the tap's stdout, p50 and
   p95 over the samples.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from emulators.testing import EmulatorProcess
from tap_intercom_events.inbox import Inbox, open_inbox

TAP = [sys.executable, "-m", "tap_intercom_events.tap"]
TOKEN = "emulator-token"


def listed(ic: EmulatorProcess, path: str, key: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        url = f"{ic.url}{path}?per_page=150" + (f"&starting_after={cursor}" if cursor else "")
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            page = json.loads(response.read())
        ids += [item["id"] for item in page[key]]
        nxt = (page.get("pages") or {}).get("next")
        cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
        if not cursor:
            return ids


def notify(inbox: Inbox, topic: str, kind: str, item_id: str) -> None:
    notification_id = f"notif_{uuid.uuid4()}"
    body = {
        "type": "notification_event",
        "id": notification_id,
        "topic": topic,
        "created_at": int(time.time()),
        "data": {"type": "notification_event_data", "item": {"type": kind, "id": item_id}},
    }
    inbox.add(notification_id, topic, json.dumps(body).encode())


def drain(
    ic: EmulatorProcess,
    work: Path,
    contacts: list[str],
    conversations: list[str],
    n: int,
    latency_ms: int,
) -> dict[str, Any]:
    work.mkdir(parents=True)
    url = f"sqlite:///{work / 'inbox.db'}"
    inbox = open_inbox(url)
    rng = random.Random(latency_ms)
    for _ in range(n):
        if rng.random() < 0.8:
            notify(inbox, "contact.user.updated", "contact", rng.choice(contacts))
        else:
            notify(inbox, "conversation.user.replied", "conversation", rng.choice(conversations))
    inbox.close()
    config = {"access_token": TOKEN, "api_url": ic.url, "inbox_url": url}
    (work / "config.json").write_text(json.dumps(config))
    if latency_ms:
        ic.admin("POST", "faults", {"kind": "latency", "ms": latency_ms})
    ic.reset_stats()
    started = time.monotonic()
    proc = subprocess.run(
        [*TAP, "--config", str(work / "config.json")], capture_output=True, text=True, timeout=1800
    )
    seconds = time.monotonic() - started
    ic.admin("DELETE", "faults")
    if proc.returncode != 0:
        raise SystemExit(f"tap failed:\n{proc.stderr[-3000:]}")
    stats = ic.stats()
    calls = stats["by_endpoint"]
    return {
        "latency_ms": latency_ms,
        "notifications": n,
        "seconds": round(seconds, 1),
        "contact_rereads": calls.get("GET /contacts/{contact_id}", 0),
        "conversation_rereads": calls.get("GET /conversations/{conversation_id}", 0),
        "api_calls": stats["api_calls"],
        "429": stats["status_counts"].get("429", 0),
    }


def _read_messages(proc: subprocess.Popen[bytes], lines: queue.Queue[dict[str, Any]]) -> None:
    """Put every message the tap writes on ``lines``, in order (a thread of its own)."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        lines.put(json.loads(raw))


def follow(ic: EmulatorProcess, work: Path, contacts: list[str], samples: int) -> dict[str, Any]:
    work.mkdir(parents=True)
    url = f"sqlite:///{work / 'inbox.db'}"
    inbox = open_inbox(url)
    config = {
        "access_token": TOKEN,
        "api_url": ic.url,
        "inbox_url": url,
        "follow": True,
        "poll_interval_seconds": 1.0,
    }
    (work / "config.json").write_text(json.dumps(config))
    stderr = (work / "stderr.log").open("wb")
    proc = subprocess.Popen(
        [*TAP, "--config", str(work / "config.json")],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=dict(os.environ),
    )
    lines: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(target=_read_messages, args=(proc, lines), daemon=True).start()
    waits = []
    try:
        time.sleep(3)  # start-up, then polling the empty inbox
        for contact_id in contacts[:samples]:
            time.sleep(random.uniform(0, 1))
            stored = time.monotonic()
            notify(inbox, "contact.user.updated", "contact", contact_id)
            emitted = False
            while True:
                message = lines.get(timeout=60)
                if (
                    message["type"] == "RECORD"
                    and message["stream"] == "contacts"
                    and message["record"]["id"] == contact_id
                ):
                    emitted = True
                elif message["type"] == "STATE" and emitted:
                    waits.append(time.monotonic() - stored)
                    break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        stderr.close()
        inbox.close()
    waits.sort()
    return {
        "poll_interval_seconds": 1.0,
        "samples": len(waits),
        "p50_s": round(statistics.median(waits), 3),
        "p95_s": round(waits[max(0, int(0.95 * len(waits)) - 1)], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with EmulatorProcess(
            "intercom", work / "ic", args=["--rate-limit-per-minute", "100000"]
        ) as ic:
            ic.admin(
                "POST",
                "seed",
                {"contacts": 1000, "conversations": 200, "seed": 3, "big_conversations": 0},
            )
            contacts = listed(ic, "/contacts", "data")
            conversations = listed(ic, "/conversations", "conversations")
            figures: dict[str, Any] = {"drain": []}
            for latency in (0, 50):
                result = drain(
                    ic,
                    work / f"drain-{latency}",
                    contacts,
                    conversations,
                    args.notifications,
                    latency,
                )
                print(
                    f"drain, {latency} ms latency: {result['notifications']} notifications in "
                    f"{result['seconds']} s (start-up included); re-read "
                    f"{result['contact_rereads']} contacts, {result['conversation_rereads']} "
                    f"conversations; {result['429']} x 429"
                )
                figures["drain"].append(result)
            figures["follow"] = follow(ic, work / "follow", contacts, args.samples)
            print(
                f"follow, polling every 1 s: stored -> record and STATE on stdout "
                f"p50 {figures['follow']['p50_s']} s, p95 {figures['follow']['p95_s']} s "
                f"over {figures['follow']['samples']}"
            )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
