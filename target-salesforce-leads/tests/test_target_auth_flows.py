"""Every OAuth grant the emulator implements, done by the target itself."""

from __future__ import annotations

import pytest
from target_sf_testlib import Harness, lead, lead_messages


@pytest.mark.parametrize(
    "creds",
    [
        {"auth_flow": "password", "username": "integration@emulator.local",
         "password": "emulator", "refresh_token": None},
        {"auth_flow": "client_credentials", "refresh_token": None},
        {"refresh_token": None, "username": "integration@emulator.local",
         "password": "emulator"},  # inferred: password grant
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
    result = harness.run(lead_messages([lead(1)], {"s": 1}), auth_flow="password",
                         username="integration@emulator.local", password="not-it")
    assert result.returncode != 0
    assert "refused the password login" in result.stderr
    assert "not-it" not in result.stderr
    assert result.states == []
    result.assert_accounted("Lead", 1)
    assert result.stream("Lead")["deferred"] == 1


def test_jwt_assertion_is_signed_for_the_login_host(harness: Harness) -> None:
    import jwt
    import requests
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from target_salesforce_leads.auth import SalesforceAuth

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    cfg = harness.config(refresh_token="", username="integration@emulator.local",
                         private_key=pem)
    auth = SalesforceAuth(cfg, requests.Session(), verify=cfg["ca_bundle"])
    assert auth.grant == "jwt"
    form = auth._grant_form()
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(form["assertion"], key.public_key(), algorithms=["RS256"],
                        audience=harness.sf.url)
    assert claims["iss"] == "emulator-client"
    assert claims["sub"] == "integration@emulator.local"
    # The emulator has no JWT grant: the target must say so clearly, without the key.
    result = harness.run(lead_messages([lead(1)]), refresh_token="",
                         username="integration@emulator.local", private_key=pem)
    assert result.returncode != 0
    assert "refused the jwt login" in result.stderr
    assert "PRIVATE KEY" not in result.stderr
