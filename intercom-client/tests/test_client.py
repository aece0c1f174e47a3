"""IntercomClient over a real socket against the Intercom emulator: the behaviours that need
the server's own windows and faults (the logic is tested on a fake clock beside this)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from emulators.testing import EmulatorProcess
from intercom_client.client import IntercomClient
from intercom_client.errors import AuthError

TOKEN = "emulator-token"


def read_back(ic: EmulatorProcess, path: str) -> dict:
    """The emulator's own answer, read without the client under test."""
    request = urllib.request.Request(
        f"{ic.url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def ic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(
        "intercom", tmp_path_factory.mktemp("ic-client"), args=["--rate-limit-per-minute", "600"]
    ) as emulator:
        emulator.admin("POST", "seed", {"contacts": 5, "conversations": 1, "seed": 1})
        yield emulator


@pytest.fixture()
def client(ic: EmulatorProcess) -> Iterator[IntercomClient]:
    ic.admin("DELETE", "faults")
    yield IntercomClient(TOKEN, api_url=ic.url)
    ic.admin("DELETE", "faults")


def test_a_write_goes_through_and_the_governor_learns_the_window(
    ic: EmulatorProcess, client: IntercomClient
) -> None:
    contact = client.request_json("GET", "/contacts", params={"per_page": 1})["data"][0]
    updated = client.request_json("PUT", f"/contacts/{contact['id']}", json={"name": "Ada L."})
    assert updated["name"] == "Ada L."
    assert read_back(ic, f"/contacts/{contact['id']}")["name"] == "Ada L."
    stats = client.governor.stats()
    assert stats["requests"] == 2 and stats["window_limit"] == 100


def test_a_429_is_held_until_the_reset_then_goes_through(
    ic: EmulatorProcess, client: IntercomClient
) -> None:
    ic.admin("POST", "faults", {"kind": "rate_limit", "count": 1, "path": "/me", "reset_in": 2})
    started = time.monotonic()
    me = client.request_json("GET", "/me")
    assert me["type"] == "admin"
    assert time.monotonic() - started >= 1.0
    assert client.governor.stats()["throttled"] == 1


def test_a_server_error_is_retried(ic: EmulatorProcess, client: IntercomClient) -> None:
    ic.admin("POST", "faults", {"kind": "status", "status": 503, "count": 1, "path": "/admins"})
    assert client.request_json("GET", "/admins")["type"] == "admin.list"
    assert client.governor.stats()["requests"] == 2


def test_a_bad_token_says_what_to_do(ic: EmulatorProcess) -> None:
    with pytest.raises(AuthError, match="Regenerate the token"):
        IntercomClient("wrong", api_url=ic.url).request("GET", "/me")
