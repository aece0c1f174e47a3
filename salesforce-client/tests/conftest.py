"""Fixtures: one Salesforce emulator per test module, reset between tests, and client settings."""

from __future__ import annotations

import typing as t

import pytest
from emulators.testing import EmulatorProcess


@pytest.fixture(scope="module")
def sf(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[EmulatorProcess]:
    with EmulatorProcess("salesforce", tmp_path_factory.mktemp("sf")) as proc:
        yield proc


@pytest.fixture
def org(sf: EmulatorProcess) -> EmulatorProcess:
    """The module's emulator as a fresh org: no records, faults, revocations or counted calls."""
    sf.admin("DELETE", "faults")
    sf.admin("POST", "reset")
    sf.admin("POST", "schema/reset")
    sf.admin("POST", "tokens/revoke", {"refresh_token": "emulator-refresh-token", "revoke": False})
    sf.admin("POST", "limits", {"daily_api_limit": 100_000, "used": 0})
    sf.reset_stats()
    return sf


class Sleeps:
    """A fake ``time.sleep`` that records what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


Settings = t.Callable[..., dict[str, t.Any]]


@pytest.fixture
def settings(org: EmulatorProcess) -> Settings:
    """Client settings for the fresh org (refresh-token grant), with overrides."""

    def make(**overrides: t.Any) -> dict[str, t.Any]:
        cfg: dict[str, t.Any] = {
            "instance_url": org.url,
            "login_url": org.url,
            "ca_bundle": str(org.ca_path),
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
        }
        cfg.update(overrides)
        return cfg

    return make
