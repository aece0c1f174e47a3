"""REST records: create/get/update/delete, upsert, Collections, references, validation errors."""

from __future__ import annotations

import pytest


def case_safe_suffix(id15: str) -> str:
    """Independent re-statement of Salesforce's rule: one letter per 5-character chunk."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    return "".join(
        alphabet[sum(1 << i for i, c in enumerate(id15[k : k + 5]) if c.isupper())]
        for k in (0, 5, 10)
    )


def test_case_safe_suffix_of_a_known_salesforce_id() -> None:
    assert case_safe_suffix("001A0000006Vm9r") == "IAC"


def test_create_get_update_delete_maintains_system_fields(api) -> None:
    created = api.call("POST", "/sobjects/Lead", json=api.lead(1, Email="a@b.io"))
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == []
    rid = body["id"]
    assert len(rid) == 18 and rid.startswith("00Q") and case_safe_suffix(rid[:15]) == rid[15:]
    got = api.call("GET", f"/sobjects/Lead/{rid}").json()
    assert got["attributes"]["type"] == "Lead"
    assert got["Status"] == "Open - Not Contacted" and got["IsConverted"] is False
    assert got["Name"] == "Last1"
    for name in (
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "LastModifiedById",
        "OwnerId",
        "CreatedById",
    ):
        assert got[name], name
    # A 15-character id finds the same record.
    assert api.call("GET", f"/sobjects/Lead/{rid[:15]}").json()["Id"] == rid
    updated = api.call("PATCH", f"/sobjects/Lead/{rid}", json={"FirstName": "Ada"})
    assert updated.status_code == 204 and updated.content == b""
    again = api.call("GET", f"/sobjects/Lead/{rid}", params={"fields": "Name,FirstName"}).json()
    assert again["Name"] == "Ada Last1" and set(again) == {"attributes", "Name", "FirstName"}
    assert api.call("DELETE", f"/sobjects/Lead/{rid}").status_code == 204
    api.error(api.call("GET", f"/sobjects/Lead/{rid}"), 404, "ENTITY_IS_DELETED")
    api.error(
        api.call("PATCH", f"/sobjects/Lead/{rid}", json={"Title": "x"}), 404, "ENTITY_IS_DELETED"
    )


def test_key_prefixes_of_every_object(api) -> None:
    acc = api.call("POST", "/sobjects/Account", json={"Name": "Acme"}).json()["id"]
    con = api.call("POST", "/sobjects/Contact", json={"LastName": "C", "AccountId": acc}).json()
    opp = api.call(
        "POST",
        "/sobjects/Opportunity",
        json={
            "Name": "O",
            "StageName": "Prospecting",
            "CloseDate": "2026-01-31",
            "AccountId": acc,
        },
    ).json()
    task = api.call("POST", "/sobjects/Task", json={"Subject": "s", "WhoId": con["id"]}).json()
    assert acc.startswith("001") and con["id"].startswith("003")
    assert opp["id"].startswith("006") and task["id"].startswith("00T")
    users = api.query("SELECT Id, Username FROM User")["records"]
    assert users[0]["Id"].startswith("005")
    assert users[0]["Username"] == "integration@emulator.local"


def test_upsert_by_external_id_creates_then_updates_case_insensitively(api) -> None:
    first = api.call(
        "PATCH",
        "/sobjects/Lead/Intercom_Contact_ID__c/AbC-1",
        json={"LastName": "L", "Company": "C"},
    )
    assert first.status_code == 201
    assert first.json()["created"] is True and first.json()["success"] is True
    second = api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/abc-1", json={"Title": "CTO"})
    assert second.status_code == 200
    assert second.json() == {
        "id": first.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    got = api.call("GET", "/sobjects/Lead/Intercom_Contact_ID__c/ABC-1").json()
    assert got["Title"] == "CTO" and got["Intercom_Contact_ID__c"] == "AbC-1"


def test_upsert_update_only_and_non_external_field(api) -> None:
    missing = api.call(
        "PATCH",
        "/sobjects/Lead/Intercom_Contact_ID__c/nobody",
        params={"updateOnly": "true"},
        json={"LastName": "L", "Company": "C"},
    )
    api.error(missing, 404, "NOT_FOUND")
    assert api.query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    api.error(
        api.call("PATCH", "/sobjects/Lead/LastName/x", json={"Company": "C"}), 404, "NOT_FOUND"
    )


def test_upsert_answers_300_when_several_records_match(api, sf) -> None:
    sf.admin(
        "POST",
        "records/Lead",
        {
            "skip_validation": True,
            "records": [
                {"LastName": "A", "Company": "C", "Intercom_Contact_ID__c": "dup"},
                {"LastName": "B", "Company": "C", "Intercom_Contact_ID__c": "DUP"},
            ],
        },
    )
    answer = api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/dup", json={"Title": "x"})
    assert answer.status_code == 300
    urls = answer.json()
    assert len(urls) == 2 and all(
        u.startswith("/services/data/v62.0/sobjects/Lead/00Q") for u in urls
    )


def test_older_api_versions_answer_204_on_upsert_update(api, sf) -> None:
    api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/v1", json=api.lead("x"))
    old = api.call(
        "PATCH",
        f"{sf.url}/services/data/v45.0/sobjects/Lead/Intercom_Contact_ID__c/v1",
        json={"Title": "x"},
    )
    assert old.status_code == 204


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"LastName": "x"}, "REQUIRED_FIELD_MISSING", ["Company"]),
        ({}, "REQUIRED_FIELD_MISSING", ["LastName", "Company"]),
        ({"LastName": "x" * 81, "Company": "C"}, "STRING_TOO_LONG", ["LastName"]),
        (
            {"LastName": "x", "Company": "C", "Email": "not-an-email"},
            "INVALID_EMAIL_ADDRESS",
            ["Email"],
        ),
        (
            {"LastName": "x", "Company": "C", "Status": "Hot"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["Status"],
        ),
        ({"LastName": "x", "Company": "C", "Nope__c": 1}, "INVALID_FIELD", ["Nope__c"]),
        (
            {"LastName": "x", "Company": "C", "IsConverted": True},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["IsConverted"],
        ),
        (
            {"LastName": "x", "Company": "C", "Intercom_Engagement_Score__c": 1000},
            "NUMBER_OUTSIDE_VALID_RANGE",
            ["Intercom_Engagement_Score__c"],
        ),
    ],
)
def test_validation_errors_have_salesforce_codes_and_fields(api, body, code, fields) -> None:
    error = api.error(api.call("POST", "/sobjects/Lead", json=body), 400, code)
    assert error["fields"] == fields


def test_messages_match_salesforce_wording(api) -> None:
    missing = api.error(
        api.call("POST", "/sobjects/Lead", json={"LastName": "x"}), 400, "REQUIRED_FIELD_MISSING"
    )
    assert missing["message"] == "Required fields are missing: [Company]"
    unknown = api.error(
        api.call("POST", "/sobjects/Lead", json={"LastName": "x", "Foo": 1}), 400, "INVALID_FIELD"
    )
    assert unknown["message"] == "No such column 'Foo' on sobject of type Lead"
    long = api.error(
        api.call("POST", "/sobjects/Lead", json={"LastName": "x" * 81, "Company": "C"}),
        400,
        "STRING_TOO_LONG",
    )
    assert long["message"].endswith("(max length=80)")


def test_json_parser_error_and_unknown_objects(api) -> None:
    bad = api.call(
        "POST", "/sobjects/Lead", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    api.error(bad, 400, "JSON_PARSER_ERROR")
    api.error(
        api.call(
            "POST",
            "/sobjects/Lead",
            json={"LastName": "x", "Company": "C", "Company_Size__c": "many"},
        ),
        400,
        "JSON_PARSER_ERROR",
    )
    api.error(api.call("GET", "/sobjects/Nope/describe"), 404, "NOT_FOUND")
    api.error(api.call("GET", "/sobjects/Lead/00Q000000000000AAA"), 404, "NOT_FOUND")
    api.error(api.call("GET", "/no/such/resource"), 404, "NOT_FOUND")


def test_duplicate_unique_external_id_is_rejected(api) -> None:
    api.call("POST", "/sobjects/Lead", json=api.lead(7))
    error = api.error(
        api.call("POST", "/sobjects/Lead", json=api.lead(7) | {"Intercom_Contact_ID__c": "IC-7"}),
        400,
        "DUPLICATE_VALUE",
    )
    assert "duplicate value found: Intercom_Contact_ID__c" in error["message"]


def test_task_who_id_must_name_a_lead_or_contact(api) -> None:
    acc = api.call("POST", "/sobjects/Account", json={"Name": "A"}).json()["id"]
    api.error(
        api.call("POST", "/sobjects/Task", json={"Subject": "s", "WhoId": acc}),
        400,
        "INVALID_CROSS_REFERENCE_KEY",
    )
    api.error(
        api.call("POST", "/sobjects/Task", json={"Subject": "s", "WhoId": "00Q5E0000000zzzUAA"}),
        400,
        "INVALID_CROSS_REFERENCE_KEY",
    )
    api.error(
        api.call("POST", "/sobjects/Task", json={"Subject": "s", "WhoId": "garbage"}),
        400,
        "MALFORMED_ID",
    )
    task = api.call("POST", "/sobjects/Task", json={"Subject": "s", "Status": "Done"})
    api.error(task, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")


def test_references_by_external_id_including_polymorphic_who(api) -> None:
    acc = api.call(
        "POST", "/sobjects/Account", json={"Name": "A", "Intercom_Company_ID__c": "c1"}
    ).json()["id"]
    con = api.call(
        "POST",
        "/sobjects/Contact",
        json={"LastName": "C", "Account": {"Intercom_Company_ID__c": "C1"}},
    ).json()["id"]
    assert api.call("GET", f"/sobjects/Contact/{con}").json()["AccountId"] == acc
    lead_id = api.call("POST", "/sobjects/Lead", json=api.lead(5)).json()["id"]
    task = api.call(
        "PATCH",
        "/sobjects/Task/Intercom_Conversation_ID__c/conv-1",
        json={
            "Subject": "Chat",
            "Who": {"attributes": {"type": "Lead"}, "Intercom_Contact_ID__c": "ic-5"},
        },
    )
    assert task.status_code == 201, task.text
    rows = api.query("SELECT Id, WhoId, Who.Name FROM Task")["records"]
    assert rows[0]["WhoId"] == lead_id and rows[0]["Who"]["Name"] == "Last5"
    missing = api.call(
        "POST",
        "/sobjects/Task",
        json={
            "Subject": "s",
            "Who": {"attributes": {"type": "Lead"}, "Intercom_Contact_ID__c": "nobody"},
        },
    )
    error = api.error(missing, 400, "INVALID_FIELD")
    assert "Foreign key external ID: nobody not found" in error["message"]


def test_converted_lead_cannot_be_updated_or_referenced(api, sf) -> None:
    lead_id = api.call(
        "POST", "/sobjects/Lead", json=api.lead(9, Email="p@q.io", Company_Size__c=12)
    ).json()["id"]
    converted = sf.admin("POST", f"leads/{lead_id}/convert", {})
    lead = api.call("GET", f"/sobjects/Lead/{lead_id}").json()
    assert lead["IsConverted"] is True and lead["ConvertedContactId"] == converted["contact_id"]
    assert lead["ConvertedAccountId"] == converted["account_id"] and lead["ConvertedDate"]
    contact = api.call("GET", f"/sobjects/Contact/{converted['contact_id']}").json()
    assert contact["Email"] == "p@q.io" and contact["Intercom_Contact_ID__c"] == "ic-9"
    assert contact["AccountId"] == converted["account_id"]
    error = api.error(
        api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-9", json={"Title": "x"}),
        400,
        "CANNOT_UPDATE_CONVERTED_LEAD",
    )
    assert error["message"] == "cannot reference converted lead"
    api.error(
        api.call("POST", "/sobjects/Task", json={"Subject": "s", "WhoId": lead_id}),
        400,
        "CANNOT_UPDATE_CONVERTED_LEAD",
    )
    rows = api.query("SELECT Id, ConvertedContact.Email FROM Lead WHERE IsConverted = true")
    assert rows["records"][0]["ConvertedContact"]["Email"] == "p@q.io"


def test_collections_upsert_keeps_input_order_and_reports_per_record(api) -> None:
    api.call("POST", "/sobjects/Lead", json=api.lead(2))
    records = [
        {"attributes": {"type": "Lead"}, **api.lead(1)},
        {"attributes": {"type": "Lead"}, "Intercom_Contact_ID__c": "IC-2", "Title": "T"},
        {"attributes": {"type": "Lead"}, "Intercom_Contact_ID__c": "ic-3"},
        {"attributes": {"type": "Lead"}, **api.lead(4)},
        {"attributes": {"type": "Lead"}, **api.lead(4)},
    ]
    answer = api.call(
        "PATCH",
        "/composite/sobjects/Lead/Intercom_Contact_ID__c",
        json={"allOrNone": False, "records": records},
    )
    assert answer.status_code == 200
    results = answer.json()
    assert [r["success"] for r in results] == [True, True, False, False, False]
    assert results[0]["created"] is True and results[1]["created"] is False
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[3]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert api.query("SELECT COUNT() FROM Lead")["totalSize"] == 2


def test_collections_all_or_none_rolls_back(api) -> None:
    records = [
        {"attributes": {"type": "Lead"}, **api.lead(1)},
        {"attributes": {"type": "Lead"}, "Intercom_Contact_ID__c": "x"},
    ]
    results = api.call(
        "PATCH",
        "/composite/sobjects/Lead/Intercom_Contact_ID__c",
        json={"allOrNone": True, "records": records},
    ).json()
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert api.query("SELECT COUNT() FROM Lead")["totalSize"] == 0


def test_collections_limit_and_other_operations(api) -> None:
    too_many = [{"attributes": {"type": "Lead"}, **api.lead(i)} for i in range(201)]
    api.error(
        api.call(
            "PATCH", "/composite/sobjects/Lead/Intercom_Contact_ID__c", json={"records": too_many}
        ),
        400,
        "EXCEEDED_ID_LIMIT",
    )
    created = api.call(
        "POST",
        "/composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "Lead"}, **api.lead(1)},
                {"attributes": {"type": "Account"}, "Name": "A"},
            ]
        },
    ).json()
    assert all(r["success"] for r in created)
    ids = [r["id"] for r in created]
    updated = api.call(
        "PATCH",
        "/composite/sobjects",
        json={"records": [{"attributes": {"type": "Lead"}, "id": ids[0], "Title": "T"}]},
    ).json()
    assert updated[0]["success"] is True
    deleted = api.call("DELETE", "/composite/sobjects", params={"ids": ",".join(ids)}).json()
    assert [r["success"] for r in deleted] == [True, True]


def test_describe_is_realistic(api) -> None:
    lead = api.call("GET", "/sobjects/Lead/describe").json()
    assert lead["name"] == "Lead" and lead["keyPrefix"] == "00Q"
    fields = {f["name"]: f for f in lead["fields"]}
    status = fields["Status"]
    assert status["type"] == "picklist" and status["restrictedPicklist"] is True
    assert status["defaultedOnCreate"] is True and status["nillable"] is False
    assert [p["value"] for p in status["picklistValues"] if p["defaultValue"]] == [
        "Open - Not Contacted"
    ]
    sources = [p["value"] for p in fields["LeadSource"]["picklistValues"]]
    assert "Intercom" in sources and "Web" in sources
    assert fields["Email"]["type"] == "email" and fields["Email"]["length"] == 80
    assert fields["LastName"]["nillable"] is False and fields["LastName"]["length"] == 80
    ext = fields["Intercom_Contact_ID__c"]
    assert ext["externalId"] and ext["unique"] and not ext["caseSensitive"] and ext["custom"]
    assert fields["Company_Size__c"]["type"] == "double"
    assert fields["Company_Size__c"]["precision"] == 18 and fields["Company_Size__c"]["scale"] == 0
    assert fields["Intercom_Last_Seen__c"]["type"] == "datetime"
    assert fields["Intercom_URL__c"]["type"] == "url"
    assert fields["IsConverted"]["createable"] is False
    task = {f["name"]: f for f in api.call("GET", "/sobjects/Task/describe").json()["fields"]}
    assert [p["value"] for p in task["Status"]["picklistValues"]] == [
        "Not Started",
        "In Progress",
        "Completed",
        "Waiting on someone else",
        "Deferred",
    ]
    assert task["Status"]["restrictedPicklist"] is True
    assert task["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert task["WhoId"]["relationshipName"] == "Who"
    assert task["Subject"]["length"] == 255 and task["Description"]["length"] == 32000
    assert task["ActivityDate"]["type"] == "date"
    assert task["Intercom_Conversation_ID__c"]["externalId"] is True
    acc = {f["name"]: f for f in api.call("GET", "/sobjects/Account/describe").json()["fields"]}
    assert acc["Intercom_Company_ID__c"]["externalId"] is True
    names = {o["name"] for o in api.call("GET", "/sobjects").json()["sobjects"]}
    assert {"Lead", "Contact", "Account", "Task", "Opportunity", "User"} <= names
