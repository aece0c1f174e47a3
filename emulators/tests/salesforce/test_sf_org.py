"""The org: its id, identity URLs, and changing its metadata at start and at run time."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import pytest
import requests
from emulators.testing import EmulatorProcess

CLIENT = {"client_id": "emulator-client", "client_secret": "emulator-secret"}


def assert_error(answer: requests.Response, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body, list) and body[0]["errorCode"] == code, body
    return body[0]


def session_for(proc: EmulatorProcess) -> tuple[requests.Session, str, dict[str, str]]:
    """A logged-in session on a server started in the test; answers (session, base, token)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(proc.ca_path)
    token = session.post(
        f"{proc.url}/services/oauth2/token", data={"grant_type": "client_credentials", **CLIENT}
    )
    assert token.status_code == 200, token.text
    body = token.json()
    session.headers["Authorization"] = f"Bearer {body['access_token']}"
    return session, f"{proc.url}/services/data/v62.0", body


def describe_fields(session: requests.Session, base: str, sobject: str = "Lead") -> dict:
    answer = session.get(f"{base}/sobjects/{sobject}/describe")
    assert answer.status_code == 200, answer.text
    return {f["name"]: f for f in answer.json()["fields"]}


# -- org id ------------------------------------------------------------------------------------
def test_each_data_dir_is_its_own_org_and_keeps_its_id(tmp_path) -> None:
    with (
        EmulatorProcess("salesforce", tmp_path / "a") as first,
        EmulatorProcess("salesforce", tmp_path / "b") as second,
    ):
        org_a, org_b = first.org_id, second.org_id
        assert org_a != org_b
        for org in (org_a, org_b):
            assert len(org) == 18 and org.startswith("00D")
        _, _, token = session_for(first)
        assert token["id"] == f"{first.url}/id/{org_a}/{token['id'].rsplit('/', 1)[-1]}"
        assert token["access_token"].startswith(org_a[:15] + "!")
        assert first.stats()["org_id"] == org_a
        org = first.admin("GET", "org")
        assert org["org_id"] == org_a and org["user_id"].startswith("005")
        assert org["identity_url"] == token["id"]
    with EmulatorProcess("salesforce", tmp_path / "a") as again:
        assert again.org_id == org_a


def test_org_id_flag_overrides_and_is_checked(tmp_path) -> None:
    with EmulatorProcess("salesforce", tmp_path / "sf") as made:
        generated = made.org_id
    with EmulatorProcess(
        "salesforce", tmp_path / "sf", args=["--org-id", "00D000000000062"]
    ) as proc:
        assert proc.org_id == "00D000000000062EAA"
        _, _, token = session_for(proc)
        assert "/id/00D000000000062EAA/" in token["id"]
    with EmulatorProcess("salesforce", tmp_path / "sf") as later:
        assert later.org_id == generated  # the override is not stored
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
            "--org-id",
            "001000000000001",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "not a Salesforce org id" in out.stderr


