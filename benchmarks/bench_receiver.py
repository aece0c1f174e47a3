"""Benchmark the webhook receiver's acknowledgement latency under a burst and print the figures.

    .venv/bin/python -m benchmarks.bench_receiver [--burst 1000] [--concurrency 50] [--postgres]

A burst of N signed notifications is POSTed at once by `concurrency` connections (the Intercom
emulator delivers up to 50 at a time) to a real `intercom-webhook-receiver` process; latency is
measured by the sender, from request to the 200 (which comes after the inbox commit).
Goal (issue 11): p99 <= 100 ms for a burst of 1,000. Each burst goes to a new receiver and inbox;
the median of `--repeat` bursts is reported (the machine's other load moves single runs). The
last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from scripts.receiver_support import ReceiverProcess, notification, signature


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def _connection(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port)


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One request on a kept-alive connection; the status code.

    A minimal HTTP/1.1 client, so that the sender's own cost (on the same machine) stays small next
    to the receiver's.
    """
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(h.split(":", 1)[1]) for h in lines if h.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def burst(url: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], float]:
    parts = urlsplit(url)
    requests = [
        (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Hub-Signature: {signature(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    latencies: list[float] = []
    # Open the connections first, so the burst measures acknowledgements, not handshakes.
    host, port = parts.hostname, parts.port
    if host is None or port is None:
        raise SystemExit(f"the receiver's URL names no host and port: {url}")
    connections = await asyncio.gather(*(_connection(host, port) for _ in range(concurrency)))
    queue = list(reversed(requests))

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            status = await _post(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"receiver answered {status}")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in connections))
    return latencies, time.perf_counter() - started


def run(inbox_url: str, workdir: Path, n: int, concurrency: int, label: str) -> dict:
    with ReceiverProcess(
        inbox_url, workdir / f"receiver-{label}.log", args=["--log-level", "warning"]
    ) as rec:
        bodies = [notification(f"notif_bench_{label}_{i}") for i in range(n)]
        latencies, elapsed = asyncio.run(burst(rec.webhook_url, bodies, concurrency))
        metrics = rec.metrics()
    assert metrics["intercom_webhook_stored_total"] == n, metrics
    ms = [v * 1000 for v in latencies]
    figures = {
        "inbox": label,
        "notifications": n,
        "concurrency": concurrency,
        "ack_p50_ms": round(statistics.median(ms), 2),
        "ack_p99_ms": round(percentile(ms, 0.99), 2),
        "ack_max_ms": round(max(ms), 2),
        "per_second": round(n / elapsed, 1),
        "server_ack_mean_ms": round(
            1000
            * metrics["intercom_webhook_ack_seconds_sum"]
            / metrics["intercom_webhook_ack_seconds_count"],
            2,
        ),
    }
    print(
        f"{label:>9}: {n} notifications, {concurrency} at a time: ack p50 "
        f"{figures['ack_p50_ms']} ms, p99 {figures['ack_p99_ms']} ms, max "
        f"{figures['ack_max_ms']} ms; {figures['per_second']} stored/s; in the receiver "
        f"{figures['server_ack_mean_ms']} ms on average",
        flush=True,
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="bursts per inbox (each into a new inbox); the median is reported",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also measure a PostgreSQL inbox (a local throw-away server)",
    )
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"sqlite": []}
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        workdir = Path(tmp)
        for n in range(args.repeat):
            runs["sqlite"].append(
                run(
                    f"sqlite:///{workdir}/inbox-{n}.db",
                    workdir,
                    args.burst,
                    args.concurrency,
                    f"sqlite-{n}",
                )
            )
        if args.postgres:
            from scripts.postgres_server import postgres_server

            runs["postgres"] = []
            with postgres_server() as url:
                for n in range(args.repeat):
                    runs["postgres"].append(
                        run(url, workdir, args.burst, args.concurrency, f"pg-{n}")
                    )
    summary = {
        inbox: {
            key: statistics.median(r[key] for r in results)
            for key in ("ack_p50_ms", "ack_p99_ms", "per_second")
        }
        for inbox, results in runs.items()
    }
    for inbox, figures in summary.items():
        print(
            f"{inbox}, median of {args.repeat} bursts: ack p50 {figures['ack_p50_ms']} ms, "
            f"p99 {figures['ack_p99_ms']} ms (goal p99 <= 100 ms), "
            f"{figures['per_second']} stored/s"
        )
    print(
        json.dumps(
            {
                "ack_p50_ms": summary["sqlite"]["ack_p50_ms"],
                "ack_p99_ms": summary["sqlite"]["ack_p99_ms"],
                "by_inbox": summary,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
