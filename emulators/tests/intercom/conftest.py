"""Fixtures: Intercom emulator processes on free loopback ports, and an HTTP client for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulators.testing import EmulatorProcess

from .hooks import Receiver

TOKEN = "emulator-token"
REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_PATH = REPO_ROOT.parent / "shared" / "reference" / "intercom-openapi-2.14.yaml"


class Client:
    """A thin httpx wrapper that speaks to one emulator with Intercom's headers."""

    def __init__(self, proc: EmulatorProcess, token: str = TOKEN) -> None:
        self.proc = proc
        self.http = httpx.Client(
            base_url=proc.url,
            timeout=60,
            headers={
                "Authorization": f"Bearer {token}",
                "Intercom-Version": "2.14",
                "Accept": "application/json",
            },
        )

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.http.post(path, json=body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.http.put(path, json=body, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.request("DELETE", path, **kw)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return self.proc.admin(method, path, body)

    def search_all(
        self,
        resource: str,
        query: dict[str, Any],
        per_page: int = 150,
        sort: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Every result of a search, following the cursor."""
        body: dict[str, Any] = {"query": query, "pagination": {"per_page": per_page}}
        if sort:
            body["sort"] = sort
        return self.search_pages(resource, body)

    def search_pages(
        self, resource: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every page of a search body, following `pages.next.starting_after` as clients do."""
        key = "data" if resource == "contacts" else "conversations"
        out: list[dict[str, Any]] = []
        body = {**body, "pagination": dict(body.get("pagination") or {})}
        while True:
            resp = self.post(f"/{resource}/search", body, headers=headers or {})
            assert resp.status_code == 200, resp.text
            page = resp.json()
            out.extend(page[key])
            after = (page["pages"].get("next") or {}).get("starting_after")
            if not after:
                return out
            body["pagination"]["starting_after"] = after


def start(tmp: Path, *args: str) -> EmulatorProcess:
    return EmulatorProcess("intercom", tmp, args=list(args)).start()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """One emulator per test module, seeded with 400 contacts and 60 conversations."""
    proc = start(tmp_path_factory.mktemp("ic"), "--timezone", "America/Los_Angeles")
    try:
        proc.admin("POST", "seed", {"contacts": 400, "conversations": 60, "seed": 7})
        client = Client(proc)
        yield client
        client.http.close()
    finally:
        proc.stop()


@pytest.fixture()
def fresh(tmp_path: Path) -> Iterator[Client]:
    """An emulator of its own for a test that changes settings, clock or faults."""
    proc = start(tmp_path / "ic", "--timezone", "Asia/Tokyo")
    try:
        proc.admin("POST", "seed", {"contacts": 60, "conversations": 12, "seed": 3})
        client = Client(proc)
        yield client
        client.http.close()
    finally:
        proc.stop()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint on a free loopback port (see hooks.py)."""
    rec = Receiver()
    yield rec
    rec.close()