def test_identity_url_and_userinfo_name_the_org(api, sf) -> None:
    token = api.session.post(
        f"{sf.url}/services/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": "emulator-refresh-token", **CLIENT},
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    identity = api.session.get(token["id"], headers=headers)
    assert identity.status_code == 200, identity.text
    assert identity.json()["organization_id"] == sf.org_id
    assert identity.json()["id"] == token["id"]
    info = api.session.get(f"{sf.url}/services/oauth2/userinfo", headers=headers)
    assert info.status_code == 200
    assert info.json()["organization_id"] == sf.org_id and info.json()["sub"] == token["id"]
    assert info.json()["preferred_username"] == "integration@emulator.local"
    bad = api.session.get(token["id"], headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 403 and bad.text == "Bad_OAuth_Token"
    other = token["id"].replace(sf.org_id, "00D000000000001AAA")
    assert api.session.get(other, headers=headers).status_code == 404
    sf.reset_stats()
    api.session.get(token["id"], headers=headers)
    api.session.get(f"{sf.url}/services/oauth2/userinfo", headers=headers)
    stats = sf.stats()
    assert stats["api_calls"] == 0 and stats["requests"] == 2  # not billed
    assert stats["by_endpoint"] == {"GET /id/{org}/{user}": 1, "GET /services/oauth2/userinfo": 1}


def test_org_id_is_an_emulator_process_property_of_salesforce_only(tmp_path) -> None:
    proc = EmulatorProcess("intercom", tmp_path / "ic")
    with pytest.raises(AttributeError):
        _ = proc.org_id


# -- changing the org at run time ----------------------------------------------------------------
def test_add_and_remove_a_custom_field_at_run_time(api, sf) -> None:
    added = sf.add_field("Lead", "Region__c", type="Text", length=20, label="Region")
    assert added["fields"][0]["name"] == "Region__c" and added["fields"][0]["length"] == 20
    try:
        fields = describe_fields(api.session, api.base)
        assert fields["Region__c"]["custom"] is True and fields["Region__c"]["type"] == "string"
        made = api.call("POST", "/sobjects/Lead", json=api.lead(1, Region__c="EMEA"))
        assert made.status_code == 201, made.text
        too_long = api.call("POST", "/sobjects/Lead", json=api.lead(2, Region__c="x" * 21))
        assert_error(too_long, 400, "STRING_TOO_LONG")
        removed = sf.drop_field("Lead", "Region__c")
        assert removed == {"removed": "Lead.Region__c"}
        assert "Region__c" not in describe_fields(api.session, api.base)
        assert_error(
            api.call("POST", "/sobjects/Lead", json=api.lead(3, Region__c="x")),
            400,
            "INVALID_FIELD",
        )
        assert_error(
            api.call("GET", "/query", params={"q": "SELECT Region__c FROM Lead"}),
            400,
            "INVALID_FIELD",
        )
        # A field added again starts empty, as a new field does in Salesforce.
        sf.add_field("Lead", "Region__c", type="Text")
        got = api.call("GET", f"/sobjects/Lead/{made.json()['id']}").json()
        assert got["Region__c"] is None
    finally:
        with contextlib.suppress(RuntimeError):
            sf.drop_field("Lead", "Region__c")


def test_removing_a_default_field_makes_writes_fail_like_a_misconfigured_org(api, sf) -> None:
    sf.drop_field("Lead", "Intercom_Qualification__c")
    try:
        rest = api.call(
            "PATCH",
            "/sobjects/Lead/Intercom_Contact_ID__c/ic-1",
            json={**api.lead(1), "Intercom_Qualification__c": "yes"},
        )
        error = assert_error(rest, 400, "INVALID_FIELD")
        assert (
            error["message"] == "No such column 'Intercom_Qualification__c' on sobject of type Lead"
        )
        collection = api.call(
            "PATCH",
            "/composite/sobjects/Lead/Intercom_Contact_ID__c",
            json={
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Lead"}, **api.lead(1, Intercom_Qualification__c="y")},
                    {"attributes": {"type": "Lead"}, **api.lead(2)},
                ],
            },
        ).json()
        assert collection[0]["errors"][0]["statusCode"] == "INVALID_FIELD"
        assert collection[1]["success"] is True
    finally:
        sf.add_field(
            "Lead",
            "Intercom_Qualification__c",
            type="Text",
            length=255,
            label="Intercom Qualification",
        )
    ok = api.call(
        "PATCH",
        "/sobjects/Lead/Intercom_Contact_ID__c/ic-1",
        json={**api.lead(1), "Intercom_Qualification__c": "yes"},
    )
    assert ok.status_code == 201, ok.text


def test_external_id_field_added_at_run_time_is_indexed(api, sf) -> None:
    sf.add_field("Account", "Ext__c", type="Text", externalId=True, unique=True)
    try:
        made = api.call("PATCH", "/sobjects/Account/Ext__c/E-1", json={"Name": "A"})
        assert made.status_code == 201, made.text
        again = api.call("PATCH", "/sobjects/Account/Ext__c/e-1", json={"Name": "B"})
        assert again.status_code == 200 and again.json()["created"] is False
    finally:
        sf.drop_field("Account", "Ext__c")
    assert api.call("PATCH", "/sobjects/Account/Ext__c/E-1", json={"Name": "A"}).status_code == 404


