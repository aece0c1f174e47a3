"""Fidelity: the unmodified simple-salesforce client works against the emulator."""

from __future__ import annotations

import csv
import io

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)


@pytest.fixture()
def client(api, monkeypatch) -> Salesforce:
    """simple-salesforce with session_id + instance_url after a refresh-token exchange."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(api.sf.ca_path))
    token = requests.post(
        f"{api.sf.url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "emulator-refresh-token",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
        },
        verify=str(api.sf.ca_path),
    ).json()
    return Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], version="62.0"
    )


def test_create_get_upsert_and_limits(client) -> None:
    created = client.Lead.create({"LastName": "Lovelace", "Company": "Engines"})
    assert created["success"] is True
    got = client.Lead.get(created["id"])
    assert got["LastName"] == "Lovelace" and got["Status"] == "Open - Not Contacted"
    status = client.Lead.upsert(
        "Intercom_Contact_ID__c/ic-42", {"LastName": "Hopper", "Company": "Navy"}
    )
    assert status == 201
    assert client.Lead.upsert("Intercom_Contact_ID__c/IC-42", {"Title": "RADM"}) == 200
    by_ext = client.Lead.get_by_custom_id("Intercom_Contact_ID__c", "ic-42")
    assert by_ext["Title"] == "RADM"
    limits = client.limits()
    assert limits["DailyApiRequests"]["Max"] == 100000
    assert client.api_usage["api-usage"].used > 0
    described = client.Lead.describe()
    assert any(f["name"] == "Intercom_Contact_ID__c" for f in described["fields"])


def test_query_all_reads_past_one_page(client, sf) -> None:
    sf.admin(
        "POST",
        "records/Lead",
        {
            "records": [
                {"LastName": f"L{i}", "Company": "C", "Intercom_Contact_ID__c": f"ic-{i}"}
                for i in range(2300)
            ]
        },
    )
    result = client.query_all("SELECT Id, Intercom_Contact_ID__c FROM Lead")
    assert result["totalSize"] == 2300 and len(result["records"]) == 2300
    assert len({r["Id"] for r in result["records"]}) == 2300


def test_bulk2_upsert_and_result_helpers(client) -> None:
    records = [
        {
            "Intercom_Contact_ID__c": f"ic-{i}",
            "LastName": f"L{i}",
            "Company": "C",
            "Email": "broken" if i == 3 else f"p{i}@x.io",
        }
        for i in range(300)
    ]
    outcome = client.bulk2.Lead.upsert(
        records=records, external_id_field="Intercom_Contact_ID__c", wait=0.1
    )
    assert outcome[0]["numberRecordsProcessed"] == 300
    assert outcome[0]["numberRecordsFailed"] == 1
    job_id = outcome[0]["job_id"]
    failed = list(csv.DictReader(io.StringIO(client.bulk2.Lead.get_failed_records(job_id))))
    assert [r["Intercom_Contact_ID__c"] for r in failed] == ["ic-3"]
    assert failed[0]["sf__Error"].startswith("INVALID_EMAIL_ADDRESS")
    ok = list(csv.DictReader(io.StringIO(client.bulk2.Lead.get_successful_records(job_id))))
    assert len(ok) == 299 and {r["sf__Created"] for r in ok} == {"true"}


def test_exception_classes_follow_status_codes(client, sf) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad:
        client.Lead.create({"LastName": "x"})
    assert bad.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceResourceNotFound):
        client.Lead.get("00Q5E0000000zzzUAA")
    sf.admin(
        "POST",
        "records/Lead",
        {
            "skip_validation": True,
            "records": [
                {"LastName": "A", "Company": "C", "Intercom_Contact_ID__c": "twin"},
                {"LastName": "B", "Company": "C", "Intercom_Contact_ID__c": "twin"},
            ],
        },
    )
    with pytest.raises(SalesforceMoreThanOneRecord):
        client.Lead.upsert("Intercom_Contact_ID__c/twin", {"Title": "x"})
    sf.admin("POST", "faults", {"kind": "status", "status": 503, "count": 1})
    with pytest.raises(SalesforceGeneralError):
        client.limits()
    sf.admin("POST", "limits", {"used": 100000})
    with pytest.raises(SalesforceRefusedRequest):
        client.limits()
    sf.admin("POST", "limits", {"used": 0})
    sf.admin("POST", "tokens/expire")
    with pytest.raises(SalesforceExpiredSession) as expired:
        client.query("SELECT Id FROM Lead")
    assert expired.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
