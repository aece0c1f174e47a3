"""Fidelity of the server layer: rate-limit headers, doubled slashes, Intercom-Version.

Each test speaks to an emulator over a real socket, as a client written against the live API
would (see emulators/docs/intercom.md, sections "Rate-limit headers", "Paths" and "Versions").
"""

from __future__ import annotations

import time

import httpx
import pytest
from emulators.intercom.fixtures import rate_limit_burst
from emulators.intercom.server import version_problem

from .conftest import Client


def wait_for_window_start() -> None:
    """Start a burst early in a 10-second window so it cannot straddle two windows."""
    while time.time() % 10 > 6:
        time.sleep(0.2)


# ---------------------------------------------------------------- item 1: rate-limit headers
def test_rate_limit_headers_speak_of_the_ten_second_window(fresh: Client) -> None:
    """Intercom's example: 1000 per minute is 167 per 10-second window, Limit 167."""
    fresh.admin("POST", "config", {"rate_limit_per_minute": 1000})
    wait_for_window_start()
    first, second = fresh.get("/me"), fresh.get("/me")
    assert first.status_code == second.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "167"
    assert second.headers["X-RateLimit-Limit"] == "167"
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in (first, second)]
    assert remaining[0] <= 166 and remaining[1] == remaining[0] - 1  # counts down from 167
    reset = int(first.headers["X-RateLimit-Reset"])
    assert reset % 10 == 0 and 0 < reset - time.time() <= 10  # the window's end


def test_429_names_the_window_figure_in_header_and_message(fresh: Client) -> None:
    fresh.admin("POST", "config", {"rate_limit_per_minute": 12})  # 2 per window
    wait_for_window_start()
    answers = [fresh.get("/me") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Limit"] for r in answers] == ["2", "2", "2"]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["1", "0", "0"]
    error = answers[2].json()["errors"][0]
    assert error == {
        "code": "rate_limit_exceeded",
        "message": "Exceeded rate limit of 2 in 10_seconds",
    }


def test_injected_rate_limit_faults_carry_the_window_figure(fresh: Client) -> None:
    fresh.admin("POST", "config", {"rate_limit_per_minute": 1000})
    rate_limit_burst(fresh, 1)
    fresh.admin("POST", "faults", {"kind": "status", "status": 429, "count": 1})
    for limited in (fresh.get("/me"), fresh.get("/me")):
        assert limited.status_code == 429
        assert limited.headers["X-RateLimit-Limit"] == "167"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert limited.json()["errors"][0]["message"] == "Exceeded rate limit of 167 in 10_seconds"


# ---------------------------------------------------------------- item 4: doubled slashes
def first_contact_id(client: Client) -> str:
    resp = client.get("/contacts", params={"per_page": 1})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["data"][0]["id"])


def test_doubled_slashes_are_served_like_single_ones(fresh: Client) -> None:
    """``base + "/" + "/contacts/{id}/tags"``: the doubled slash is collapsed before routing."""
    contact = first_contact_id(fresh)
    single = fresh.get(f"{fresh.proc.url}/contacts/{contact}/tags")
    for path in (
        f"//contacts/{contact}/tags",
        f"/contacts//{contact}//tags",
        f"///contacts/{contact}/tags/",
    ):
        doubled = fresh.get(fresh.proc.url + path)  # absolute: the client sends it as written
        assert doubled.status_code == 200, (path, doubled.text)
        assert doubled.json() == single.json()
    tag = fresh.post("/tags", {"name": "fidelity-doubled"}).json()
    added = fresh.post(f"{fresh.proc.url}//contacts/{contact}//tags", {"id": tag["id"]})
    assert added.status_code == 200, added.text
    names = [t["name"] for t in fresh.get(f"/contacts/{contact}/tags").json()["data"]]
    assert "fidelity-doubled" in names
    counted = fresh.admin("GET", "stats")["by_endpoint"]
    assert counted.get("GET /contacts/{contact_id}/tags", 0) >= 4  # under the real template


def test_doubled_slashes_reach_the_admin_surface(fresh: Client) -> None:
    health = httpx.get(f"{fresh.proc.url}//_emulator//health", timeout=10)
    assert health.status_code == 200 and health.json() == {"ok": True}
    stats = httpx.get(f"{fresh.proc.url}/_emulator//stats", timeout=10)
    assert stats.status_code == 200 and "api_calls" in stats.json()


# ---------------------------------------------------------------- item 7: Intercom-Version
@pytest.mark.parametrize("version", ["2.7", "2.9", "2.11", "2.12", "2.13", "2.14", "2.16"])
def test_emulated_versions_are_served(seeded: Client, version: str) -> None:
    resp = seeded.get("/contacts", params={"per_page": 1}, headers={"Intercom-Version": version})
    assert resp.status_code == 200, resp.text
    assert resp.json()["type"] == "list"


@pytest.mark.parametrize("version", ["1.4", "2.0", "2.6", "Unstable", "Preview"])
def test_versions_whose_shapes_are_not_emulated_are_refused(seeded: Client, version: str) -> None:
    """Real Intercom versions with other shapes: refused, rather than answered as 2.14."""
    resp = seeded.get("/contacts", headers={"Intercom-Version": version})
    assert resp.status_code == 400
    error = resp.json()["errors"][0]
    assert error["code"] == "intercom_version_invalid"
    assert f"'{version}' exists at Intercom" in error["message"]
    assert "2.7 ... 2.16" in error["message"]
    assert "X-RateLimit-Limit" not in resp.headers  # refused before any budget is spent


@pytest.mark.parametrize("version", ["9.9", "2.17", "3.0", "unstable", "latest", ""])
def test_unknown_versions_are_invalid(seeded: Client, version: str) -> None:
    resp = seeded.get("/me", headers={"Intercom-Version": version})
    assert resp.status_code == 400
    error = resp.json()["errors"][0]
    assert error["code"] == "intercom_version_invalid"
    assert "is not a valid Intercom-Version" in error["message"]


def test_version_problem_names_what_to_send() -> None:
    assert version_problem(None) is None  # no header: the app's default, 2.14
    assert version_problem("2.14") is None
    problem = version_problem("1.4")
    assert problem is not None and "2.7 ... 2.16" in problem and "against Intercom" in problem


def test_unknown_paths_are_still_not_found_with_a_valid_version(seeded: Client) -> None:
    resp = httpx.get(
        f"{seeded.proc.url}//nothing//here", headers=dict(seeded.http.headers), timeout=10
    )
    assert resp.status_code == 404 and resp.json()["errors"][0]["code"] == "not_found"
