"""Bulk API 2.0 ingest over real sockets: lifecycle, CSV rules, results and failures."""

from __future__ import annotations

import csv
import io
import time
from typing import Any


def run_job(
    api,
    csv_text: str | bytes,
    operation: str = "upsert",
    obj: str = "Lead",
    ext: str | None = "Intercom_Contact_ID__c",
    timeout: float = 30.0,
    **options: Any,
) -> dict[str, Any]:
    spec = {"object": obj, "operation": operation, "contentType": "CSV", **options}
    if operation == "upsert":
        spec["externalIdFieldName"] = ext
    created = api.call("POST", "/jobs/ingest", json=spec)
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["state"] == "Open"
    data = csv_text.encode() if isinstance(csv_text, str) else csv_text
    upload = api.call(
        "PUT", f"/jobs/ingest/{job['id']}/batches", data=data, headers={"Content-Type": "text/csv"}
    )
    assert upload.status_code == 201, upload.text
    closed = api.call("PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert closed.status_code == 200 and closed.json()["state"] == "UploadComplete"
    return wait(api, job["id"], timeout)


def wait(api, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = api.call("GET", f"/jobs/ingest/{job_id}").json()
        if info["state"] in {"JobComplete", "Failed", "Aborted"}:
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {info}")


def results(api, job_id: str, kind: str) -> list[dict[str, str]]:
    answer = api.call("GET", f"/jobs/ingest/{job_id}/{kind}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


def test_upsert_job_lifecycle_and_results(api) -> None:
    api.call("POST", "/sobjects/Lead", json=api.lead(0, Title="Old"))
    lines = ["Intercom_Contact_ID__c,LastName,Company,Email"]
    lines += [f"ic-{i},Last{i},Acme,p{i}@x.io" for i in range(50)]
    lines.append("ic-bad,Bad,Acme,not-an-email")
    info = run_job(api, "\n".join(lines) + "\n")
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 51 and info["numberRecordsFailed"] == 1
    assert info["object"] == "Lead" and info["operation"] == "upsert"
    ok = results(api, info["id"], "successfulResults")
    assert len(ok) == 50
    created = {row["Intercom_Contact_ID__c"]: row["sf__Created"] for row in ok}
    assert created["ic-0"] == "false" and created["ic-1"] == "true"
    assert all(row["sf__Id"].startswith("00Q") for row in ok)
    # Salesforce gives no order guarantee and neither does the emulator.
    assert [row["Intercom_Contact_ID__c"] for row in ok] != [f"ic-{i}" for i in range(50)]
    failed = results(api, info["id"], "failedResults")
    assert len(failed) == 1 and failed[0]["sf__Id"] == ""
    assert failed[0]["sf__Error"].startswith("INVALID_EMAIL_ADDRESS:")
    assert failed[0]["Email"] == "not-an-email"
    assert results(api, info["id"], "unprocessedrecords") == []
    old = api.call("GET", "/sobjects/Lead/Intercom_Contact_ID__c/ic-0").json()
    assert old["Title"] == "Old" and old["Email"] == "p0@x.io"


def test_csv_rules_null_empty_quotes_crlf_and_delimiters(api) -> None:
    api.call("POST", "/sobjects/Lead", json=api.lead(1, Title="Keep", Phone="123"))
    text = (
        "Intercom_Contact_ID__c|LastName|Company|Title|Phone|Description\r\n"
        'ic-1|Last1|Acme||#N/A|"multi\r\nline | with ""quotes"""\r\n'
    )
    info = run_job(api, text, columnDelimiter="PIPE", lineEnding="CRLF")
    assert info["state"] == "JobComplete" and info["numberRecordsFailed"] == 0, info
    got = api.call("GET", "/sobjects/Lead/Intercom_Contact_ID__c/ic-1").json()
    assert got["Title"] == "Keep"  # empty cell: unchanged
    assert got["Phone"] is None  # #N/A: null
    assert got["Description"] == 'multi\r\nline | with "quotes"'


def test_unknown_header_fails_the_whole_job(api) -> None:
    info = run_job(api, "Intercom_Contact_ID__c,LastName,Company,Nope__c\nic-1,L,C,x\n")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Nope__c"
    assert len(results(api, info["id"], "unprocessedrecords")) == 1
    assert api.query("SELECT COUNT() FROM Lead")["totalSize"] == 0


def test_insert_update_delete_and_relationship_columns(api) -> None:
    api.call("POST", "/sobjects/Account", json={"Name": "A", "Intercom_Company_ID__c": "c1"})
    api.call("POST", "/sobjects/Lead", json=api.lead(1))
    inserted = run_job(
        api,
        "LastName,Account.Intercom_Company_ID__c\nC1,c1\nC2,missing\n",
        operation="insert",
        obj="Contact",
    )
    assert inserted["numberRecordsProcessed"] == 2 and inserted["numberRecordsFailed"] == 1
    failed = results(api, inserted["id"], "failedResults")
    assert "Foreign key external ID: missing not found" in failed[0]["sf__Error"]
    tasks = run_job(
        api,
        "Intercom_Conversation_ID__c,Subject,Who.Lead.Intercom_Contact_ID__c\ncv1,Chat,IC-1\n",
        ext="Intercom_Conversation_ID__c",
        obj="Task",
    )
    assert tasks["numberRecordsFailed"] == 0, results(api, tasks["id"], "failedResults")
    task = api.query("SELECT Id, Who.Name FROM Task")["records"][0]
    assert task["Who"]["Name"] == "Last1"
    contact_id = results(api, inserted["id"], "successfulResults")[0]["sf__Id"]
    updated = run_job(api, f"Id,Title\n{contact_id},Boss\n", operation="update", obj="Contact")
    assert updated["numberRecordsFailed"] == 0
    assert api.call("GET", f"/sobjects/Contact/{contact_id}").json()["Title"] == "Boss"
    deleted = run_job(api, f"Id\n{contact_id}\n", operation="delete", obj="Contact")
    assert deleted["numberRecordsFailed"] == 0
    assert api.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    everything = api.call("GET", "/queryAll", params={"q": "SELECT Id FROM Contact"}).json()
    assert everything["totalSize"] == 1


def test_duplicate_keys_in_one_job_and_converted_leads(api, sf) -> None:
    lead_id = api.call("POST", "/sobjects/Lead", json=api.lead(5)).json()["id"]
    sf.admin("POST", f"leads/{lead_id}/convert", {})
    info = run_job(api, "Intercom_Contact_ID__c,LastName,Company\nic-1,A,C\nIC-1,B,C\nic-5,X,C\n")
    failed = {
        row["LastName"]: row["sf__Error"] for row in results(api, info["id"], "failedResults")
    }
    assert failed["A"].startswith("DUPLICATE_VALUE:") and failed["B"].startswith("DUPLICATE_VALUE:")
    assert failed["X"].startswith("CANNOT_UPDATE_CONVERTED_LEAD:cannot reference converted lead")


def test_job_errors_and_states(api, sf) -> None:
    bad = api.call("POST", "/jobs/ingest", json={"object": "Lead", "operation": "upsert"})
    api.error(bad, 400, "INVALIDJOB")
    bad = api.call("POST", "/jobs/ingest", json={"object": "Nope", "operation": "insert"})
    api.error(bad, 400, "INVALIDJOB")
    job = api.call("POST", "/jobs/ingest", json={"object": "Lead", "operation": "insert"}).json()
    url = f"/jobs/ingest/{job['id']}"
    first = api.call(
        "PUT",
        url + "/batches",
        data=b"LastName,Company\nA,B\n",
        headers={"Content-Type": "text/csv"},
    )
    assert first.status_code == 201
    again = api.call(
        "PUT",
        url + "/batches",
        data=b"LastName,Company\nA,B\n",
        headers={"Content-Type": "text/csv"},
    )
    api.error(again, 400, "BULK_API_ERROR")
    api.error(api.call("GET", url + "/successfulResults"), 409, "INVALIDJOBSTATE")
    aborted = api.call("PATCH", url, json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    api.error(api.call("PATCH", url, json={"state": "UploadComplete"}), 409, "INVALIDJOBSTATE")
    assert api.call("DELETE", url).status_code == 204
    api.error(api.call("GET", url), 404, "NOT_FOUND")
    sf.admin("POST", "config", {"bulk_max_upload_bytes": 100})
    job = api.call("POST", "/jobs/ingest", json={"object": "Lead", "operation": "insert"}).json()
    big = api.call(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data=b"LastName\n" + b"x\n" * 100,
        headers={"Content-Type": "text/csv"},
    )
    api.error(big, 413, "BULK_API_ERROR")
    listed = api.call("GET", "/jobs/ingest").json()
    assert job["id"] in [j["id"] for j in listed["records"]]


def test_bulk_fail_fault_and_lock_row_fault(api, sf) -> None:
    sf.admin("POST", "faults", {"kind": "bulk_fail", "count": 1})
    failed = run_job(api, "Intercom_Contact_ID__c,LastName,Company\nic-1,A,C\n")
    assert failed["state"] == "Failed" and failed["errorMessage"]
    assert len(results(api, failed["id"], "unprocessedrecords")) == 1
    sf.admin("POST", "faults", {"kind": "lock_row", "count": 1})
    info = run_job(api, "Intercom_Contact_ID__c,LastName,Company\nic-1,A,C\nic-2,B,C\n")
    assert info["state"] == "JobComplete" and info["numberRecordsFailed"] == 1
    error = results(api, info["id"], "failedResults")[0]["sf__Error"]
    assert error.startswith("UNABLE_TO_LOCK_ROW:")


def test_processing_is_asynchronous_and_abortable(api, sf) -> None:
    sf.admin("POST", "config", {"bulk_rate": 2000})
    lines = ["Intercom_Contact_ID__c,LastName,Company"]
    lines += [f"ic-{i},L{i},C" for i in range(4000)]
    job = api.call(
        "POST",
        "/jobs/ingest",
        json={
            "object": "Lead",
            "operation": "upsert",
            "externalIdFieldName": "Intercom_Contact_ID__c",
        },
    ).json()
    url = f"/jobs/ingest/{job['id']}"
    api.call(
        "PUT",
        url + "/batches",
        data="\n".join(lines).encode(),
        headers={"Content-Type": "text/csv"},
    )
    api.call("PATCH", url, json={"state": "UploadComplete"})
    seen = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = api.call("GET", url).json()["state"]
        seen.add(state)
        if state == "InProgress":
            break
        time.sleep(0.02)
    assert "InProgress" in seen
    api.call("PATCH", url, json={"state": "Aborted"})
    info = wait(api, job["id"])
    assert info["state"] == "Aborted"
    unprocessed = results(api, job["id"], "unprocessedrecords")
    assert 0 < len(unprocessed) < 4000
    done = api.query("SELECT COUNT() FROM Lead")["totalSize"]
    assert done + len(unprocessed) == 4000


def test_na_is_the_bulk_null_marker_but_plain_text_in_json(api) -> None:
    api.call(
        "PATCH",
        "/sobjects/Lead/Intercom_Contact_ID__c/ic-1",
        json=api.lead(1, Title="Boss", Company_Size__c=10, Industry="Retail"),
    )
    info = run_job(
        api, "Intercom_Contact_ID__c,Title,Company_Size__c,Industry\nic-1,#N/A,#N/A,#N/A\n"
    )
    assert info["state"] == "JobComplete" and info["numberRecordsFailed"] == 0
    got = api.call("GET", "/sobjects/Lead/Intercom_Contact_ID__c/ic-1").json()
    assert (got["Title"], got["Company_Size__c"], got["Industry"]) == (None, None, None)
    # Only the whole cell is the marker; a quoted #N/A is the marker too (CSV quoting is syntax).
    run_job(api, 'Intercom_Contact_ID__c,Title,Description\nic-1,"#N/A",#N/A and more\n')
    got = api.call("GET", "/sobjects/Lead/Intercom_Contact_ID__c/ic-1").json()
    assert got["Title"] is None and got["Description"] == "#N/A and more"
    # REST and Collections (JSON) store the string as sent.
    rest = api.call(
        "PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-2", json=api.lead(2, Title="#N/A")
    )
    assert rest.status_code == 201, rest.text
    assert api.call("GET", f"/sobjects/Lead/{rest.json()['id']}").json()["Title"] == "#N/A"
    collection = api.call(
        "PATCH",
        "/composite/sobjects/Lead/Intercom_Contact_ID__c",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Lead"}, **api.lead(3, Title="#N/A")}],
        },
    ).json()
    assert collection[0]["success"] is True, collection
    assert (
        api.query("SELECT Title FROM Lead WHERE Intercom_Contact_ID__c = 'ic-3'")["records"][0][
            "Title"
        ]
        == "#N/A"
    )
    number = api.call(
        "PATCH",
        "/sobjects/Lead/Intercom_Contact_ID__c/ic-4",
        json=api.lead(4, Company_Size__c="#N/A"),
    )
    api.error(number, 400, "JSON_PARSER_ERROR")  # not a number, and not null either


CONTROL = "a\x00b\x01c\x1b[31mred\x1b[0m\x7fd\x85e\x9ff\u2028g\th"


def test_control_characters_are_stored_as_sent(api) -> None:
    rest = api.call(
        "PATCH",
        "/sobjects/Lead/Intercom_Contact_ID__c/ic-1",
        json=api.lead(1, Title=CONTROL, Description=CONTROL + "\r\nend"),
    )
    assert rest.status_code == 201, rest.text
    got = api.call("GET", f"/sobjects/Lead/{rest.json()['id']}").json()
    assert got["Title"] == CONTROL and got["Description"] == CONTROL + "\r\nend"
    collection = api.call(
        "POST",
        "/composite/sobjects",
        json={"records": [{"attributes": {"type": "Lead"}, **api.lead(2, Title=CONTROL)}]},
    ).json()
    assert collection[0]["success"] is True
    queried = api.query("SELECT Title FROM Lead WHERE Intercom_Contact_ID__c = 'ic-2'")
    assert queried["records"][0]["Title"] == CONTROL
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [
            ["Intercom_Contact_ID__c", "LastName", "Company", "Title", "Description"],
            ["ic-3", "L", "C", CONTROL, CONTROL + "\nsecond line"],
        ]
    )
    info = run_job(api, buffer.getvalue())
    assert info["state"] == "JobComplete" and info["numberRecordsFailed"] == 0, info
    got = api.call("GET", "/sobjects/Lead/Intercom_Contact_ID__c/ic-3").json()
    assert got["Title"] == CONTROL and got["Description"] == CONTROL + "\nsecond line"
    assert results(api, info["id"], "successfulResults")[0]["Title"] == CONTROL


def test_lock_row_fails_exactly_n_rows_of_the_next_job_alone(api, sf) -> None:
    sf.admin("POST", "faults", {"kind": "lock_row", "count": 3})
    assert sf.admin("GET", "faults")["lock_row"] == 3
    lines = ["Intercom_Contact_ID__c,LastName,Company"] + [f"ic-{i},L{i},C" for i in range(10)]
    info = run_job(api, "\n".join(lines) + "\n")
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 10 and info["numberRecordsFailed"] == 3
    failed = results(api, info["id"], "failedResults")
    assert len(failed) == 3
    for row in failed:
        assert row["sf__Id"] == ""
        code, message, _ = row["sf__Error"].split(":", 2)
        assert code == "UNABLE_TO_LOCK_ROW" and "exclusive access" in message
        assert row["LastName"] and row["Company"] == "C"  # the row as sent, to retry it
    ok = results(api, info["id"], "successfulResults")
    assert len(ok) == 7
    failed_keys = {row["Intercom_Contact_ID__c"] for row in failed}
    assert failed_keys.isdisjoint(row["Intercom_Contact_ID__c"] for row in ok)
    stored = {
        r["Intercom_Contact_ID__c"]
        for r in api.query("SELECT Intercom_Contact_ID__c FROM Lead")["records"]
    }
    assert stored == {row["Intercom_Contact_ID__c"] for row in ok}  # failed rows not written
    assert sf.admin("GET", "faults")["lock_row"] == 0
    again = run_job(api, "\n".join(lines) + "\n")
    assert again["numberRecordsFailed"] == 0


def test_bulk_fail_count_two_fails_the_next_two_jobs(api, sf) -> None:
    sf.admin("POST", "faults", {"kind": "bulk_fail", "count": 2})
    data = "Intercom_Contact_ID__c,LastName,Company\nic-1,A,C\nic-2,B,C\n"
    for _ in range(2):
        info = run_job(api, data)
        assert info["state"] == "Failed", info
        assert "fault injected" in info["errorMessage"]
        assert info["numberRecordsProcessed"] == 0
        assert len(results(api, info["id"], "unprocessedrecords")) == 2
        assert results(api, info["id"], "failedResults") == []
    assert api.query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    third = run_job(api, data)
    assert third["state"] == "JobComplete" and third["numberRecordsProcessed"] == 2