def test_restricted_picklist_set_at_run_time(api, sf) -> None:
    before = describe_fields(api.session, api.base)["LeadSource"]
    answer = sf.set_picklist("Lead", "LeadSource", ["Web", "Other"], restricted=True)
    assert answer["field"]["restrictedPicklist"] is True
    try:
        field = describe_fields(api.session, api.base)["LeadSource"]
        assert [v["value"] for v in field["picklistValues"]] == ["Web", "Other"]
        assert field["restrictedPicklist"] is True
        refused = api.call("POST", "/sobjects/Lead", json=api.lead(1, LeadSource="Intercom"))
        error = assert_error(refused, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
        assert error["fields"] == ["LeadSource"]
        assert (
            api.call("POST", "/sobjects/Lead", json=api.lead(2, LeadSource="Web")).status_code
            == 201
        )
    finally:
        sf.set_picklist(
            "Lead", "LeadSource", [v["value"] for v in before["picklistValues"]], restricted=False
        )
    assert (
        api.call("POST", "/sobjects/Lead", json=api.lead(3, LeadSource="Intercom")).status_code
        == 201
    )


def test_read_only_field_at_run_time(api, sf) -> None:
    sf.admin("PATCH", "fields/Lead/Intercom_URL__c", {"createable": False, "updateable": False})
    try:
        assert describe_fields(api.session, api.base)["Intercom_URL__c"]["createable"] is False
        refused = api.call(
            "POST", "/sobjects/Lead", json=api.lead(1, Intercom_URL__c="https://x.io")
        )
        assert_error(refused, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")
    finally:
        sf.admin("PATCH", "fields/Lead/Intercom_URL__c", {"createable": True, "updateable": True})


def test_schema_admin_calls_refuse_what_salesforce_refuses(sf) -> None:
    with pytest.raises(RuntimeError, match="standard field"):
        sf.drop_field("Lead", "Email")
    with pytest.raises(RuntimeError, match="standard field"):
        sf.add_field("Lead", "Email", type="Text")
    with pytest.raises(RuntimeError, match="unknown type"):
        sf.add_field("Lead", "Bad__c", type="Blob")
    with pytest.raises(RuntimeError, match="not a picklist"):
        sf.set_picklist("Lead", "Email", ["a"])
    with pytest.raises(RuntimeError, match="404"):
        sf.drop_field("Lead", "Nope__c")
    with pytest.raises(RuntimeError, match="404"):
        sf.add_field("Nope", "X__c", type="Text")


def test_describe_answers_change_and_conditional_requests_see_it(api, sf) -> None:
    first = api.call("GET", "/sobjects/Lead/describe")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert (
        api.call("GET", "/sobjects/Lead/describe", headers={"If-None-Match": etag}).status_code
        == 304
    )
    assert (
        api.call(
            "GET", "/sobjects/Lead/describe", headers={"If-Modified-Since": modified}
        ).status_code
        == 304
    )
    glob = api.call("GET", "/sobjects")
    sf.add_field("Lead", "Tmp__c", type="Checkbox")
    try:
        by_tag = api.call("GET", "/sobjects/Lead/describe", headers={"If-None-Match": etag})
        assert by_tag.status_code == 200 and by_tag.headers["ETag"] != etag
        assert "Tmp__c" in {f["name"] for f in by_tag.json()["fields"]}
        by_date = api.call(
            "GET", "/sobjects/Lead/describe", headers={"If-Modified-Since": modified}
        )
        assert by_date.status_code == 200 and by_date.headers["Last-Modified"] != modified
        assert (
            api.call(
                "GET", "/sobjects", headers={"If-Modified-Since": glob.headers["Last-Modified"]}
            ).status_code
            == 200
        )
        # Other objects did not change.
        contact = api.call("GET", "/sobjects/Contact/describe")
        assert (
            api.call(
                "GET",
                "/sobjects/Contact/describe",
                headers={"If-None-Match": contact.headers["ETag"]},
            ).status_code
            == 304
        )
    finally:
        sf.drop_field("Lead", "Tmp__c")


def test_delete_a_record_by_hand(api, sf) -> None:
    made = api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-1", json=api.lead(1))
    rid = made.json()["id"]
    sf.reset_stats()
    assert sf.delete_record("Lead", rid) == {"id": rid, "deleted": True, "hard": False}
    assert sf.stats()["record_writes"] == {}  # by hand, not a client's write
    assert_error(api.call("GET", f"/sobjects/Lead/{rid}"), 404, "ENTITY_IS_DELETED")
    deleted = sf.admin(
        "POST", "query", {"q": f"SELECT Id FROM Lead WHERE Id = '{rid}'", "all": True}
    )
    assert deleted["totalSize"] == 1
    again = api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-1", json=api.lead(1))
    assert again.status_code == 201 and again.json()["id"] != rid
    sf.delete_record("Lead", again.json()["id"], hard=True)
    gone = sf.admin(
        "POST",
        "query",
        {"q": f"SELECT Id FROM Lead WHERE Id = '{again.json()['id']}'", "all": True},
    )
    assert gone["totalSize"] == 0
    with pytest.raises(RuntimeError, match="404"):
        sf.delete_record("Lead", again.json()["id"])


# -- a misconfigured org from the start ---------------------------------------------------------
def test_start_flags_make_a_misconfigured_org(tmp_path) -> None:
    args = [
        "--drop-field",
        "Lead.Intercom_Qualification__c",
        "--restricted-picklist",
        "Lead.LeadSource=Web,Phone Inquiry",
        "--picklist",
        "Lead.Industry=Banking,Retail",
        "--read-only-field",
        "Lead.Intercom_URL__c",
    ]
    with EmulatorProcess("salesforce", tmp_path / "sf", args=args) as proc:
        session, base, _ = session_for(proc)
        fields = describe_fields(session, base)
        assert "Intercom_Qualification__c" not in fields
        assert [v["value"] for v in fields["LeadSource"]["picklistValues"]] == [
            "Web",
            "Phone Inquiry",
        ]
        assert fields["LeadSource"]["restrictedPicklist"] is True
        assert fields["Industry"]["restrictedPicklist"] is False
        assert [v["value"] for v in fields["Industry"]["picklistValues"]] == ["Banking", "Retail"]
        assert fields["Intercom_URL__c"]["updateable"] is False
        assert "Intercom_Qualification__c" in describe_fields(session, base, "Contact")
        lead = {"LastName": "L", "Company": "C"}
        assert_error(
            session.post(f"{base}/sobjects/Lead", json={**lead, "LeadSource": "Intercom"}),
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        )
        assert_error(
            session.post(f"{base}/sobjects/Lead", json={**lead, "Intercom_Qualification__c": "x"}),
            400,
            "INVALID_FIELD",
        )
        assert (
            session.post(
                f"{base}/sobjects/Lead", json={**lead, "LeadSource": "Phone Inquiry"}
            ).status_code
            == 201
        )
        # Fixing the org at run time works like in Salesforce Setup.
        proc.add_field("Lead", "Intercom_Qualification__c", type="Text")
        assert (
            session.post(
                f"{base}/sobjects/Lead", json={**lead, "Intercom_Qualification__c": "x"}
            ).status_code
            == 201
        )


def test_schema_file_removes_fields_and_sets_standard_picklists(tmp_path) -> None:
    override = tmp_path / "override.yml"
    override.write_text(
        "Lead:\n  Intercom_Qualification__c: null\n"
        "  LeadSource: {values: [Web], restricted: true}\n"
    )
    with EmulatorProcess("salesforce", tmp_path / "sf", args=["--schema", str(override)]) as proc:
        session, base, _ = session_for(proc)
        fields = describe_fields(session, base)
        assert "Intercom_Qualification__c" not in fields
        assert fields["LeadSource"]["restrictedPicklist"] is True


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--drop-field", "Lead.Email", "standard field"),
        ("--drop-field", "Lead", "Object.Field"),
        ("--drop-field", "Lead.Nope__c", "no field"),
        ("--restricted-picklist", "Lead.LeadSource", "values after '='"),
        ("--picklist", "Lead.Email=a", "not a picklist"),
        ("--read-only-field", "Nope.X", "unknown sObject"),
    ],
)
def test_bad_start_flags_exit_2_with_a_reason(tmp_path, flag, value, message) -> None:
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
            flag,
            value,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert message in out.stderr


