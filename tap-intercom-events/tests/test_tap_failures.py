"""Failures: bad tokens, plan restrictions, flaky servers, 429s, regions."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulators.testing import EmulatorProcess
from tap_intercom_events.tap import TapIntercomEvents

from .tap_test_support import TOKEN, run_tap, tap_config


@pytest.fixture(scope="module")
def ic(tmp_path_factory: pytest.TempPathFactory):
    with EmulatorProcess(
        "intercom", tmp_path_factory.mktemp("ic-faults"), args=["--rate-limit-per-minute", "10000"]
    ) as emulator:
        emulator.admin(
            "POST", "seed", {"contacts": 60, "conversations": 10, "seed": 5, "big_conversations": 0}
        )
        yield emulator
        emulator.admin("DELETE", "faults")


@pytest.fixture(autouse=True)
def _clear_faults(ic: EmulatorProcess):
    ic.admin("DELETE", "faults")
    yield
    ic.admin("DELETE", "faults")


def test_revoked_token_fails_at_once_with_the_fix(ic: EmulatorProcess, tmp_path: Path) -> None:
    secret = "revoked-secret-token-123"
    ic.reset_stats()
    run = run_tap(tmp_path, {**tap_config(ic), "access_token": secret})
    assert run.returncode != 0
    assert "401" in run.stderr
    assert "Developer Hub" in run.stderr
    assert "TAP_INTERCOM_EVENTS_ACCESS_TOKEN" in run.stderr
    assert secret not in run.stderr
    assert secret not in str(run.messages)
    # Fatal at once: no retries of the refused call.
    assert ic.stats()["status_counts"].get("401") == 1


def test_plan_restriction_is_fatal_with_its_cause(ic: EmulatorProcess, tmp_path: Path) -> None:
    ic.admin("POST", "faults", {"kind": "status", "status": 403, "count": 1, "path": "/admins"})
    run = run_tap(tmp_path, tap_config(ic))
    assert run.returncode != 0
    assert "api_plan_restricted" in run.stderr
    assert "subscription" in run.stderr


def test_server_errors_and_dropped_connections_are_retried(
    ic: EmulatorProcess, tmp_path: Path
) -> None:
    ic.admin(
        "POST", "faults", {"kind": "status", "status": 503, "count": 2, "path": "/contacts/search"}
    )
    ic.admin("POST", "faults", {"kind": "drop", "count": 2, "path": "/conversations"})
    ic.admin("POST", "faults", {"kind": "rate_limit", "count": 2, "path": "/teams"})
    ic.reset_stats()
    run = run_tap(tmp_path, tap_config(ic))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.ids("contacts")) == 60
    assert len(run.ids("conversations")) == 10
    assert len(run.ids("teams")) >= 1
    counts = ic.stats()["status_counts"]
    assert counts.get("503") == 2
    assert counts.get("429") == 2


def test_retries_are_bounded_with_a_clear_error(ic: EmulatorProcess, tmp_path: Path) -> None:
    ic.admin("POST", "faults", {"kind": "status", "status": 502, "count": 1000, "path": "/tags"})
    run = run_tap(tmp_path, tap_config(ic, max_retry_seconds=4, max_retries=50))
    assert run.returncode != 0
    assert "kept failing on GET /tags" in run.stderr
    assert "Run the sync again later" in run.stderr


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us", "https://api.intercom.io"),
        ("eu", "https://api.eu.intercom.io"),
        ("au", "https://api.au.intercom.io"),
        ("EU", "https://api.eu.intercom.io"),
    ],
)
def test_region_selects_its_host(region: str, host: str) -> None:
    tap = TapIntercomEvents(
        config={"access_token": TOKEN, "region": region.lower()}, parse_env_config=False
    )
    stream = tap.streams["contacts"]
    assert stream.url_base == host
    prepared = stream.build_prepared_request(method="GET", url=f"{stream.url_base}/me")
    assert prepared.url == f"{host}/me"
    assert prepared.headers["Authorization"] == f"Bearer {TOKEN}"


def test_unknown_timezone_widens_by_a_day(ic: EmulatorProcess, tmp_path: Path) -> None:
    # A first sync from start_date reads oldest first, which needs the timezone (a sync from
    # a saved bookmark reads its window newest first, widened by two days: no GET /me).
    ic.admin("POST", "faults", {"kind": "status", "status": 403, "count": 1, "path": "/me"})
    run = run_tap(tmp_path, tap_config(ic, start_date="2001-01-01T00:00:00Z"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "widened by a whole day" in run.stderr
    assert len(run.ids("contacts")) == 60


def test_fields_newer_than_the_schema_are_dropped_and_reported(
    ic: EmulatorProcess, tmp_path: Path
) -> None:
    first = run_tap(tmp_path / "first", tap_config(ic))
    contact_id = first.records["contacts"][0]["id"]
    ic.admin("PATCH", f"contacts/{contact_id}", {"field_from_the_future": 42})
    run = run_tap(tmp_path / "second", tap_config(ic))
    assert run.returncode == 0, run.stderr[-3000:]
    contact = next(c for c in run.records["contacts"] if c["id"] == contact_id)
    assert "field_from_the_future" not in contact
    assert "field_from_the_future" in run.stderr
