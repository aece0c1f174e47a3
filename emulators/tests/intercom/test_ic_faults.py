"""Rate limits in 10-second windows, injected faults and token revocation."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx
import pytest
from emulators.intercom.fixtures import injected, rate_limit_burst, server_errors

from .conftest import Client, start


def wait_for_window_start() -> None:
    """Start a burst early in a 10-second window so it cannot straddle two windows."""
    while time.time() % 10 > 6:
        time.sleep(0.2)


def test_rate_limit_is_enforced_per_ten_second_window(tmp_path: Path) -> None:
    proc = start(tmp_path / "ic", "--rate-limit-per-minute", "60")
    try:
        proc.admin("POST", "seed", {"contacts": 5, "conversations": 0})
        client = Client(proc)
        wait_for_window_start()
        answers = [client.get("/me") for _ in range(12)]
        codes = [r.status_code for r in answers]
        assert codes == [200] * 10 + [429] * 2  # 60 per minute = 10 per 10-second window
        first, last_ok, limited = answers[0], answers[9], answers[10]
        assert first.headers["X-RateLimit-Limit"] == "10"  # the window's figure, not 60
        assert first.headers["X-RateLimit-Remaining"] == "9"
        assert last_ok.headers["X-RateLimit-Remaining"] == "0"
        reset = int(limited.headers["X-RateLimit-Reset"])
        assert reset % 10 == 0 and 0 < reset - time.time() <= 10
        body = limited.json()
        assert body["type"] == "error.list"
        assert body["errors"][0]["code"] == "rate_limit_exceeded"
        time.sleep(max(0.0, reset - time.time()) + 0.2)
        assert client.get("/me").status_code == 200  # a new window
        stats = proc.stats()
        assert stats["status_counts"]["429"] == 2
        proc.admin("POST", "config", {"rate_limit_per_minute": 6000})
        assert client.get("/me").headers["X-RateLimit-Limit"] == "1000"  # 6000 / 6
    finally:
        proc.stop()


def test_status_faults_burst_then_recover_and_can_target_a_path(fresh: Client) -> None:
    fresh.admin(
        "POST", "faults", {"kind": "status", "status": 503, "count": 2, "path": "/contacts"}
    )
    assert fresh.get("/me").status_code == 200  # other paths are not affected
    first = fresh.get("/contacts")
    assert first.status_code == 503 and first.json()["type"] == "error.list"
    assert fresh.get("/contacts").status_code == 503
    assert fresh.get("/contacts").status_code == 200
    assert fresh.proc.stats()["status_counts"]["503"] == 2


def test_rate_limit_fault_answers_429(fresh: Client) -> None:
    fresh.admin("POST", "faults", {"kind": "rate_limit", "count": 3})
    codes = [fresh.get("/me").status_code for _ in range(4)]
    assert codes == [429, 429, 429, 200]


def test_injected_429s_carry_intercoms_rate_limit_headers(fresh: Client) -> None:
    wait_for_window_start()
    before = fresh.get("/me")
    remaining = int(before.headers["X-RateLimit-Remaining"])
    fresh.admin("POST", "faults", {"kind": "rate_limit", "count": 1})
    fresh.admin("POST", "faults", {"kind": "status", "status": 429, "count": 1})
    for limited in (fresh.get("/me"), fresh.get("/me")):
        assert limited.status_code == 429
        assert limited.json()["errors"][0]["code"] == "rate_limit_exceeded"
        assert limited.headers["X-RateLimit-Limit"] == before.headers["X-RateLimit-Limit"]
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        reset = int(limited.headers["X-RateLimit-Reset"])
        assert reset % 10 == 0 and 0 < reset - time.time() <= 10  # the window's end
        assert "Retry-After" not in limited.headers
    after = fresh.get("/me")
    assert after.status_code == 200
    # Refused calls spend nothing of the window's budget.
    assert int(after.headers["X-RateLimit-Remaining"]) == remaining - 1


def test_429_faults_can_name_the_reset_and_a_retry_after(fresh: Client) -> None:
    fresh.admin("POST", "faults", {"kind": "rate_limit", "count": 2, "reset_in": 0})
    fresh.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 429, "count": 1, "reset_in": -5, "retry_after": 2},
    )
    due = fresh.get("/me")
    assert due.status_code == 429
    assert int(due.headers["X-RateLimit-Reset"]) <= time.time()  # already due
    assert fresh.get("/me").status_code == 429
    late = fresh.get("/me")
    assert late.status_code == 429 and late.headers["Retry-After"] == "2"
    assert int(late.headers["X-RateLimit-Reset"]) <= time.time() - 4
    assert fresh.get("/me").status_code == 200
    with pytest.raises(RuntimeError, match="answered 400"):
        fresh.admin("POST", "faults", {"kind": "rate_limit", "reset_in": "soon"})


def test_dropped_connections(fresh: Client) -> None:
    fresh.admin("POST", "faults", {"kind": "drop", "count": 1})
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{fresh.proc.url}/me", headers=dict(fresh.http.headers), timeout=5)
    assert fresh.get("/me").status_code == 200


def test_latency_does_not_serialize_requests(fresh: Client) -> None:
    fresh.admin("POST", "faults", {"kind": "latency", "ms": 300})
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(lambda _: fresh.get("/me").status_code, range(10)))
    elapsed = time.perf_counter() - t0
    assert codes == [200] * 10
    assert 0.3 <= elapsed < 1.5  # ten 300 ms requests side by side, not 3 s in a row
    fresh.admin("DELETE", "faults")
    t0 = time.perf_counter()
    fresh.get("/me")
    assert time.perf_counter() - t0 < 0.3


def test_token_revocation_and_new_tokens(fresh: Client) -> None:
    assert fresh.get("/me").status_code == 200
    fresh.admin("POST", "faults", {"kind": "revoke_token"})
    revoked = fresh.get("/me")
    assert revoked.status_code == 401
    assert revoked.json()["errors"][0]["code"] == "unauthorized"
    fresh.admin("POST", "tokens", {"token": "second-token"})
    other = httpx.get(f"{fresh.proc.url}/me", headers={"Authorization": "Bearer second-token"})
    assert other.status_code == 200
    fresh.admin("POST", "tokens", {"token": "second-token", "revoke": True})
    again = httpx.get(f"{fresh.proc.url}/me", headers={"Authorization": "Bearer second-token"})
    assert again.status_code == 401
    log = fresh.admin("GET", "requests?limit=50")
    assert "second-token" not in str(log) and "emulator-token" not in str(log)


def test_python_fault_helpers(fresh: Client) -> None:
    with injected(fresh.proc, {"kind": "status", "status": 500, "count": 1}):
        assert fresh.get("/me").status_code == 500
        server_errors(fresh.proc, 1, status=502, path="/admins")
        assert fresh.get("/admins").status_code == 502
        rate_limit_burst(fresh.proc, 5)
    assert fresh.admin("GET", "faults") == []
    assert fresh.get("/me").status_code == 200
