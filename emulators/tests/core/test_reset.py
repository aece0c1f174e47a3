"""``POST /_emulator/reset``: back to the seeded state, so one emulator can serve a whole module.

Each test changes everything a test could change (data, clock, faults, settings, tokens,
counters), resets, and compares with what the emulator itself answered right after seeding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from emulators.testing import EmulatorProcess

IC_HEADERS = {"Authorization": "Bearer emulator-token", "Intercom-Version": "2.14"}


@pytest.fixture()
def intercom(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with EmulatorProcess("intercom", tmp_path / "ic") as proc:
        yield proc


@pytest.fixture()
def salesforce(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with EmulatorProcess("salesforce", tmp_path / "sf") as proc:
        yield proc


def contacts(client: httpx.Client) -> list[tuple[str, int, str]]:
    answer = client.get("/contacts", params={"per_page": 150})
    assert answer.status_code == 200, answer.text
    return sorted((c["id"], c["updated_at"], c["email"]) for c in answer.json()["data"])


def test_intercom_reset_restores_the_seeded_workspace(intercom: EmulatorProcess) -> None:
    intercom.admin("POST", "seed", {"contacts": 40, "conversations": 6, "seed": 5})
    client = httpx.Client(base_url=intercom.url, headers=IC_HEADERS, timeout=30)
    seeded = contacts(client)
    config = intercom.admin("GET", "config")
    assert len(seeded) == 40
    # Change what tests change.
    made = client.post("/contacts", json={"role": "lead", "email": "new@example.com"})
    assert made.status_code == 200, made.text
    intercom.admin("PATCH", f"contacts/{seeded[0][0]}", {"email": "changed@example.com"})
    intercom.admin("POST", "clock", {"advance": 86_400})
    intercom.admin("POST", "config", {"rate_limit_per_minute": 60})
    intercom.admin("POST", "faults", {"kind": "latency", "ms": 1})
    intercom.admin("POST", "faults", {"kind": "status", "status": 503, "count": 50})
    intercom.admin("POST", "tokens", {"token": "emulator-token", "revoke": True})
    assert client.get("/me").status_code == 503
    assert intercom.stats()["api_calls"] > 0

    answer = intercom.admin("POST", "reset")

    assert answer["ok"] is True
    assert answer["seed"]["seed"] == 5
    assert intercom.admin("GET", "faults") == []
    assert intercom.stats() == {"api_calls": 0, "by_endpoint": {}, "status_counts": {}}
    assert intercom.admin("GET", "requests") == []
    assert intercom.admin("GET", "clock")["real"] is True
    assert intercom.admin("GET", "config") == config
    assert contacts(client) == seeded  # the new contact gone, the patched one as seeded
    assert intercom.stats()["api_calls"] == 1  # counting starts again from the reset
    client.close()


def test_intercom_reset_without_a_seed_empties_the_workspace(intercom: EmulatorProcess) -> None:
    client = httpx.Client(base_url=intercom.url, headers=IC_HEADERS, timeout=30)
    assert contacts(client) == []
    client.post("/contacts", json={"role": "lead", "email": "x@example.com"})
    assert len(contacts(client)) == 1
    intercom.admin("POST", "reset")
    assert contacts(client) == []
    client.close()


class Org:
    """A logged-in Salesforce client over the emulator's TLS socket."""

    def __init__(self, sf: EmulatorProcess) -> None:
        self.sf = sf
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(sf.ca_path)
        self.base = f"{sf.url}/services/data/v62.0"

    def login(self) -> requests.Response:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": "emulator-refresh-token",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
        }
        answer = self.session.post(f"{self.sf.url}/services/oauth2/token", data=form)
        if answer.status_code == 200:
            self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        return answer

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.base + path, **kw)


def test_salesforce_reset_restores_the_org_as_it_started(salesforce: EmulatorProcess) -> None:
    org = Org(salesforce)
    assert org.login().status_code == 200
    started = salesforce.stats()
    config = salesforce.admin("POST", "config", {})
    lead_fields = {f["name"] for f in org.call("GET", "/sobjects/Lead/describe").json()["fields"]}
    # Change what tests change.
    created = org.call("POST", "/sobjects/Lead", json={"LastName": "L", "Company": "C"})
    assert created.status_code == 201, created.text
    salesforce.add_field("Lead", "Extra__c", type="Text", length=20)
    salesforce.admin("POST", "records/Account", {"records": [{"Name": "Acme"}]})
    salesforce.admin("POST", "limits", {"daily_api_limit": 500, "used": 400})
    salesforce.admin("POST", "config", {"bulk_rate": 5, "token_ttl": 60})
    salesforce.admin("POST", "faults", {"kind": "lock_row", "count": 3})
    salesforce.admin("POST", "faults", {"kind": "status", "status": 503, "count": 50})
    assert org.call("GET", "/limits").status_code == 503
    salesforce.admin("DELETE", "faults")
    salesforce.admin("POST", "faults", {"kind": "status", "status": 500, "count": 50})
    salesforce.admin("POST", "tokens/revoke", {"refresh_token": "emulator-refresh-token"})

    assert salesforce.admin("POST", "reset") == {"ok": True}

    stats = salesforce.stats()
    assert stats["api_calls"] == 0 and stats["requests"] == 0, stats
    assert stats["by_endpoint"] == {} and stats["status_counts"] == {}
    assert stats["records"] == started["records"]  # the integration User only
    assert stats["api_usage"] == started["api_usage"] == {"used": 0, "max": 100_000}
    assert salesforce.admin("GET", "requests") == []
    faults = salesforce.admin("GET", "faults")
    assert faults == {"faults": [], "lock_row": 0, "bulk_fail": 0, "expire_tokens_after": None}
    assert salesforce.admin("POST", "config", {}) == config
    assert org.login().status_code == 200  # the revoked refresh token is good again
    describe = org.call("GET", "/sobjects/Lead/describe").json()
    assert {f["name"] for f in describe["fields"]} == lead_fields
    query = org.call("GET", "/query", params={"q": "SELECT Id FROM Lead"}).json()
    assert query["totalSize"] == 0
