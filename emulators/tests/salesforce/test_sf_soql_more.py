"""SOQL beyond plain field lists: aggregates and GROUP BY, FIELDS(), parent-to-child subqueries,
semi-joins and anti-joins, over real sockets (requests and simple-salesforce)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

AGG = {"type": "AggregateResult"}


def error_of(api, soql: str, code: str, status: int = 400) -> str:
    return api.error(api.call("GET", "/query", params={"q": soql}), status, code)["message"]


def opportunities(sf) -> list[str]:
    rows = [
        ("A", "Prospecting", 100.0, "2026-03-01"),
        ("B", "Prospecting", 300.0, "2026-01-15"),
        ("C", "Closed Won", 1000.0, "2026-02-01"),
        ("D", "Closed Won", None, "2026-04-01"),
        ("E", "Qualification", 50.0, "2026-05-01"),
    ]
    return sf.admin(
        "POST",
        "records/Opportunity",
        {
            "records": [
                {
                    "Name": name,
                    "StageName": stage,
                    "Amount": amount,
                    "CloseDate": close,
                    "LeadSource": "Web" if name in "AB" else None,
                }
                for name, stage, amount, close in rows
            ]
        },
    )["ids"]


def accounts_with_contacts(sf) -> tuple[list[str], list[str]]:
    accounts = sf.admin(
        "POST",
        "records/Account",
        {"records": [{"Name": "Acme"}, {"Name": "Globex"}, {"Name": "Initech"}]},
    )["ids"]
    contacts = sf.admin(
        "POST",
        "records/Contact",
        {
            "records": [
                {"LastName": "Zed", "AccountId": accounts[0]},
                {"LastName": "Adams", "AccountId": accounts[0], "Email": "a@acme.example"},
                {"LastName": "Moss", "AccountId": accounts[1]},
                {"LastName": "Loner"},
            ]
        },
    )["ids"]
    return accounts, contacts


# -- aggregates ------------------------------------------------------------------------------
def test_aggregates_without_group_by_answer_one_aggregate_result(api, sf) -> None:
    sf.admin(
        "POST",
        "records/Lead",
        {
            "records": [
                {
                    "LastName": f"L{i}",
                    "Company": "Acme",
                    "FirstName": None if i == 0 else f"F{i}",
                    "LeadSource": ["Web", "web", "Intercom", None][i % 4],
                    "Company_Size__c": i * 10,
                }
                for i in range(6)
            ]
        },
    )
    answer = api.query(
        "SELECT COUNT(Id), COUNT(FirstName), COUNT_DISTINCT(LeadSource), "
        "SUM(Company_Size__c) total, MIN(LastName), MAX(Company_Size__c) "
        "FROM Lead"
    )
    assert answer == {
        "totalSize": 1,
        "done": True,
        "records": [
            {
                "attributes": AGG,
                "expr0": 6,
                "expr1": 5,
                "expr2": 2,
                "total": 150,
                "expr3": "L0",
                "expr4": 50,
            }
        ],
    }
    assert list(answer["records"][0]) == [
        "attributes",
        "expr0",
        "expr1",
        "expr2",
        "total",
        "expr3",
        "expr4",
    ]
    # No matching record: still one row; COUNT is 0, the other functions null.
    empty = api.query(
        "SELECT COUNT(Id) n, AVG(Company_Size__c) a FROM Lead WHERE LastName = 'nobody'"
    )
    assert empty["records"] == [{"attributes": AGG, "n": 0, "a": None}]
    # COUNT() keeps its own shape: the count in totalSize, no records.
    assert api.query("SELECT COUNT() FROM Lead") == {"totalSize": 6, "done": True, "records": []}


def test_group_by_with_aliases_and_every_function(api, sf) -> None:
    opportunities(sf)
    answer = api.query(
        "SELECT StageName s, COUNT(Id) n, SUM(Amount), AVG(Amount), MIN(CloseDate), "
        "MAX(Amount) top FROM Opportunity GROUP BY StageName ORDER BY StageName"
    )
    assert answer["totalSize"] == 3 and answer["done"] is True
    assert "nextRecordsUrl" not in answer
    assert answer["records"] == [
        {
            "attributes": AGG,
            "s": "Closed Won",
            "n": 2,
            "expr0": 1000.0,
            "expr1": 1000.0,
            "expr2": "2026-02-01",
            "top": 1000.0,
        },
        {
            "attributes": AGG,
            "s": "Prospecting",
            "n": 2,
            "expr0": 400.0,
            "expr1": 200.0,
            "expr2": "2026-01-15",
            "top": 300.0,
        },
        {
            "attributes": AGG,
            "s": "Qualification",
            "n": 1,
            "expr0": 50.0,
            "expr1": 50.0,
            "expr2": "2026-05-01",
            "top": 50.0,
        },
    ]
    # Without an alias a grouped field keeps its name; ORDER BY an aggregate, LIMIT, OFFSET.
    ranked = api.query(
        "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName "
        "ORDER BY COUNT(Id) DESC, StageName DESC LIMIT 2"
    )
    assert [(r["StageName"], r["expr0"]) for r in ranked["records"]] == [
        ("Prospecting", 2),
        ("Closed Won", 2),
    ]
    assert ranked["totalSize"] == 2
    # Several groups, a null group, HAVING on an aggregate and on a grouped field.
    multi = api.query(
        "SELECT StageName, LeadSource, COUNT(Id) FROM Opportunity "
        "GROUP BY StageName, LeadSource HAVING COUNT(Id) > 1 "
        "AND StageName != 'Qualification' ORDER BY StageName"
    )
    assert [(r["StageName"], r["LeadSource"], r["expr0"]) for r in multi["records"]] == [
        ("Closed Won", None, 2),
        ("Prospecting", "Web", 2),
    ]
    # A GROUP BY without aggregate functions lists the distinct values.
    plain = api.query(
        "SELECT LeadSource FROM Opportunity GROUP BY LeadSource ORDER BY LeadSource NULLS FIRST"
    )
    assert plain["records"] == [
        {"attributes": AGG, "LeadSource": None},
        {"attributes": AGG, "LeadSource": "Web"},
    ]


def test_group_by_parent_field_and_case_insensitive_groups(api, sf) -> None:
    accounts_with_contacts(sf)
    answer = api.query(
        "SELECT Account.Name, COUNT(Id) FROM Contact GROUP BY Account.Name "
        "ORDER BY Account.Name NULLS LAST"
    )
    assert answer["records"] == [
        {"attributes": AGG, "Name": "Acme", "expr0": 2},
        {"attributes": AGG, "Name": "Globex", "expr0": 1},
        {"attributes": AGG, "Name": None, "expr0": 1},
    ]
    sf.admin(
        "POST",
        "records/Lead",
        {"records": [{"LastName": "X", "Company": c} for c in ("Acme", "ACME", "Beta")]},
    )
    groups = api.query("SELECT Company, COUNT(Id) n FROM Lead GROUP BY Company ORDER BY Company")[
        "records"
    ]
    assert [(g["Company"].lower(), g["n"]) for g in groups] == [("acme", 2), ("beta", 1)]


def test_aggregate_errors_are_worded_as_salesforce_words_them(api, sf) -> None:
    message = error_of(
        api,
        "SELECT StageName, Name, COUNT(Id) FROM Opportunity GROUP BY StageName",
        "MALFORMED_QUERY",
    )
    assert message.endswith("Field must be grouped or aggregated: Name")
    message = error_of(api, "SELECT Name, COUNT(Id) FROM Opportunity", "MALFORMED_QUERY")
    assert "Field must be grouped or aggregated: Name" in message
    message = error_of(
        api,
        "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName ORDER BY Name",
        "MALFORMED_QUERY",
    )
    assert "Ordered field must be grouped or aggregated: Name" in message
    message = error_of(
        api, "SELECT Description, COUNT(Id) FROM Lead GROUP BY Description", "INVALID_FIELD"
    )
    assert "field 'Description' can not be grouped in a query call" in message
    message = error_of(api, "SELECT SUM(Name) FROM Opportunity", "INVALID_FIELD")
    assert "field Name does not support aggregate operator SUM" in message
    message = error_of(api, "SELECT MAX(CreatedDate) FROM Account LIMIT 1", "MALFORMED_QUERY")
    assert "GROUP BY" in message
    error_of(api, "SELECT COUNT(Id) n, MAX(Amount) n FROM Opportunity", "MALFORMED_QUERY")
    message = error_of(api, "SELECT Name n FROM Opportunity", "MALFORMED_QUERY")
    assert "Only aggregate expressions use field aliasing" in message
    error_of(api, "SELECT Id FROM Lead WHERE COUNT(Id) > 1", "MALFORMED_QUERY")
    error_of(api, "SELECT COUNT(Nope__c) FROM Lead", "INVALID_FIELD")


# -- FIELDS() --------------------------------------------------------------------------------
def test_fields_standard_all_and_custom(api, sf) -> None:
    sf.admin(
        "POST",
        "records/Lead",
        {"records": [{"LastName": "Hopper", "Company": "Navy", "Intercom_Contact_ID__c": "ic-1"}]},
    )
    described = api.call("GET", "/sobjects/Lead/describe").json()["fields"]
    standard = [f["name"] for f in described if not f["custom"]]
    custom = [f["name"] for f in described if f["custom"]]
    record = api.query("SELECT FIELDS(STANDARD) FROM Lead")["records"][0]
    assert list(record) == ["attributes", *standard]
    assert record["LastName"] == "Hopper" and record["attributes"]["type"] == "Lead"
    everything = api.query("SELECT FIELDS(ALL) FROM Lead LIMIT 200")["records"][0]
    assert list(everything) == ["attributes", *[f["name"] for f in described]]
    assert everything["Intercom_Contact_ID__c"] == "ic-1"
    mixed = api.query("SELECT Id, FIELDS(CUSTOM) FROM Lead LIMIT 1")["records"][0]
    assert list(mixed) == ["attributes", "Id", *custom]
    for soql in ("SELECT FIELDS(ALL) FROM Lead", "SELECT FIELDS(CUSTOM) FROM Lead LIMIT 201"):
        message = error_of(api, soql, "MALFORMED_QUERY")
        assert "The SOQL FIELDS function must have a LIMIT of at most 200" in message
    message = error_of(api, "SELECT Id, FIELDS(ALL) FROM Lead LIMIT 200", "INVALID_FIELD")
    assert "duplicate field selected: Id" in message
    error_of(api, "SELECT FIELDS(EVERYTHING) FROM Lead", "MALFORMED_QUERY")


# -- parent-to-child subqueries --------------------------------------------------------------
def test_child_subquery_nests_children_or_null(api, sf) -> None:
    accounts, contacts = accounts_with_contacts(sf)
    answer = api.query(
        "SELECT Name, (SELECT LastName, Email FROM Contacts ORDER BY LastName) "
        "FROM Account ORDER BY Name"
    )
    assert answer["totalSize"] == 3
    acme, globex, initech = answer["records"]
    assert list(acme) == ["attributes", "Name", "Contacts"]
    assert acme["Contacts"] == {
        "totalSize": 2,
        "done": True,
        "records": [
            {
                "attributes": {
                    "type": "Contact",
                    "url": f"/services/data/v62.0/sobjects/Contact/{contacts[1]}",
                },
                "LastName": "Adams",
                "Email": "a@acme.example",
            },
            {
                "attributes": {
                    "type": "Contact",
                    "url": f"/services/data/v62.0/sobjects/Contact/{contacts[0]}",
                },
                "LastName": "Zed",
                "Email": None,
            },
        ],
    }
    assert globex["Contacts"]["totalSize"] == 1
    assert initech["Contacts"] is None
    # WHERE and LIMIT apply per parent; the relationship may be prefixed with the parent.
    limited = api.query(
        "SELECT Id, (SELECT Id FROM Account.Contacts WHERE LastName != 'Moss' "
        "ORDER BY LastName DESC LIMIT 1) FROM Account ORDER BY Name"
    )
    assert [
        r["Contacts"] and [c["Id"] for c in r["Contacts"]["records"]] for r in limited["records"]
    ] == [[contacts[0]], None, None]
    # Deleted children are left out.
    api.call("DELETE", f"/sobjects/Contact/{contacts[2]}")
    again = api.query("SELECT Name, (SELECT Id FROM Contacts) FROM Account WHERE Name = 'Globex'")
    assert again["records"][0]["Contacts"] is None


def test_child_subquery_over_polymorphic_who_and_what(api, sf) -> None:
    lead = sf.admin("POST", "records/Lead", {"records": [{"LastName": "L", "Company": "C"}]})[
        "ids"
    ][0]
    opp = opportunities(sf)[0]
    sf.admin(
        "POST",
        "records/Task",
        {
            "records": [
                {"Subject": "Call", "WhoId": lead},
                {"Subject": "Email", "WhoId": lead},
                {"Subject": "Quote", "WhatId": opp},
            ]
        },
    )
    leads = api.query("SELECT Id, (SELECT Subject FROM Tasks ORDER BY Subject) FROM Lead")
    assert [t["Subject"] for t in leads["records"][0]["Tasks"]["records"]] == ["Call", "Email"]
    opps = api.query(
        f"SELECT Name, (SELECT Subject FROM Tasks) FROM Opportunity WHERE Id = '{opp}'"
    )
    assert opps["records"][0]["Tasks"]["records"][0]["Subject"] == "Quote"
    # Subqueries nest: Account -> Contacts -> Tasks.
    account = sf.admin("POST", "records/Account", {"records": [{"Name": "Acme"}]})["ids"][0]
    contact = sf.admin(
        "POST", "records/Contact", {"records": [{"LastName": "Z", "AccountId": account}]}
    )["ids"][0]
    sf.admin("POST", "records/Task", {"records": [{"Subject": "Visit", "WhoId": contact}]})
    deep = api.query(
        "SELECT Name, (SELECT LastName, (SELECT Subject FROM Tasks) FROM Contacts) FROM Account"
    )["records"][0]
    assert deep["Contacts"]["records"][0]["Tasks"]["records"][0]["Subject"] == "Visit"
    message = error_of(api, "SELECT Id, (SELECT Id FROM Contactz) FROM Account", "INVALID_TYPE")
    assert "Didn't understand relationship 'Contactz' in FROM part of query call" in message


def test_child_relationship_of_a_custom_lookup_is_derived(api, sf) -> None:
    """A custom lookup Contact.Employer__c -> Account: Account's children `Contacts__r`."""
    sf.admin(
        "POST",
        "fields/Contact",
        {"name": "Employer__c", "type": "Lookup", "referenceTo": "Account"},
    )
    try:
        account = sf.admin("POST", "records/Account", {"records": [{"Name": "A"}]})["ids"][0]
        sf.admin(
            "POST", "records/Contact", {"records": [{"LastName": "Worker", "Employer__c": account}]}
        )
        answer = api.query(
            "SELECT Name, (SELECT LastName FROM Contacts__r), "
            "(SELECT LastName FROM Contacts) FROM Account"
        )
        row = answer["records"][0]
        assert row["Contacts__r"]["records"][0]["LastName"] == "Worker"
        assert row["Contacts"] is None
    finally:
        sf.admin("POST", "schema/reset")


