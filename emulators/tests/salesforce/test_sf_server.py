"""The server: TLS, OAuth grants, tokens, the daily budget, faults, stats and persistence."""

from __future__ import annotations

import socket
import ssl

import pytest
import requests
from cryptography import x509
from emulators.testing import EmulatorProcess

CLIENT = {"client_id": "emulator-client", "client_secret": "emulator-secret"}


def token_call(api, **form: str) -> requests.Response:
    return api.session.post(f"{api.sf.url}/services/oauth2/token", data={**CLIENT, **form})


def test_tls_certificate_names_localhost_and_loopback(sf) -> None:
    context = ssl.create_default_context(cafile=str(sf.ca_path))
    for host in ("127.0.0.1", "localhost"):
        with (
            socket.create_connection(("127.0.0.1", sf.port)) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert not (sf.data_dir / "ca.key").exists()


def test_oauth_grants_answer_like_salesforce(api) -> None:
    refreshed = token_call(
        api, grant_type="refresh_token", refresh_token="emulator-refresh-token"
    ).json()
    assert refreshed["instance_url"] == api.sf.url and refreshed["token_type"] == "Bearer"
    assert set(refreshed) >= {"access_token", "id", "issued_at", "signature"}
    assert "refresh_token" not in refreshed
    password = token_call(
        api, grant_type="password", username="integration@emulator.local", password="emulator"
    )
    assert password.status_code == 200
    credentials = token_call(api, grant_type="client_credentials")
    assert credentials.status_code == 200
    bad = token_call(api, grant_type="refresh_token", refresh_token="wrong")
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }
    wrong_pw = token_call(
        api, grant_type="password", username="integration@emulator.local", password="nope"
    )
    assert wrong_pw.json()["error"] == "invalid_grant"
    wrong_client = api.session.post(
        f"{api.sf.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert wrong_client.status_code == 400 and wrong_client.json()["error"] == "invalid_client_id"
    unsupported = token_call(api, grant_type="magic")
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_expired_and_revoked_tokens(api, sf) -> None:
    assert api.call("GET", "/limits").status_code == 200
    sf.admin("POST", "tokens/expire")
    expired = api.call("GET", "/limits")
    api.error(expired, 401, "INVALID_SESSION_ID")
    assert expired.json()[0]["message"] == "Session expired or invalid"
    api.session.headers["Authorization"] = "Bearer " + api.login()
    assert api.call("GET", "/limits").status_code == 200
    sf.admin("POST", "faults", {"kind": "expire_tokens_after", "requests": 2})
    assert api.call("GET", "/limits").status_code == 200
    assert api.call("GET", "/limits").status_code == 200
    api.error(api.call("GET", "/limits"), 401, "INVALID_SESSION_ID")
    sf.admin("POST", "tokens/revoke", {"refresh_token": "emulator-refresh-token"})
    revoked = token_call(api, grant_type="refresh_token", refresh_token="emulator-refresh-token")
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"


def test_token_ttl_flag_expires_tokens(tmp_path) -> None:
    import time

    with EmulatorProcess("salesforce", tmp_path / "sf", args=["--token-ttl", "1"]) as proc:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(proc.ca_path)
        token = session.post(
            f"{proc.url}/services/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": "emulator-refresh-token",
                **CLIENT,
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (
            session.get(f"{proc.url}/services/data/v62.0/limits", headers=headers).status_code
            == 200
        )
        time.sleep(1.2)
        late = session.get(f"{proc.url}/services/data/v62.0/limits", headers=headers)
        assert late.status_code == 401 and late.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_budget_header_limits_and_exhaustion(api, sf) -> None:
    first = api.call("GET", "/limits")
    used, maximum = first.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/")
    assert int(maximum) == 100000
    second = api.call("GET", "/limits")
    assert second.headers["Sforce-Limit-Info"] == f"api-usage={int(used) + 1}/100000"
    assert second.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 100000 - int(used) - 1}
    # Neither the versions list nor OAuth spends the budget.
    versions = api.session.get(f"{sf.url}/services/data/")
    assert versions.status_code == 200 and versions.json()[-1]["version"] == "62.0"
    api.login()
    third = api.call("GET", "/limits")
    assert third.headers["Sforce-Limit-Info"] == f"api-usage={int(used) + 2}/100000"
    sf.admin("POST", "limits", {"daily_api_limit": 10, "used": 10})
    refused = api.call("GET", "/limits")
    error = api.error(refused, 403, "REQUEST_LIMIT_EXCEEDED")
    assert error["message"] == "TotalRequests Limit exceeded."
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=10/10"


def test_stats_count_api_calls_by_route_template(api, sf) -> None:
    sf.admin("POST", "stats/reset")
    api.call("POST", "/sobjects/Lead", json=api.lead(1))
    api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-1", json={"Title": "x"})
    api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-2", json={"Title": "x"})
    stats = sf.stats()
    assert stats["api_calls"] == 3
    assert stats["by_endpoint"]["PATCH /sobjects/{sobject}/{field}/{value}"] == 2
    assert stats["status_counts"] == {"201": 1, "200": 1, "400": 1}
    log = sf.admin("GET", "requests?limit=2")
    assert [e["method"] for e in log] == ["PATCH", "PATCH"]
    assert set(log[0]) == {"method", "path", "status", "duration_ms", "time"}
    assert all("Bearer" not in str(e) for e in log)


def test_stats_count_record_writes_whatever_api_carried_them(api, sf) -> None:
    sf.admin("POST", "stats/reset")
    api.call("GET", "/query", params={"q": "SELECT Id FROM Lead LIMIT 1"})
    assert sf.stats()["record_writes"] == {}
    api.call(
        "POST",
        "/composite",
        json={
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "GET",
                    "url": "/services/data/v62.0/query?q=SELECT+Id+FROM+Lead",
                    "referenceId": "q",
                },
                {
                    "method": "PATCH",
                    "referenceId": "up",
                    "url": "/services/data/v62.0/composite/sobjects/Lead/Intercom_Contact_ID__c",
                    "body": {
                        "allOrNone": False,
                        "records": [
                            {"attributes": {"type": "Lead"}, **api.lead("rw-1")},
                            {"attributes": {"type": "Lead"}, **api.lead("rw-2")},
                        ],
                    },
                },
            ],
        },
    )
    api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-rw-1", json={"Title": "t"})
    assert sf.stats()["record_writes"] == {"Lead created": 2, "Lead updated": 1}


