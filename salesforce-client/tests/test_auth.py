"""The OAuth grants against the emulator's token endpoint: org id, refusals, outages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from emulators.testing import EmulatorProcess, free_port
from salesforce_client.auth import AuthError, SalesforceAuth, org_id_from_identity
from salesforce_client.retry import RetryPolicy
from singer_sdk.authenticators import OAuthAuthenticator


def _auth(settings, sleeps=None, env_prefix: str = "MY_PLUGIN_", **overrides) -> SalesforceAuth:
    cfg = settings(**overrides)
    retry = RetryPolicy.from_config(cfg, sleep=sleeps or (lambda _s: None))
    return SalesforceAuth(
        cfg, requests.Session(), verify=cfg["ca_bundle"], retry=retry, env_prefix=env_prefix
    )


def _login_error(settings, **overrides) -> AuthError:
    with pytest.raises(AuthError) as info:
        _auth(settings, **overrides).token()
    return info.value


def test_it_is_an_sdk_authenticator_that_signs_requests(settings, org: EmulatorProcess) -> None:
    auth = _auth(settings)
    assert isinstance(auth, OAuthAuthenticator)
    assert auth.auth_endpoint == f"{org.url}/services/oauth2/token"
    prepared = requests.Request("GET", f"{org.url}/services/data/v62.0/limits").prepare()
    signed = auth(prepared)
    assert signed.headers["Authorization"] == f"Bearer {auth.access_token}"
    answer = requests.Session().send(signed, verify=str(org.ca_path))
    assert answer.status_code == 200 and "DailyApiRequests" in answer.json()
    assert auth.token_requests == 1


def test_jwt_assertion_is_signed_for_the_login_host(settings, org: EmulatorProcess) -> None:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    auth = _auth(settings, refresh_token="", username="integration@emulator.local", private_key=pem)
    assert auth.grant == "jwt"
    form = auth.oauth_request_body
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(form["assertion"], key.public_key(), algorithms=["RS256"], audience=org.url)
    assert claims["iss"] == "emulator-client"
    assert claims["sub"] == "integration@emulator.local"
    assert 0 < claims["exp"] - time.time() <= 180  # Salesforce wants minutes, not an hour
    err = _login_error(
        settings, refresh_token="", username="integration@emulator.local", private_key=pem
    )
    assert "refused the jwt login" in str(err) and "PRIVATE KEY" not in str(err)


def test_org_id_comes_from_the_identity_url(settings, org: EmulatorProcess) -> None:
    auth = _auth(settings)
    assert auth.org_id == org.org_id  # logs in to learn it
    assert auth.org_id.startswith("00D") and len(auth.org_id) == 18
    assert auth.org_key == auth.org_id
    assert auth.token_requests == 1
    # The same id the token answer's identity URL carries, read with plain requests.
    token = requests.post(
        f"{org.url}/services/oauth2/token",
        verify=str(org.ca_path),
        data={
            "grant_type": "refresh_token",
            "refresh_token": "emulator-refresh-token",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
        },
    ).json()
    assert token["id"].split("/")[-2] == auth.org_id


def test_two_emulators_are_two_orgs(settings, tmp_path: Path) -> None:
    with EmulatorProcess("salesforce", tmp_path / "other") as other:
        second = _auth(
            settings, instance_url=other.url, login_url=other.url, ca_bundle=str(other.ca_path)
        )
        assert second.org_id == other.org_id
        assert second.org_id != _auth(settings).org_id


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


def test_wrong_client_secret_names_the_setting(settings) -> None:
    err = _login_error(settings, client_secret="wrong-secret-4711")
    text = str(err)
    assert err.code == "invalid_client" and not err.transient
    assert "client id or client secret is wrong" in text
    assert "MY_PLUGIN_CLIENT_ID and MY_PLUGIN_CLIENT_SECRET" in text
    assert "(settings client_id, client_secret)" in text
    assert "wrong-secret-4711" not in text and "emulator-refresh-token" not in text
    err = _login_error(settings, client_id="not-the-app")
    assert err.code == "invalid_client_id" and "MY_PLUGIN_CLIENT_ID" in str(err)


def test_without_a_prefix_refusals_name_the_settings(settings) -> None:
    err = _login_error(settings, client_secret="wrong", env_prefix="")
    assert "Set client_id and client_secret to the app's" in str(err)


def test_revoked_refresh_token_says_how_to_get_a_new_one(settings, org: EmulatorProcess) -> None:
    org.admin("POST", "tokens/revoke", {"refresh_token": "emulator-refresh-token", "revoke": True})
    err = _login_error(settings)
    text = str(err)
    assert err.code == "invalid_grant" and not err.transient
    assert "refresh token is wrong, expired or revoked" in text
    assert "MY_PLUGIN_REFRESH_TOKEN (setting refresh_token)" in text
    assert "authorizing the Connected App again" in text
    assert "emulator-refresh-token" not in text and "emulator-secret" not in text


def test_wrong_password_names_user_password_and_token(settings) -> None:
    err = _login_error(
        settings,
        refresh_token="",
        auth_flow="password",
        username="integration@emulator.local",
        password="not-it-99",
    )
    text = str(err)
    assert "username or password is wrong" in text
    assert "MY_PLUGIN_USERNAME, MY_PLUGIN_PASSWORD and MY_PLUGIN_SECURITY_TOKEN" in text
    assert "not-it-99" not in text


def test_login_service_outage_is_retried_then_not_blamed_on_credentials(
    settings, org: EmulatorProcess, sleeps
) -> None:
    org.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 503, "count": 50, "path": "/services/oauth2/token"},
    )
    auth = _auth(settings, sleeps, max_retries=2, retry_backoff_seconds=4.0)
    with pytest.raises(AuthError) as info:
        auth.token()
    text = str(info.value)
    assert info.value.transient and info.value.code == "login_unavailable"
    assert "login service failed (HTTP 503" in text and "3 attempts" in text
    assert "not a credential problem" in text and "retry later" in text
    assert auth.token_requests == 3  # the first attempt and 2 retries with backoff
    # The shared policy's waits: 4 s then 8 s, each with jitter in [0.5, 1).
    assert len(sleeps.calls) == 2
    assert 2.0 <= sleeps.calls[0] < 4.0 and 4.0 <= sleeps.calls[1] < 8.0
    assert "emulator-secret" not in text


def test_a_short_login_outage_is_ridden_out(settings, org: EmulatorProcess, sleeps) -> None:
    org.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 500, "count": 2, "path": "/services/oauth2/token"},
    )
    auth = _auth(settings, sleeps, max_retries=3)
    assert auth.token()
    assert auth.token_requests == 3 and len(sleeps.calls) == 2
    assert auth.org_id == org.org_id


def test_unreachable_login_host_is_not_a_credential_problem(settings, sleeps) -> None:
    port = free_port()  # nothing listens there
    err = _login_error(
        settings,
        sleeps=sleeps,
        login_url=f"https://127.0.0.1:{port}",
        instance_url=f"https://127.0.0.1:{port}",
        max_retries=1,
    )
    assert err.transient and "could not be reached" in str(err) and "2 attempts" in str(err)
    assert "not a credential problem" in str(err)
    assert len(sleeps.calls) == 1


def test_refresh_logs_in_once_per_expiry(settings, org: EmulatorProcess) -> None:
    auth = _auth(settings)
    auth.token()
    seen = auth.generation
    auth.refresh(seen)
    auth.refresh(seen)  # a second thread that saw the same expiry: no second login
    assert auth.token_requests == 2 and auth.generation == seen + 1
    assert auth.token() and auth.token_requests == 2