def test_child_subqueries_on_every_page(api, sf) -> None:
    accounts = sf.admin(
        "POST", "records/Account", {"records": [{"Name": f"A{i:03d}"} for i in range(250)]}
    )["ids"]
    sf.admin(
        "POST",
        "records/Contact",
        {"records": [{"LastName": f"C{i:03d}", "AccountId": a} for i, a in enumerate(accounts)]},
    )
    first = api.call(
        "GET",
        "/query",
        params={"q": "SELECT Name, (SELECT LastName FROM Contacts) FROM Account ORDER BY Name"},
        headers={"Sforce-Query-Options": "batchSize=200"},
    ).json()
    assert len(first["records"]) == 200 and first["done"] is False
    second = api.call("GET", api.sf.url + first["nextRecordsUrl"]).json()
    rows = first["records"] + second["records"]
    assert [r["Contacts"]["records"][0]["LastName"] for r in rows] == [
        f"C{i:03d}" for i in range(250)
    ]


# -- semi-joins and anti-joins ---------------------------------------------------------------
def test_semi_join_and_anti_join_on_id_and_reference_fields(api, sf) -> None:
    leads = sf.admin(
        "POST",
        "records/Lead",
        {"records": [{"LastName": f"L{i}", "Company": "C"} for i in range(4)]},
    )["ids"]
    sf.admin(
        "POST",
        "records/Task",
        {
            "records": [
                {"Subject": "done", "WhoId": leads[0], "Status": "Completed"},
                {"Subject": "open", "WhoId": leads[1]},
                {"Subject": "done", "WhoId": leads[1], "Status": "Completed"},
                {"Subject": "open", "WhoId": leads[2]},
            ]
        },
    )
    base = "SELECT LastName FROM Lead WHERE "
    names = lambda soql: sorted(r["LastName"] for r in api.query(soql)["records"])  # noqa: E731
    assert names(base + "Id IN (SELECT WhoId FROM Task WHERE Status = 'Completed')") == ["L0", "L1"]
    assert names(base + "Id NOT IN (SELECT WhoId FROM Task)") == ["L3"]
    assert names(
        base + "Id IN (SELECT WhoId FROM Task) AND Id NOT IN "
        "(SELECT WhoId FROM Task WHERE Status = 'Completed')"
    ) == ["L2"]
    grouped = api.query("SELECT COUNT(Id) n FROM Lead WHERE Id IN (SELECT WhoId FROM Task)")
    assert grouped["records"] == [{"attributes": AGG, "n": 3}]
    # On a reference field, from the child side.
    tasks = api.query(
        "SELECT Subject FROM Task WHERE WhoId IN "
        "(SELECT Id FROM Lead WHERE LastName = 'L1') ORDER BY Subject"
    )
    assert [t["Subject"] for t in tasks["records"]] == ["done", "open"]
    accounts, _ = accounts_with_contacts(sf)
    with_contacts = api.query(
        "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact) ORDER BY Name"
    )
    assert [a["Name"] for a in with_contacts["records"]] == ["Acme", "Globex"]
    counted = api.query(
        "SELECT COUNT() FROM Account WHERE Id NOT IN "
        "(SELECT AccountId FROM Contact WHERE LastName = 'Moss')"
    )
    assert counted["totalSize"] == 2