def test_status_drop_latency_and_lock_faults(api, sf) -> None:
    sf.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 503, "count": 2, "path": "/services/data/v62.0/limits"},
    )
    api.error(api.call("GET", "/limits"), 503, "SERVER_UNAVAILABLE")
    api.error(api.call("GET", "/limits"), 503, "SERVER_UNAVAILABLE")
    assert api.call("GET", "/limits").status_code == 200
    sf.admin("POST", "faults", {"kind": "status", "status": 500, "count": 1})
    api.error(api.call("GET", "/limits"), 500, "UNKNOWN_EXCEPTION")
    sf.admin("POST", "faults", {"kind": "drop", "count": 1})
    with pytest.raises(requests.ConnectionError):
        api.call("GET", "/limits")
    assert api.call("GET", "/limits").status_code == 200
    sf.admin("POST", "faults", {"kind": "latency", "ms": 300})
    slow = api.call("GET", "/limits")
    assert slow.elapsed.total_seconds() >= 0.3
    sf.admin("DELETE", "faults")
    sf.admin("POST", "faults", {"kind": "lock_row", "count": 1})
    locked = api.call("POST", "/sobjects/Lead", json=api.lead(1))
    api.error(locked, 400, "UNABLE_TO_LOCK_ROW")
    assert api.call("POST", "/sobjects/Lead", json=api.lead(1)).status_code == 201


