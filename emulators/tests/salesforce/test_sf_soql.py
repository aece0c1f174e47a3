"""SOQL over /query, /queryAll and the admin query, plus the `query` CLI."""

from __future__ import annotations

import json
import subprocess
import sys


def seed(sf, n: int = 6) -> list[str]:
    records = [
        {
            "LastName": f"Last{i}",
            "FirstName": None if i == 0 else f"F{i}",
            "Company": "Acme",
            "Email": f"p{i}@example.com",
            "Intercom_Contact_ID__c": f"ic-{i}",
            "Company_Size__c": i * 10,
            "LeadSource": "Web" if i % 2 else "Intercom",
            "Intercom_Last_Seen__c": f"2026-01-0{i + 1}T10:00:00Z",
        }
        for i in range(n)
    ]
    return sf.admin("POST", "records/Lead", {"records": records})["ids"]


def ids_of(api, soql: str) -> list[str]:
    return [r["Intercom_Contact_ID__c"] for r in api.query(soql)["records"]]


def test_where_operators_order_limit_offset(api, sf) -> None:
    seed(sf)
    base = "SELECT Intercom_Contact_ID__c FROM Lead "
    assert ids_of(api, base + "WHERE Company_Size__c >= 30 ORDER BY Company_Size__c") == [
        "ic-3",
        "ic-4",
        "ic-5",
    ]
    assert ids_of(
        api, base + "WHERE Company_Size__c < 20 OR LeadSource = 'web' ORDER BY Company_Size__c DESC"
    ) == ["ic-5", "ic-3", "ic-1", "ic-0"]
    assert ids_of(
        api, base + "WHERE Intercom_Contact_ID__c IN ('IC-1', 'ic-2') ORDER BY LastName"
    ) == ["ic-1", "ic-2"]
    assert len(ids_of(api, base + "WHERE Intercom_Contact_ID__c NOT IN ('ic-1')")) == 5
    assert ids_of(api, base + "WHERE Email LIKE 'P2%'") == ["ic-2"]
    assert ids_of(api, base + "WHERE NOT (Company_Size__c > 0) AND FirstName = null") == ["ic-0"]
    assert len(ids_of(api, base + "WHERE FirstName != null")) == 5
    assert ids_of(api, base + "ORDER BY Company_Size__c DESC LIMIT 2 OFFSET 1") == ["ic-4", "ic-3"]
    assert ids_of(
        api,
        base + "WHERE Intercom_Last_Seen__c > 2026-01-04T10:00:00Z ORDER BY Intercom_Last_Seen__c",
    ) == ["ic-4", "ic-5"]
    assert ids_of(api, base + "ORDER BY FirstName NULLS LAST LIMIT 1") == ["ic-1"]
    assert api.query("SELECT COUNT() FROM Lead WHERE CreatedDate = TODAY")["totalSize"] == 6
    assert api.query("SELECT COUNT() FROM Lead WHERE CreatedDate < LAST_N_DAYS:3")["totalSize"] == 0


def test_parent_fields_and_record_shape(api, sf) -> None:
    seed(sf, 1)
    record = api.query("SELECT Id, Name, Owner.Name, ConvertedContact.Email FROM Lead")["records"][
        0
    ]
    assert record["attributes"]["type"] == "Lead"
    assert record["attributes"]["url"] == f"/services/data/v62.0/sobjects/Lead/{record['Id']}"
    assert record["Owner"]["Name"] == "Emulator Integration"
    assert record["ConvertedContact"] is None
    assert list(record) == ["attributes", "Id", "Name", "Owner", "ConvertedContact"]


def test_paging_follows_next_records_url(api, sf) -> None:
    sf.admin(
        "POST",
        "records/Lead",
        {"records": [{"LastName": f"L{i}", "Company": "C"} for i in range(2500)]},
    )
    first = api.query("SELECT Id FROM Lead")
    assert first["totalSize"] == 2500 and first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    second = api.call("GET", api.sf.url + first["nextRecordsUrl"]).json()
    assert second["done"] is True and len(second["records"]) == 500
    assert "nextRecordsUrl" not in second
    seen = {r["Id"] for r in first["records"]} | {r["Id"] for r in second["records"]}
    assert len(seen) == 2500
    small = api.call(
        "GET",
        "/query",
        params={"q": "SELECT Id FROM Lead"},
        headers={"Sforce-Query-Options": "batchSize=200"},
    ).json()
    assert len(small["records"]) == 200
    api.error(api.call("GET", "/query/01gNOPE-2000"), 400, "INVALID_QUERY_LOCATOR")


def test_query_errors(api, sf) -> None:
    seed(sf, 1)
    error = api.error(
        api.call("GET", "/query", params={"q": "SELECT Id FRM Lead"}), 400, "MALFORMED_QUERY"
    )
    assert "unexpected token" in error["message"]
    error = api.error(
        api.call("GET", "/query", params={"q": "SELECT Nope__c FROM Lead"}), 400, "INVALID_FIELD"
    )
    assert "No such column 'Nope__c' on entity 'Lead'" in error["message"]
    api.error(api.call("GET", "/query", params={"q": "SELECT Id FROM Nope"}), 400, "INVALID_TYPE")
    api.error(
        api.call(
            "GET", "/query", params={"q": "SELECT Id FROM Lead WHERE CreatedDate > '2020-01-01'"}
        ),
        400,
        "INVALID_QUERY_FILTER_OPERATOR",
    )
    api.error(
        api.call("GET", "/query", params={"q": "SELECT Id, Foo.Name FROM Lead"}),
        400,
        "INVALID_FIELD",
    )


def test_query_all_sees_deleted_records_and_admin_query_is_free(api, sf) -> None:
    ids = seed(sf, 2)
    api.call("DELETE", f"/sobjects/Lead/{ids[0]}")
    assert api.query("SELECT COUNT() FROM Lead")["totalSize"] == 1
    everything = api.call("GET", "/queryAll", params={"q": "SELECT Id, IsDeleted FROM Lead"}).json()
    assert sorted(r["IsDeleted"] for r in everything["records"]) == [False, True]
    before = sf.stats()["api_calls"]
    answer = sf.admin("POST", "query", {"q": "SELECT Id FROM Lead"})
    assert answer["totalSize"] == 1 and answer["done"] is True
    assert sf.stats()["api_calls"] == before


def test_query_cli_prints_json_lines(api, sf) -> None:
    seed(sf, 3)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulators",
            "salesforce",
            "query",
            "--data-dir",
            str(sf.data_dir),
            "SELECT Intercom_Contact_ID__c, Owner.Name FROM Lead "
            "ORDER BY Intercom_Contact_ID__c DESC",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["Intercom_Contact_ID__c"] for r in rows] == ["ic-2", "ic-1", "ic-0"]
    assert rows[0]["Owner"]["Name"] == "Emulator Integration"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulators",
            "salesforce",
            "query",
            "--data-dir",
            str(sf.data_dir),
            "SELECT Nope FROM Lead",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "INVALID_FIELD" in bad.stderr