def test_semi_join_errors(api, sf) -> None:
    message = error_of(
        api,
        "SELECT Id FROM Lead WHERE LastName = 'x' OR Id IN (SELECT WhoId FROM Task)",
        "MALFORMED_QUERY",
    )
    assert "Semi join sub-selects are not allowed with the 'OR' operator" in message
    message = error_of(
        api, "SELECT Id FROM Lead WHERE Id IN (SELECT Subject FROM Task)", "MALFORMED_QUERY"
    )
    assert "semi join sub selects can only query id fields, cannot use: 'Subject'" in message
    message = error_of(
        api, "SELECT Id FROM Lead WHERE Id IN (SELECT Id FROM Lead)", "MALFORMED_QUERY"
    )
    assert "should not be on the same object type" in message
    error_of(
        api, "SELECT Id FROM Lead WHERE LastName IN (SELECT WhoId FROM Task)", "MALFORMED_QUERY"
    )
    error_of(
        api, "SELECT Id FROM Lead WHERE Id IN (SELECT WhoId FROM Task LIMIT 5)", "MALFORMED_QUERY"
    )
    error_of(
        api,
        "SELECT Id FROM Lead WHERE Id IN (SELECT WhoId FROM Task WHERE WhatId IN "
        "(SELECT Id FROM Account))",
        "MALFORMED_QUERY",
    )


# -- simple-salesforce -----------------------------------------------------------------------
@pytest.fixture()
def client(api, monkeypatch) -> Salesforce:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(api.sf.ca_path))
    token: dict[str, Any] = requests.post(
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


def test_simple_salesforce_reads_aggregates_and_subqueries(client, sf) -> None:
    opportunities(sf)
    accounts_with_contacts(sf)
    groups = client.query_all(
        "SELECT StageName, COUNT(Id) n FROM Opportunity GROUP BY StageName ORDER BY StageName"
    )
    assert [(g["StageName"], g["n"]) for g in groups["records"]] == [
        ("Closed Won", 2),
        ("Prospecting", 2),
        ("Qualification", 1),
    ]
    nested = client.query(
        "SELECT Name, (SELECT LastName FROM Contacts) FROM Account "
        "WHERE Id IN (SELECT AccountId FROM Contact) ORDER BY Name"
    )
    assert [a["Name"] for a in nested["records"]] == ["Acme", "Globex"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        client.query("SELECT Name, COUNT(Id) FROM Opportunity")
    assert caught.value.content[0]["errorCode"] == "MALFORMED_QUERY"
