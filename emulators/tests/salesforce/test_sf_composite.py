"""The Composite resource: subrequests, references, allOrNone, limits and billing."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

V = "/services/data/v62.0"


def sub(ref: str, method: str, url: str, body: Any = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"method": method, "url": V + url, "referenceId": ref, **extra}
    if body is not None:
        out["body"] = body
    return out


def composite(api, subrequests: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    answer = api.call("POST", "/composite", json={"compositeRequest": subrequests, **options})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"compositeResponse"}
    for entry in body["compositeResponse"]:
        assert set(entry) == {"body", "httpHeaders", "httpStatusCode", "referenceId"}
    return body["compositeResponse"]


def test_two_queries_in_one_call(api) -> None:
    api.call("POST", "/sobjects/Lead", json=api.lead(1))
    deleted = api.call("POST", "/sobjects/Lead", json=api.lead(2)).json()["id"]
    api.call("DELETE", f"/sobjects/Lead/{deleted}")
    out = composite(
        api,
        [
            sub("live", "GET", "/query?q=SELECT Id, LastName FROM Lead"),
            sub("all", "GET", "/queryAll?q=SELECT+Id+FROM+Lead+WHERE+IsDeleted+%3D+true"),
        ],
    )
    assert [e["referenceId"] for e in out] == ["live", "all"]
    assert out[0]["httpStatusCode"] == 200 and out[0]["httpHeaders"] == {}
    assert out[0]["body"]["totalSize"] == 1 and out[0]["body"]["records"][0]["LastName"] == "Last1"
    # The body is exactly what the top-level resource answers.
    assert out[0]["body"] == api.query("SELECT Id, LastName FROM Lead")
    assert out[1]["body"]["totalSize"] == 1 and out[1]["body"]["records"][0]["Id"] == deleted


def test_upsert_collection_of_200_and_a_query(api) -> None:
    api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-0", json=api.lead(0))
    records = [{"attributes": {"type": "Lead"}, **api.lead(i)} for i in range(200)]
    out = composite(
        api,
        [
            sub(
                "upsert",
                "PATCH",
                "/composite/sobjects/Lead/Intercom_Contact_ID__c",
                {"allOrNone": False, "records": records},
            ),
            sub("count", "GET", "/query?q=SELECT COUNT() FROM Lead"),
        ],
    )
    results = out[0]["body"]
    assert out[0]["httpStatusCode"] == 200 and len(results) == 200
    assert results[0]["created"] is False and all(r["created"] for r in results[1:])
    assert all(r["success"] and r["id"].startswith("00Q") for r in results)
    assert out[1]["body"]["totalSize"] == 200


def test_collection_errors_are_identical_to_the_top_level(api) -> None:
    bad = {"records": [{"attributes": {"type": "Lead"}, "LastName": "x"}]}
    direct = api.call("POST", "/composite/sobjects", json=bad).json()
    out = composite(
        api,
        [
            sub("c", "POST", "/composite/sobjects", bad),
            sub("r", "POST", "/sobjects/Lead", {"Company": "x"}),
            sub("n", "GET", "/sobjects/Lead/00Q000000000000AAA"),
            sub("u", "GET", "/jobs/ingest"),
        ],
    )
    assert out[0]["httpStatusCode"] == 200 and out[0]["body"] == direct
    assert out[0]["body"][0]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert out[1]["httpStatusCode"] == 400
    assert out[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert out[2]["httpStatusCode"] == 404 and out[2]["body"][0]["errorCode"] == "NOT_FOUND"
    assert out[3]["httpStatusCode"] == 404  # Bulk is not a composite subrequest


def test_reference_substitution_in_url_and_body(api) -> None:
    out = composite(
        api,
        [
            sub("acc", "POST", "/sobjects/Account", {"Name": "Acme"}),
            sub("con", "POST", "/sobjects/Contact", {"LastName": "C", "AccountId": "@{acc.id}"}),
            sub("lead", "PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-9", api.lead(9)),
            sub(
                "q",
                "GET",
                "/query?q=SELECT Id, Account.Name FROM Contact WHERE AccountId = '@{acc.id}'",
            ),
            sub(
                "upd", "PATCH", "/sobjects/Contact/@{q.records[0].Id}", {"Title": "Ref @{lead.id}"}
            ),
            sub("get", "GET", "/sobjects/Contact/@{con.id}?fields=Title,AccountId"),
        ],
    )
    acc, con, lead = out[0], out[1], out[2]
    assert acc["httpStatusCode"] == 201 and acc["body"]["success"] is True
    assert acc["httpHeaders"] == {"Location": f"{V}/sobjects/Account/{acc['body']['id']}"}
    assert con["httpStatusCode"] == 201
    assert lead["httpStatusCode"] == 201 and lead["body"]["created"] is True
    assert out[3]["body"]["records"][0]["Id"] == con["body"]["id"]
    assert out[3]["body"]["records"][0]["Account"]["Name"] == "Acme"
    assert out[4]["httpStatusCode"] == 204 and out[4]["body"] is None
    assert out[5]["body"]["Title"] == f"Ref {lead['body']['id']}"
    assert out[5]["body"]["AccountId"] == acc["body"]["id"]


def test_reference_to_a_failed_subrequest_is_halted(api) -> None:
    out = composite(
        api,
        [
            sub("bad", "POST", "/sobjects/Lead", {"LastName": "x"}),
            sub("good", "POST", "/sobjects/Lead", api.lead(1)),
            sub("dep", "GET", "/sobjects/Lead/@{bad.id}"),
            sub("missing", "GET", "/sobjects/Lead/@{good.nope}"),
        ],
    )
    assert out[0]["httpStatusCode"] == 400
    assert out[0]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert out[1]["httpStatusCode"] == 201  # allOrNone false: it stands alone
    for entry in out[2:]:
        assert entry["httpStatusCode"] == 400
        assert entry["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert api.query("SELECT COUNT() FROM Lead")["totalSize"] == 1


def test_all_or_none_rolls_back_earlier_subrequests(api) -> None:
    kept = api.call("POST", "/sobjects/Lead", json=api.lead(1, Title="before")).json()["id"]
    gone = api.call("POST", "/sobjects/Lead", json=api.lead(2)).json()["id"]
    out = composite(
        api,
        [
            sub("new", "POST", "/sobjects/Lead", api.lead(3)),
            sub("upd", "PATCH", f"/sobjects/Lead/{kept}", {"Title": "after"}),
            sub("del", "DELETE", f"/sobjects/Lead/{gone}"),
            sub(
                "ups",
                "PATCH",
                "/composite/sobjects/Lead/Intercom_Contact_ID__c",
                {"records": [{"attributes": {"type": "Lead"}, **api.lead(4)}]},
            ),
            sub("fail", "PATCH", f"/sobjects/Lead/{kept}", {"Email": "not-an-email"}),
            sub("after", "POST", "/sobjects/Lead", api.lead(5)),
        ],
        allOrNone=True,
        collateSubrequests=False,
    )
    assert [e["httpStatusCode"] for e in out] == [400] * 6
    assert out[4]["body"][0]["errorCode"] == "INVALID_EMAIL_ADDRESS"
    for i in (0, 1, 2, 3, 5):
        assert out[i]["body"] == [
            {
                "errorCode": "PROCESSING_HALTED",
                "message": "The transaction was rolled back since another operation in the same "
                "transaction failed.",
            }
        ]
        assert out[i]["referenceId"] == ["new", "upd", "del", "ups", "fail", "after"][i]
    leads = api.query("SELECT Id, Title, Intercom_Contact_ID__c FROM Lead ORDER BY LastName")
    assert [r["Id"] for r in leads["records"]] == [kept, gone]
    assert leads["records"][0]["Title"] == "before"
    # External-id indexes are restored too: ic-3/ic-4 are free again, ic-2 is taken again.
    again = api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-2", json={"Title": "t"})
    assert again.status_code == 200 and again.json()["id"] == gone
    assert (
        api.call("PATCH", "/sobjects/Lead/Intercom_Contact_ID__c/ic-3", json=api.lead(3)).json()[
            "created"
        ]
        is True
    )


def test_all_or_none_rollback_reaches_the_sqlite_file(api, data_dir) -> None:
    kept = api.call("POST", "/sobjects/Lead", json=api.lead(1, Title="before")).json()["id"]
    out = composite(
        api,
        [
            sub("new", "POST", "/sobjects/Lead", api.lead(2)),
            sub("upd", "PATCH", f"/sobjects/Lead/{kept}", {"Title": "after"}),
            sub("fail", "POST", "/sobjects/Lead", {"LastName": "x"}),
        ],
        allOrNone=True,
    )
    assert out[2]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with sqlite3.connect(data_dir / "salesforce.sqlite3") as db:
        rows = db.execute("SELECT id, data FROM records WHERE sobject = 'Lead'").fetchall()
    assert [r[0] for r in rows] == [kept] and json.loads(rows[0][1])["Title"] == "before"


def test_all_or_none_success_commits_everything(api) -> None:
    out = composite(
        api,
        [
            sub("a", "POST", "/sobjects/Lead", api.lead(1)),
            sub("b", "POST", "/sobjects/Lead", api.lead(2)),
        ],
        allOrNone=True,
    )
    assert [e["httpStatusCode"] for e in out] == [201, 201]
    assert api.query("SELECT COUNT() FROM Lead")["totalSize"] == 2


def test_limits_of_25_subrequests_and_5_queries_or_collections(api) -> None:
    many = [sub(f"r{i}", "GET", "/limits") for i in range(26)]
    for subrequests, text in (
        (many, "more than 25 operations"),
        (
            [sub(f"q{i}", "GET", "/query?q=SELECT Id FROM Lead") for i in range(3)]
            + [sub(f"c{i}", "POST", "/composite/sobjects", {"records": []}) for i in range(3)],
            "more than 5 query",
        ),
    ):
        out = composite(api, subrequests)
        assert len(out) == 1 and out[0]["httpStatusCode"] == 400 and out[0]["referenceId"] is None
        assert out[0]["body"][0]["errorCode"] == "LIMIT_EXCEEDED"
        assert text in out[0]["body"][0]["message"]
    # 25 subrequests, 5 of them queries, is fine (/limits is not a composite resource: 404).
    ok = [sub(f"q{i}", "GET", "/query?q=SELECT Id FROM Lead") for i in range(5)] + [
        sub(f"g{i}", "GET", f"/sobjects/Lead/00Q00000000000{i:02d}") for i in range(20)
    ]
    out = composite(api, ok)
    assert len(out) == 25 and all(e["httpStatusCode"] == 200 for e in out[:5])
    assert composite(api, many[:1])[0]["httpStatusCode"] == 404


def test_malformed_requests_are_rejected_whole(api) -> None:
    api.error(api.call("POST", "/composite", json={"records": []}), 400, "JSON_PARSER_ERROR")
    api.error(
        api.call(
            "POST",
            "/composite",
            json={
                "compositeRequest": [
                    sub("a", "GET", "/query?q=SELECT Id FROM Lead"),
                    sub("a", "GET", "/query?q=SELECT Id FROM Lead"),
                ]
            },
        ),
        400,
        "INVALID_INPUT",
    )
    api.error(
        api.call(
            "POST",
            "/composite",
            json={
                "compositeRequest": [{"method": "GET", "url": V + "/query?q=SELECT Id FROM Lead"}]
            },
        ),
        400,
        "INVALID_INPUT",
    )


def test_billed_as_one_call(sf, api) -> None:
    sf.reset_stats()
    before = api.call("GET", "/limits").json()["DailyApiRequests"]["Remaining"]
    composite(
        api,
        [sub(f"l{i}", "POST", "/sobjects/Lead", api.lead(i)) for i in range(20)]
        + [sub("q", "GET", "/query?q=SELECT Id FROM Lead")],
    )
    after = api.call("GET", "/limits").json()["DailyApiRequests"]["Remaining"]
    assert before - after == 2  # the composite request and the second /limits
    stats = sf.stats()
    assert stats["api_calls"] == 3
    assert stats["by_endpoint"]["POST /composite"] == 1
    assert "POST /sobjects/{sobject}" not in stats["by_endpoint"]


def test_faults_apply_to_the_whole_request(sf, api) -> None:
    sf.admin(
        "POST", "faults", {"kind": "status", "status": 503, "count": 1, "path": f"{V}/composite"}
    )
    answer = api.call(
        "POST",
        "/composite",
        json={"compositeRequest": [sub("a", "POST", "/sobjects/Lead", api.lead(1))]},
    )
    api.error(answer, 503, "SERVER_UNAVAILABLE")
    sf.admin("POST", "faults", {"kind": "lock_row", "count": 1})
    out = composite(
        api,
        [
            sub("a", "POST", "/sobjects/Lead", api.lead(1)),
            sub("b", "POST", "/sobjects/Lead", api.lead(2)),
        ],
    )
    assert out[0]["body"][0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert out[1]["httpStatusCode"] == 201


def test_expired_token_is_401(sf, api) -> None:
    sf.admin("POST", "tokens/expire")
    answer = api.call(
        "POST",
        "/composite",
        json={"compositeRequest": [sub("a", "POST", "/sobjects/Lead", api.lead(1))]},
    )
    api.error(answer, 401, "INVALID_SESSION_ID")
    assert sf.admin("POST", "query", {"q": "SELECT COUNT() FROM Lead"})["totalSize"] == 0
