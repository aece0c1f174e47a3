"""Benchmark of the Salesforce emulator: Bulk API 2.0 upsert processing and REST request rate.

Targets (so the emulator is never the bottleneck when the plugins are measured):
Bulk upsert processing >= 5,000 records/s for 100,000 Leads, REST >= 300 requests/s.

    .venv/bin/python benchmarks/bench_salesforce_emulator.py [--leads 100000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import tempfile
import time
from pathlib import Path

import requests
from emulators.testing import EmulatorProcess


def session_for(sf: EmulatorProcess) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE may point elsewhere
    session.verify = str(sf.ca_path)
    token = session.post(
        f"{sf.url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "emulator-refresh-token",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
        },
    ).json()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session


def bulk_upsert(
    sf: EmulatorProcess, base: str, session: requests.Session, n: int, offset: int = 0
) -> dict[str, float]:
    lines = [
        "Intercom_Contact_ID__c,FirstName,LastName,Company,Email,Company_Size__c,"
        "Intercom_Last_Seen__c,Intercom_URL__c"
    ]
    lines += [
        f"ic-{i},First{i},Last{i},Company {i % 977},person{i}@example.com,{i % 500},"
        f"2026-01-01T10:00:00Z,https://app.intercom.com/a/contacts/{i}"
        for i in range(offset, offset + n)
    ]
    data = ("\n".join(lines) + "\n").encode()
    job = session.post(
        f"{base}/jobs/ingest",
        json={
            "object": "Lead",
            "operation": "upsert",
            "externalIdFieldName": "Intercom_Contact_ID__c",
            "contentType": "CSV",
            "lineEnding": "LF",
        },
    ).json()
    url = f"{base}/jobs/ingest/{job['id']}"
    upload_started = time.perf_counter()
    assert (
        session.put(url + "/batches", data=data, headers={"Content-Type": "text/csv"}).status_code
        == 201
    )
    upload_s = time.perf_counter() - upload_started
    started = time.perf_counter()
    session.patch(url, json={"state": "UploadComplete"})
    polls = 0
    while True:
        info = session.get(url).json()
        polls += 1
        if info["state"] in {"JobComplete", "Failed", "Aborted"}:
            break
        time.sleep(0.1)
    wall = time.perf_counter() - started
    assert info["state"] == "JobComplete", info
    results_started = time.perf_counter()
    ok = session.get(url + "/successfulResults").content.count(b"\n") - 1
    results_s = time.perf_counter() - results_started
    return {
        "records": n,
        "failed": info["numberRecordsFailed"],
        "succeeded": ok,
        "server_ms": info["totalProcessingTime"],
        "wall_s": wall,
        "upload_s": upload_s,
        "results_s": results_s,
        "polls": polls,
        "mb": len(data) / 1e6,
    }


def rest_rate(base: str, session: requests.Session, n: int) -> tuple[float, float]:
    started = time.perf_counter()
    for i in range(n):
        answer = session.patch(
            f"{base}/sobjects/Lead/Intercom_Contact_ID__c/rest-{i % 500}",
            json={"LastName": f"R{i}", "Company": "Rest"},
        )
        assert answer.status_code in {200, 201}, answer.text
    sequential = n / (time.perf_counter() - started)
    sessions = [session] + [requests.Session() for _ in range(3)]
    for extra in sessions[1:]:
        extra.trust_env = False
        extra.verify = session.verify
        extra.headers.update(session.headers)

    def work(k: int) -> None:
        s = sessions[k % 4]
        for i in range(n // 4):
            s.get(f"{base}/sobjects/Lead/Intercom_Contact_ID__c/rest-{i % 500}")

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    parallel = (n // 4 * 4) / (time.perf_counter() - started)
    return sequential, parallel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess("salesforce", Path(tmp) / "sf") as sf,
    ):
        session = session_for(sf)
        base = f"{sf.url}/services/data/v62.0"
        sf.reset_stats()
        insert = bulk_upsert(sf, base, session, args.leads)
        update = bulk_upsert(sf, base, session, args.leads)
        stats = sf.stats()
        print(f"Bulk API 2.0 upsert of {args.leads:,} Leads ({insert['mb']:.1f} MB CSV):")
        for label, run in (("insert", insert), ("update", update)):
            rate = run["records"] / (run["server_ms"] / 1000)
            print(
                f"  {label:6s}: {rate:,.0f} records/s processing "
                f"({run['server_ms'] / 1000:.2f} s server, {run['wall_s']:.2f} s close->done, "
                f"upload {run['upload_s']:.2f} s, results download {run['results_s']:.2f} s, "
                f"{run['failed']} failed, {run['succeeded']:,} success rows)"
            )
        print(
            f"  API calls for both jobs: {stats['api_calls']} "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(stats['by_endpoint'].items()))})"
        )
        sf.reset_stats()
        sequential, parallel = rest_rate(base, session, args.requests)
        print(
            f"REST: {sequential:,.0f} requests/s sequential upserts (one keep-alive "
            f"connection), {parallel:,.0f} requests/s GET with 4 parallel clients "
            f"({args.requests:,} requests each way; target >= 300/s)"
        )
        stats = sf.stats()
        print(
            f"  API calls counted by the emulator: {stats['api_calls']:,}; "
            f"budget header now {stats['api_usage']['used']:,}/{stats['api_usage']['max']:,}"
        )
        ok = (
            min(
                insert["records"] / (insert["server_ms"] / 1000),
                update["records"] / (update["server_ms"] / 1000),
            )
            >= 5000
            and sequential >= 300
        )
        print(f"targets met: {ok}")


if __name__ == "__main__":
    main()