def test_records_survive_a_restart(tmp_path) -> None:
    data = tmp_path / "sf"
    with EmulatorProcess("salesforce", data) as first:
        ids = first.admin(
            "POST",
            "records/Lead",
            {"records": [{"LastName": "Kept", "Company": "C", "Intercom_Contact_ID__c": "keep-1"}]},
        )["ids"]
        ca = first.ca_path.read_bytes()
    with EmulatorProcess("salesforce", data) as second:
        assert second.ca_path.read_bytes() == ca
        answer = second.admin(
            "POST",
            "query",
            {"q": "SELECT Id, LastName FROM Lead WHERE Intercom_Contact_ID__c = 'KEEP-1'"},
        )
        assert [r["Id"] for r in answer["records"]] == ids
        more = second.admin(
            "POST", "records/Lead", {"records": [{"LastName": "New", "Company": "C"}]}
        )["ids"]
        assert more[0] != ids[0]


def test_schema_file_adds_fields_and_custom_objects(tmp_path) -> None:
    extra = tmp_path / "extra.yml"
    extra.write_text(
        "Lead:\n  Region__c: {type: Picklist, values: [EMEA, AMER], restricted: true}\n"
        "Invoice__c:\n  Number__c: {type: Text, length: 40, externalId: true, unique: true}\n"
    )
    with EmulatorProcess("salesforce", tmp_path / "sf", args=["--schema", str(extra)]) as proc:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(proc.ca_path)
        token = session.post(
            f"{proc.url}/services/oauth2/token", data={"grant_type": "client_credentials", **CLIENT}
        ).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        base = f"{proc.url}/services/data/v62.0"
        fields = {
            f["name"]: f for f in session.get(f"{base}/sobjects/Lead/describe").json()["fields"]
        }
        assert fields["Region__c"]["restrictedPicklist"] is True
        bad = session.post(
            f"{base}/sobjects/Lead", json={"LastName": "L", "Company": "C", "Region__c": "APAC"}
        )
        assert bad.status_code == 400
        assert bad.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        made = session.patch(f"{base}/sobjects/Invoice__c/Number__c/INV-1", json={"Name": "I"})
        assert made.status_code == 201 and made.json()["id"].startswith("a01")
    broken = tmp_path / "broken.yml"
    broken.write_text("Lead:\n  Oops__c: {type: Blob}\n")
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulators",
            "salesforce",
            "--port",
            "1",
            "--data-dir",
            str(tmp_path / "x"),
            "--schema",
            str(broken),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "unknown type 'Blob'" in out.stderr


def test_wrong_client_secret_is_invalid_client(api) -> None:
    for grant in (
        {"grant_type": "client_credentials"},
        {"grant_type": "refresh_token", "refresh_token": "emulator-refresh-token"},
        {
            "grant_type": "password",
            "username": "integration@emulator.local",
            "password": "emulator",
        },
    ):
        answer = api.session.post(
            f"{api.sf.url}/services/oauth2/token",
            data={**grant, "client_id": "emulator-client", "client_secret": "wrong"},
        )
        assert answer.status_code == 400
        assert answer.json() == {
            "error": "invalid_client",
            "error_description": "invalid client credentials",
        }


def test_wrong_or_revoked_refresh_token_is_invalid_grant(api, sf) -> None:
    wrong = token_call(api, grant_type="refresh_token", refresh_token="not-the-token")
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }
    sf.admin("POST", "faults", {"kind": "revoke_token", "refresh_token": "emulator-refresh-token"})
    revoked = token_call(api, grant_type="refresh_token", refresh_token="emulator-refresh-token")
    assert revoked.status_code == 400
    assert revoked.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }
    # Access tokens issued from the revoked refresh token stop working too.
    api.error(api.call("GET", "/limits"), 401, "INVALID_SESSION_ID")


@pytest.mark.parametrize("status, error", [(500, "server_error"), (503, "temporarily_unavailable")])
def test_status_fault_on_the_token_endpoint(api, sf, status, error) -> None:
    sf.admin(
        "POST",
        "faults",
        {"kind": "status", "status": status, "count": 2, "path": "/services/oauth2/token"},
    )
    assert api.call("GET", "/limits").status_code == 200  # other paths are not affected
    for _ in range(2):
        failed = token_call(api, grant_type="client_credentials")
        assert failed.status_code == status
        assert (
            failed.json()["error"] == error and "retry later" in failed.json()["error_description"]
        )
    assert token_call(api, grant_type="client_credentials").status_code == 200
    assert sf.admin("GET", "faults")["faults"] == []
