"""Every OAuth grant the emulator implements, done by the target itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from emulators.testing import EmulatorProcess, free_port
from target_salesforce_leads.auth import AuthError, SalesforceAuth, org_id_from_identity
from target_sf_testlib import Harness, lead, lead_messages


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


def test_jwt_assertion_is_signed_for_the_login_host(harness: Harness) -> None:
    import jwt
    import requests
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from target_salesforce_leads.auth import SalesforceAuth

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cfg = harness.config(refresh_token="", username="integration@emulator.local", private_key=pem)
    auth = SalesforceAuth(cfg, requests.Session(), verify=cfg["ca_bundle"])
    assert auth.grant == "jwt"
    form = auth._grant_form()
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        form["assertion"], key.public_key(), algorithms=["RS256"], audience=harness.sf.url
    )
    assert claims["iss"] == "emulator-client"
    assert claims["sub"] == "integration@emulator.local"
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


# -- the org id and the login errors, against the emulator's token endpoint -------------------


def _auth(harness: Harness, **overrides: object) -> SalesforceAuth:
    cfg = harness.config(**overrides)
    return SalesforceAuth(cfg, requests.Session(), verify=cfg["ca_bundle"])


def _login_error(harness: Harness, **overrides: object) -> AuthError:
    with pytest.raises(AuthError) as info:
        _auth(harness, **overrides).access_token()
    return info.value


def test_org_id_comes_from_the_identity_url(harness: Harness) -> None:
    auth = _auth(harness)
    assert auth.org_id == harness.sf.org_id  # logs in to learn it
    assert auth.org_id.startswith("00D") and len(auth.org_id) == 18
    assert auth.org_key == auth.org_id
    assert auth.token_requests == 1
    # The same id the token answer's identity URL carries, read with plain requests.
    token = requests.post(
        f"{harness.sf.url}/services/oauth2/token",
        verify=str(harness.sf.ca_path),
        data={
            "grant_type": "refresh_token",
            "refresh_token": "emulator-refresh-token",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
        },
    ).json()
    assert token["id"].split("/")[-2] == auth.org_id


def test_two_emulators_are_two_orgs(harness: Harness, tmp_path: Path) -> None:
    with EmulatorProcess("salesforce", tmp_path / "other") as other:
        cfg = harness.config(
            instance_url=other.url, login_url=other.url, ca_bundle=str(other.ca_path)
        )
        second = SalesforceAuth(cfg, requests.Session(), verify=cfg["ca_bundle"])
        assert second.org_id == other.org_id
        assert second.org_id != _auth(harness).org_id


@pytest.mark.parametrize(
    ("url", "org"),
    [
        (
            "https://login.salesforce.com/id/00D5g000000abcdEAA/0055g000001XyzAAA",
            "00D5g000000abcdEAA",
        ),
        ("https://test.salesforce.com/id/00D000000000001/005000000000001/", "00D000000000001"),
        ("https://x.my.salesforce.com/services/id/00DAB/005CD", "00DAB"),
        ("", None),
        (None, None),
        ("https://host/no/identity", None),
    ],
)
def test_org_id_from_identity(url: str | None, org: str | None) -> None:
    assert org_id_from_identity(url) == org


def test_wrong_client_secret_names_the_setting(harness: Harness) -> None:
    err = _login_error(harness, client_secret="wrong-secret-4711")
    text = str(err)
    assert err.code == "invalid_client" and not err.transient
    assert "client id or client secret is wrong" in text
    assert "TARGET_SALESFORCE_LEADS_CLIENT_SECRET" in text
    assert "wrong-secret-4711" not in text and "emulator-refresh-token" not in text
    err = _login_error(harness, client_id="not-the-app")
    assert err.code == "invalid_client_id" and "TARGET_SALESFORCE_LEADS_CLIENT_ID" in str(err)


def test_revoked_refresh_token_says_how_to_get_a_new_one(harness: Harness) -> None:
    harness.sf.admin(
        "POST", "tokens/revoke", {"refresh_token": "emulator-refresh-token", "revoke": True}
    )
    err = _login_error(harness)
    text = str(err)
    assert err.code == "invalid_grant" and not err.transient
    assert "refresh token is wrong, expired or revoked" in text
    assert "TARGET_SALESFORCE_LEADS_REFRESH_TOKEN" in text
    assert "authorizing the Connected App again" in text
    assert "emulator-refresh-token" not in text and "emulator-secret" not in text


def test_wrong_password_names_user_password_and_token(harness: Harness) -> None:
    err = _login_error(
        harness,
        refresh_token="",
        auth_flow="password",
        username="integration@emulator.local",
        password="not-it-99",
    )
    text = str(err)
    assert "username or password is wrong" in text and "SECURITY_TOKEN" in text
    assert "not-it-99" not in text


def test_login_service_outage_is_retried_then_not_blamed_on_credentials(harness: Harness) -> None:
    harness.sf.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 503, "count": 50, "path": "/services/oauth2/token"},
    )
    auth = _auth(harness, max_retries=2, retry_backoff_seconds=0.01)
    with pytest.raises(AuthError) as info:
        auth.access_token()
    text = str(info.value)
    assert info.value.transient and info.value.code == "login_unavailable"
    assert "login service failed (HTTP 503" in text
    assert "not a credential problem" in text and "retry later" in text
    assert auth.token_requests == 3  # the first attempt and 2 retries with backoff
    assert "emulator-secret" not in text


def test_a_short_login_outage_is_ridden_out(harness: Harness) -> None:
    harness.sf.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 500, "count": 2, "path": "/services/oauth2/token"},
    )
    auth = _auth(harness, max_retries=3, retry_backoff_seconds=0.01)
    assert auth.access_token()
    assert auth.token_requests == 3
    assert auth.org_id == harness.sf.org_id


def test_unreachable_login_host_is_not_a_credential_problem(harness: Harness) -> None:
    port = free_port()  # nothing listens there
    err = _login_error(
        harness,
        login_url=f"https://127.0.0.1:{port}",
        instance_url=f"https://127.0.0.1:{port}",
        max_retries=1,
        retry_backoff_seconds=0.01,
    )
    assert err.transient and "could not be reached" in str(err)
    assert "not a credential problem" in str(err)


def test_target_run_with_a_wrong_secret_stops_before_any_record(harness: Harness) -> None:
    result = harness.run(lead_messages([lead(1)], {"s": 1}), client_secret="wrong-secret-4711")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "TARGET_SALESFORCE_LEADS_CLIENT_SECRET" in result.stderr
    assert "wrong-secret-4711" not in result.stderr
    assert result.states == []
    assert harness.sf.stats()["api_calls"] == 0
