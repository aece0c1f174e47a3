"""How fast the Intercom emulator seeds and serves contacts.

The emulator must not be what a tap benchmark measures. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_intercom_emulator.py [--contacts N] [--conversations M]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from emulators.testing import EmulatorProcess

HEADERS = {"Authorization": "Bearer emulator-token", "Intercom-Version": "2.14"}


def drain(client: httpx.Client, kind: str, limit_pages: int | None = None) -> tuple[int, int]:
    """Page through contacts by list or sorted search; answers (contacts, calls)."""
    after = None
    n = calls = 0
    while True:
        if kind == "list":
            params: dict[str, Any] = {"per_page": 150}
            if after:
                params["starting_after"] = after
            page = client.get("/contacts", params=params).json()
        else:
            body: dict[str, dict[str, Any]] = {
                "query": {"field": "updated_at", "operator": ">", "value": 0},
                "sort": {"field": "updated_at", "order": "ascending"},
                "pagination": {"per_page": 150},
            }
            if after:
                body["pagination"]["starting_after"] = after
            page = client.post("/contacts/search", json=body).json()
        calls += 1
        n += len(page["data"])
        after = (page["pages"].get("next") or {}).get("starting_after")
        if not after or (limit_pages and calls >= limit_pages):
            return n, calls


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--latency-requests", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "ic"
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "emulators",
                "intercom",
                "seed",
                "--data-dir",
                str(data),
                "--contacts",
                str(args.contacts),
                "--conversations",
                str(args.conversations),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seed_s = time.perf_counter() - t0
        print(
            f"seed: {args.contacts} contacts + {args.conversations} conversations "
            f"in {seed_s:.1f} s (CLI, including interpreter start)"
        )
        with (
            EmulatorProcess("intercom", data) as ic,
            httpx.Client(base_url=ic.url, headers=HEADERS, timeout=120) as client,
        ):
            for kind in ("list", "search"):
                ic.reset_stats()
                t0 = time.perf_counter()
                n, calls = drain(client, kind)
                secs = time.perf_counter() - t0
                print(
                    f"{kind:6s}: {n} contacts in {calls} calls, {secs:.2f} s -> "
                    f"{n / secs:,.0f} contacts/s, {calls / secs:.0f} pages/s (1 client)"
                )
            # Concurrency: four clients draining searches side by side.
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                results = list(
                    pool.map(
                        lambda _: drain(
                            httpx.Client(base_url=ic.url, headers=HEADERS, timeout=120),
                            "search",
                            limit_pages=150,
                        ),
                        range(4),
                    )
                )
            secs = time.perf_counter() - t0
            total = sum(r[0] for r in results)
            print(
                f"search, 4 clients: {total} contacts in {secs:.2f} s -> "
                f"{total / secs:,.0f} contacts/s"
            )
            # Latency faults must not serialize requests.
            ic.admin("POST", "faults", {"kind": "latency", "ms": 100})
            conv_ids = [
                c["id"]
                for c in client.get("/conversations", params={"per_page": 150}).json()[
                    "conversations"
                ]
            ]
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(32) as pool:
                list(
                    pool.map(
                        lambda i: client.get(f"/conversations/{conv_ids[i % len(conv_ids)]}"),
                        range(args.latency_requests),
                    )
                )
            secs = time.perf_counter() - t0
            ic.admin("DELETE", "faults")
            print(
                f"GET /conversations/{{id}} with 100 ms latency, 32 threads: "
                f"{args.latency_requests / secs:.0f} requests/s "
                f"(ideal {32 / 0.1:.0f}/s)"
            )
            stats = ic.stats()
            print(f"api calls counted by the emulator: {stats['api_calls']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
