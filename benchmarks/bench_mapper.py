"""Benchmark map-intercom-salesforce: records per second through the real CLI.

Feeds a synthetic tap output (contacts with event summaries, conversations with parts, STATE
every 1,000 parents) on stdin and prints input records/s, output records/s and the wall time,
start-up included. No emulator is needed.

Usage: .venv/bin/python benchmarks/bench_mapper.py [--contacts N] [--conversations M] [--parts K]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = Path(sys.executable).parent / "map-intercom-salesforce"
FIRST = ["Ada", "Bob", "Chloé", "Dmitri", "Eve", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
LAST = ["Lovelace", "Smith", "Dubois", "Ivanov", "Nakamura", "Okafor", "Schmidt", "Silva"]
# One name in five needs the full parser (prefixes, titles, suffixes, middle names).
ODD = ["Ludwig van Beethoven", "Dr. Mary Ann Smith", "Martin Luther King Jr.", "山田 太郎"]


def _name(i: int) -> str:
    if i % 5 == 0:
        return ODD[i % len(ODD)]
    return f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]}"


def _messages(contacts: int, conversations: int, parts: int) -> list[str]:
    lines: list[dict] = [
        {"type": "SCHEMA", "stream": "contacts", "schema": {}, "key_properties": ["id"]},
        {
            "type": "SCHEMA",
            "stream": "contact_event_summaries",
            "schema": {},
            "key_properties": ["contact_id", "name"],
        },
        {"type": "SCHEMA", "stream": "conversations", "schema": {}, "key_properties": ["id"]},
        {"type": "SCHEMA", "stream": "conversation_parts", "schema": {}, "key_properties": ["id"]},
    ]
    for i in range(contacts):
        qualified = i % 3 != 0
        lines.append(
            {
                "type": "RECORD",
                "stream": "contacts",
                "record": {
                    "type": "contact",
                    "id": f"c{i}",
                    "role": "user",
                    "email": f"person{i}@company{i % 50}.example" if i % 17 else None,
                    "name": _name(i),
                    "phone": "+49 30 1234567",
                    "updated_at": "2026-11-24T10:00:00Z",
                    "last_seen_at": "2026-11-20T10:00:00Z",
                    "custom_attributes": {
                        "qualification": "hand_to_sales" if qualified else "nurture",
                        "session_count": i % 40,
                        "job_title": "Head of Things",
                    },
                    "tags": {"type": "list", "data": []},
                    "companies": {"type": "list", "data": []},
                },
            }
        )
        for name in ("login", "viewed-pricing"):
            lines.append(
                {
                    "type": "RECORD",
                    "stream": "contact_event_summaries",
                    "record": {
                        "contact_id": f"c{i}",
                        "name": name,
                        "count": i % 9,
                        "first": "2026-11-01T10:00:00Z",
                        "last": "2026-11-20T10:00:00Z",
                    },
                }
            )
        if i % 1000 == 999:
            lines.append({"type": "STATE", "value": {"contacts": i}})
    for v in range(conversations):
        lines.append(
            {
                "type": "RECORD",
                "stream": "conversations",
                "record": {
                    "type": "conversation",
                    "id": f"v{v}",
                    "title": None,
                    "state": "closed",
                    "priority": "not_priority",
                    "created_at": "2026-11-20T10:00:00Z",
                    "updated_at": "2026-11-21T10:00:00Z",
                    "source": {
                        "type": "conversation",
                        "body": "<p>Hello, I need <b>pricing</b>.</p>",
                        "author": {"type": "user", "id": f"c{v}", "name": f"Person{v}"},
                    },
                    "contacts": {
                        "type": "contact.list",
                        "contacts": [{"type": "contact", "id": f"c{v}"}],
                    },
                },
            }
        )
        for p in range(parts):
            lines.append(
                {
                    "type": "RECORD",
                    "stream": "conversation_parts",
                    "record": {
                        "id": f"{v}-{p}",
                        "conversation_id": f"v{v}",
                        "part_type": "comment",
                        "body": f"<p>Reply number {p} &amp; some <i>text</i> to read.</p>",
                        "created_at": f"2026-11-20T{10 + p // 60:02d}:{p % 60:02d}:00Z",
                        "author": {"type": "admin", "id": "a1", "name": "Ann Agent"},
                        "conversation_parts_total": parts,
                        "conversation_parts_truncated": False,
                    },
                }
            )
        if v % 1000 == 999:
            lines.append({"type": "STATE", "value": {"conversations": v}})
    lines.append({"type": "STATE", "value": {"done": True}})
    return [json.dumps(line) for line in lines]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20000)
    parser.add_argument("--conversations", type=int, default=4000)
    parser.add_argument("--parts", type=int, default=10)
    args = parser.parse_args()
    lines = _messages(args.contacts, args.conversations, args.parts)
    records_in = sum(1 for line in lines if '"type": "RECORD"' in line)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps({"reject_file": str(Path(tmp) / "rejects.jsonl")}))
        started = time.perf_counter()
        proc = subprocess.run(
            [str(CLI), "--config", str(config)],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - started
    records_out = proc.stdout.count('"type":"RECORD"')
    print(
        f"map-intercom-salesforce: {records_in} records in, {records_out} out in {elapsed:.2f} s "
        f"(start-up included): {records_in / elapsed:,.0f} input records/s, "
        f"{records_out / elapsed:,.0f} output records/s"
    )


if __name__ == "__main__":
    main()
