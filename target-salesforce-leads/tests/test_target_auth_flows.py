"""The OAuth grants seen from a target run (the grants themselves: salesforce-client/tests)."""

from __future__ import annotations

import pytest

from .target_sf_testlib import Harness, lead, lead_messages


@pytest.mark.parametrize(
    "creds",
    [
        {
            "auth_flow": "password",
            "username": "integration@emulator.local",
            "password": "emulator",
            "refresh_token": None,
        },
        {"auth_flow": "client_credentials", "refresh_token": None},
        {
            "refresh_token": None,
            "username": "integration@emulator.local",
            "password": "emulator",
        },  # inferred: password grant
    ],
)
def test_grants(harness: Harness, creds: dict) -> None:
    cfg = {k: v for k, v in creds.items() if v is not None}
    messages = lead_messages([lead(1)], {"s": 1})
    overrides = dict(cfg)
    if creds.get("refresh_token", "") is None:
        overrides["refresh_token"] = ""
    result = harness.run(messages, **overrides)
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 1
    assert result.states == [{"s": 1}]
    assert "emulator-secret" not in result.stderr


def test_wrong_password_is_a_clear_failure(harness: Harness) -> None:
    result = harness.run(
        lead_messages([lead(1)], {"s": 1}),
        auth_flow="password",
        username="integration@emulator.local",
        password="not-it",
    )
    assert result.returncode == 2  # the login is checked at start-up: a configuration error
    assert "refused the password login" in result.stderr
    assert "not-it" not in result.stderr
    assert result.states == []


def test_a_refused_jwt_login_stops_the_run_without_the_key(harness: Harness) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    # The emulator has no JWT grant: the target must say so clearly, without the key.
    result = harness.run(
        lead_messages([lead(1)]),
        refresh_token="",
        username="integration@emulator.local",
        private_key=pem,
    )
    assert result.returncode != 0
    assert "refused the jwt login" in result.stderr
    assert "PRIVATE KEY" not in result.stderr


def test_target_run_with_a_wrong_secret_stops_before_any_record(harness: Harness) -> None:
    result = harness.run(lead_messages([lead(1)], {"s": 1}), client_secret="wrong-secret-4711")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "TARGET_SALESFORCE_LEADS_CLIENT_SECRET" in result.stderr
    assert "wrong-secret-4711" not in result.stderr
    assert result.states == []
    assert harness.sf.stats()["api_calls"] == 0