def test_schema_reset_restores_the_start_up_metadata(tmp_path) -> None:
    args = ["--drop-field", "Lead.Intercom_Qualification__c"]
    with EmulatorProcess("salesforce", tmp_path / "sf", args=args) as proc:
        session, base, _ = session_for(proc)
        proc.add_field("Lead", "Intercom_Qualification__c", type="Text")
        proc.add_field("Lead", "Extra__c", type="Text")
        proc.set_picklist("Lead", "LeadSource", ["Web"], restricted=True)
        proc.drop_field("Lead", "Intercom_URL__c")
        made = session.post(
            f"{base}/sobjects/Lead",
            json={
                "LastName": "L",
                "Company": "C",
                "Extra__c": "x",
                "Intercom_Qualification__c": "q",
            },
        )
        assert made.status_code == 201, made.text
        assert proc.admin("POST", "schema/reset") == {"changed": ["Lead"]}
        fields = describe_fields(session, base)
        assert "Intercom_Qualification__c" not in fields and "Extra__c" not in fields
        assert "Intercom_URL__c" in fields and fields["LeadSource"]["restrictedPicklist"] is False
        assert proc.admin("POST", "schema/reset") == {"changed": []}
        proc.add_field("Lead", "Extra__c", type="Text")
        got = session.get(f"{base}/sobjects/Lead/{made.json()['id']}").json()
        assert got["Extra__c"] is None  # its values went with the field
