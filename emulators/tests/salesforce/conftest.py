"""Fixtures: a real Salesforce emulator process per test module, and clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from emulators.testing import EmulatorProcess

CLIENT = {"client_id": "emulator-client", "client_secret": "emulator-secret"}


class Api:
    """A small client over a real TLS socket: an OAuth token and the versioned base URL."""

    def __init__(self, sf: EmulatorProcess, version: str = "62.0") -> None:
        self.sf = sf
        self.session = requests.Session()
        # This machine sets REQUESTS_CA_BUNDLE globally; trust only the emulator's CA.
        self.session.trust_env = False
        self.session.verify = str(sf.ca_path)
        self.base = f"{sf.url}/services/data/v{version}"
        self.token = self.login()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def login(self, **form: str) -> str:
        data = {
            "grant_type": "refresh_token",
            "refresh_token": "emulator-refresh-token",
            **CLIENT,
            **form,
        }
        answer = self.session.post(f"{self.sf.url}/services/oauth2/token", data=data)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        return self.session.request(method, url, **kw)

    @staticmethod
    def error(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
        return assert_error(answer, status, code)

    @staticmethod
    def lead(i: int | str, **extra: Any) -> dict[str, Any]:
        return lead(i, **extra)

    def query(self, soql: str) -> dict[str, Any]:
        answer = self.call("GET", "/query", params={"q": soql})
        assert answer.status_code == 200, answer.text
        return answer.json()


def assert_error(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Salesforce errors are a JSON list of {message, errorCode, fields?}."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body, list) and len(body) >= 1, body
    assert body[0]["errorCode"] == code, body
    assert isinstance(body[0]["message"], str) and body[0]["message"], body
    return body[0]


@pytest.fixture(scope="module")
def sf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with EmulatorProcess("salesforce", tmp_path_factory.mktemp("sf")) as proc:
        yield proc


@pytest.fixture()
def api(sf: EmulatorProcess) -> Api:
    """A clean org (records wiped, faults cleared, budget restored) and a logged-in client."""
    sf.admin("POST", "reset")
    sf.admin("DELETE", "faults")
    sf.admin("POST", "tokens/revoke", {"refresh_token": "emulator-refresh-token", "revoke": False})
    sf.admin("POST", "limits", {"daily_api_limit": 100000, "used": 0})
    sf.admin("POST", "config", {"bulk_rate": None, "bulk_max_upload_bytes": 150 * 1024 * 1024})
    return Api(sf)


def lead(i: int | str, **extra: Any) -> dict[str, Any]:
    return {"LastName": f"Last{i}", "Company": "Acme", "Intercom_Contact_ID__c": f"ic-{i}", **extra}


@pytest.fixture()
def data_dir(sf: EmulatorProcess) -> Path:
    return sf.data_dir
