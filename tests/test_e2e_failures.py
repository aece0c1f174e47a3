"""What goes wrong in production, through real `meltano run` against both emulators.

Configuration mistakes (a mapping typo, a mapping that makes every record invalid, an org missing
a custom field, a wrong client secret) stop the run non-zero before anything is written and leave
the state where it was; transient failures (failed Bulk jobs, locked rows, a long burst of 429s)
end with every record written by a later run. Awkward values (`#N/A`, emoji with zero-width
joiners) arrive exactly on both transports. Every end state is checked against the emulators' own
data with `account_for_everything`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.pipeline import (
    FAST_INTERCOM_ARGS,
    ROOT,
    IntercomTruth,
    Pipeline,
    RunResult,
    account_for_everything,
    intercom_api,
    intercom_truth,
    read_jsonl,
    salesforce_view,
)

MAPPINGS = ROOT / "transform" / "mappings"
LEAD_MAPPING_ENV = "MAP_INTERCOM_SALESFORCE_LEAD_MAPPING"
TASK_MAPPING_ENV = "MAP_INTERCOM_SALESFORCE_TASK_MAPPING"


def mapping_copy(directory: Path, name: str, edit: Callable[[str], str]) -> Path:
    """A copy of a shipped mapping file with one edit, as a user would make it."""
    text = (MAPPINGS / name).read_text()
    edited = edit(text)
    assert edited != text, f"the edit of {name} changed nothing"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(edited, encoding="utf-8")
    return path


def bookmarks(pipe: Pipeline) -> dict[str, Any]:
    return dict((pipe.state().get("singer_state") or {}).get("bookmarks") or {})


def summary_exit_code(result: RunResult) -> Any:
    return result.summary.get("exit_code")


def touch_qualifying(pipe: Pipeline, truth: IntercomTruth, n: int) -> list[str]:
    """Change `n` qualifying contacts (a new session), so the next run receives them."""
    chosen = sorted(truth.emails)[:n]
    for cid in chosen:
        custom = dict(truth.contacts[cid].get("custom_attributes") or {})
        custom["session_count"] = int(custom.get("session_count") or 0) + 1
        pipe.intercom.admin("PATCH", f"contacts/{cid}", {"custom_attributes": custom})
    return chosen


# -- configuration mistakes ------------------------------------------------------------------


@pytest.fixture(scope="module")
def configured(
    installed_plugins: None, small_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A pipeline after one good run, then a change in Intercom that the next run would send."""
    with Pipeline(
        tmp_path_factory.mktemp("config"),
        intercom_args=FAST_INTERCOM_ARGS,
        intercom_template=small_template,
    ) as pipe:
        first = pipe.run(check=False)
        assert first.returncode == 0, first.explain()
        truth = intercom_truth(pipe)
        pipe.intercom.admin("POST", "clock", {"advance": 3600})
        touched = touch_qualifying(pipe, truth, 20)
        yield {"pipe": pipe, "truth": truth, "touched": touched, "dir": pipe.workdir}


def test_a_typo_in_the_mapping_stops_the_run_before_the_first_record(
    configured: dict[str, Any],
) -> None:
    pipe: Pipeline = configured["pipe"]
    before = bookmarks(pipe)
    lead = mapping_copy(
        configured["dir"] / "typo",
        "lead.yml",
        lambda text: text.replace(
            "\nfields:\n", "\nfields:\n  City: {expr: contact.locaton.city}\n"
        ),
    )
    result = pipe.run(check=False, env={LEAD_MAPPING_ENV: str(lead)})
    assert result.returncode != 0, result.explain()
    assert "contact.locaton.city" in result.output or "locaton" in result.output
    assert "location" in result.output, "the message should suggest the right name"
    assert str(lead) in result.output or "lead.yml" in result.output
    assert result.salesforce_record_writes == {}
    assert result.salesforce_write_calls == 0
    assert bookmarks(pipe) == before


def test_a_run_with_every_record_rejected_exits_non_zero_and_keeps_the_state(
    configured: dict[str, Any],
) -> None:
    pipe: Pipeline = configured["pipe"]
    before = bookmarks(pipe)
    directory = configured["dir"] / "reject-all"
    lead = mapping_copy(
        directory,
        "lead.yml",  # a LastName longer than Salesforce's 80 characters: every Lead is invalid
        lambda text: text.replace(
            "LastName: {expr: name.last, max_length: 80}", "LastName: {expr: '\"x\" * 300'}"
        ),
    )
    task = mapping_copy(directory, "task.yml", lambda text: text + "\nfilter: {expr: 'False'}\n")
    result = pipe.run(check=False, env={LEAD_MAPPING_ENV: str(lead), TASK_MAPPING_ENV: str(task)})
    assert result.returncode != 0, result.explain()
    assert result.salesforce_record_writes == {}
    assert summary_exit_code(result) == 3, result.summary
    leads = result.summary["streams"]["Lead"]
    assert leads["received"] >= len(configured["touched"])
    assert leads["rejected"] == leads["received"]
    rejected = {
        r["external_id"]
        for r in read_jsonl(pipe.target_rejects)
        if r.get("run_id") == result.summary.get("run_id")
    }
    assert set(configured["touched"]) <= rejected
    assert bookmarks(pipe) == before, "bookmarks moved past records that were all rejected"


def test_the_good_mapping_then_writes_what_the_failed_runs_left(
    configured: dict[str, Any],
) -> None:
    pipe: Pipeline = configured["pipe"]
    result = pipe.run(check=False)
    assert result.returncode == 0, result.explain()
    truth = intercom_truth(pipe)
    leads = {r["Intercom_Contact_ID__c"]: r for r in salesforce_view(pipe.salesforce).leads}
    for cid in configured["touched"]:
        sessions = truth.contacts[cid]["custom_attributes"]["session_count"]
        assert leads[cid]["Intercom_Sessions__c"] == sessions, cid
    account_for_everything(pipe, truth).check()


DROPPED = ("Lead", "Intercom_Sessions__c")


def test_an_org_missing_a_field_fails_before_writing_and_writes_everything_once_it_is_added(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline(salesforce_args=["--drop-field", ".".join(DROPPED)])
    preflight = pipe.preflight()
    assert preflight.returncode != 0
    assert DROPPED[1] in preflight.stdout + preflight.stderr

    failed = pipe.run(check=False)
    assert failed.returncode != 0, failed.explain()
    assert DROPPED[1] in failed.output
    assert failed.salesforce_record_writes == {}, "records were written to a misconfigured org"
    assert summary_exit_code(failed) == 2, failed.summary
    assert bookmarks(pipe) == {}

    # The admin adds the field; preflight is green at once (no day-old describe in the way).
    pipe.salesforce.add_field(DROPPED[0], DROPPED[1], type="Number", precision=18, scale=0)
    preflight = pipe.preflight()
    assert preflight.returncode == 0, preflight.stdout[-3000:] + preflight.stderr[-3000:]

    fixed = pipe.run(check=False)  # no `meltano state clear`
    assert fixed.returncode == 0, fixed.explain()
    truth = intercom_truth(pipe)
    account_for_everything(pipe, truth).check()
    leads = salesforce_view(pipe.salesforce).leads
    assert leads
    for lead in leads:
        custom = truth.contacts[lead["Intercom_Contact_ID__c"]].get("custom_attributes") or {}
        assert lead["Intercom_Sessions__c"] == custom.get("session_count")


def test_a_wrong_client_secret_fails_before_the_tap_reads_the_workspace(
    make_pipeline: Callable[..., Pipeline], medium_template: Path
) -> None:
    secret = "not-the-secret-4f1c9e"
    pipe = make_pipeline(medium_template, TARGET_SALESFORCE_LEADS_CLIENT_SECRET=secret)
    result = pipe.run(check=False)
    assert result.returncode != 0, result.explain()
    text = result.output.lower()
    assert any(s in text for s in ("client secret", "client_secret", "invalid_client")), text[
        -3000:
    ]
    assert secret not in result.output
    assert summary_exit_code(result) in (2, None)
    # A full sync of this workspace takes more than 2,000 calls (1,500 contacts, each with its
    # event summary, and 500 conversations); the run stopped after a quarter of that at most (the
    # tap starts with the target, so it reads for the second or two the login check takes:
    # 230-330 calls measured on 2 busy cores).
    print(f"\n[wrong client secret] Intercom calls before the run stopped: {result.intercom_calls}")
    assert result.intercom_calls < 500, result.intercom_by_endpoint
    assert result.salesforce_record_writes == {}
    assert bookmarks(pipe) == {}


# -- transient failures ----------------------------------------------------------------------


def test_failed_bulk_jobs_and_locked_rows_are_written_by_a_later_run(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline(TARGET_SALESFORCE_LEADS_TRANSPORT="bulk")
    pipe.salesforce.admin("POST", "faults", {"kind": "bulk_fail", "count": 2})
    first = pipe.run(check=False)
    assert "POST /jobs/ingest" in first.salesforce_by_endpoint, first.salesforce_by_endpoint
    waiting = {
        w["external_id"]: w["error_code"] for w in pipe.waiting_in_state() if w["stream"] == "Lead"
    }
    assert waiting and set(waiting.values()) == {"BULK_JOB_FAILED"}, first.explain()

    pipe.salesforce.admin("POST", "faults", {"kind": "lock_row", "count": 10})
    second = pipe.run(check=False)
    assert second.written("Lead") > 0
    assert "POST /jobs/ingest" in second.salesforce_by_endpoint, second.salesforce_by_endpoint
    assert pipe.salesforce.admin("GET", "faults")["lock_row"] == 0, "no row was locked"
    codes = {w["error_code"] for w in pipe.waiting_in_state() if w["stream"] == "Lead"}
    assert codes <= {"UNABLE_TO_LOCK_ROW"}, codes

    third = pipe.run(check=False)
    assert third.returncode == 0, third.explain()
    account_for_everything(pipe).check()
    never = {"BULK_JOB_FAILED", "UNABLE_TO_LOCK_ROW"}
    assert not [r for r in read_jsonl(pipe.target_rejects) if r["error_code"] in never]


def test_a_burst_of_300_rate_limit_answers_ends_in_a_completed_sync(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline()
    # Resets already due (as with a skewed clock): the tap keeps trying, a little slower each time.
    pipe.intercom.admin("POST", "faults", {"kind": "rate_limit", "count": 300, "reset_in": 0})
    result = pipe.run(check=False)
    assert result.intercom_status_counts.get("429", 0) >= 300, result.intercom_status_counts
    assert result.returncode == 0, result.explain()
    account_for_everything(pipe).check()


# -- awkward values --------------------------------------------------------------------------

EMOJI_NAME = "Anna 👩‍💻 Lee"


def plain_people(truth: IntercomTruth) -> list[str]:
    """Qualifying contacts with a usable email, no company and no awkward seed values."""
    return [
        cid
        for cid in sorted(truth.emails)
        if not (truth.contacts[cid].get("companies") or {}).get("data")
        and not truth.contacts[cid].get("tags", {}).get("has_more")
    ]


def make_awkward(pipe: Pipeline, people: list[str], tag: str) -> dict[str, str]:
    """A `#N/A` Title, a `#N/A` Company and an emoji name with zero-width joiners."""
    title_na, company_na, emoji = people
    contact = intercom_api(pipe, "GET", f"/contacts/{title_na}")
    custom = dict(contact.get("custom_attributes") or {})
    custom["job_title"] = "#N/A"
    intercom_api(pipe, "PUT", f"/contacts/{title_na}", {"custom_attributes": custom})
    company = intercom_api(
        pipe, "POST", "/companies", {"company_id": f"na-company-{tag}", "name": "#N/A"}
    )
    intercom_api(pipe, "POST", f"/contacts/{company_na}/companies", {"id": company["id"]})
    intercom_api(pipe, "PUT", f"/contacts/{emoji}", {"name": EMOJI_NAME})
    return {"title": title_na, "company": company_na, "emoji": emoji}


def check_awkward(pipe: Pipeline, awkward: dict[str, str]) -> None:
    leads = {r["Intercom_Contact_ID__c"]: r for r in salesforce_view(pipe.salesforce).leads}
    assert leads[awkward["title"]]["Title"] == "#N/A"
    assert leads[awkward["company"]]["Company"] == "#N/A"
    emoji = leads[awkward["emoji"]]
    assert " ".join(p for p in (emoji["FirstName"], emoji["LastName"]) if p) == EMOJI_NAME


def test_na_values_and_emoji_names_arrive_exactly_over_bulk_and_rest(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline()
    people = plain_people(intercom_truth(pipe))
    assert len(people) >= 6
    over_bulk = make_awkward(pipe, people[:3], "bulk")
    first = pipe.run(check=False, env={"TARGET_SALESFORCE_LEADS_TRANSPORT": "bulk"})
    assert first.returncode == 0, first.explain()
    assert "POST /jobs/ingest" in first.salesforce_by_endpoint
    check_awkward(pipe, over_bulk)

    pipe.intercom.admin("POST", "clock", {"advance": 3600})
    over_rest = make_awkward(pipe, people[3:6], "rest")
    second = pipe.run(check=False, env={"TARGET_SALESFORCE_LEADS_TRANSPORT": "rest"})
    assert second.returncode == 0, second.explain()
    assert "POST /jobs/ingest" not in second.salesforce_by_endpoint
    check_awkward(pipe, over_rest)
    check_awkward(pipe, over_bulk)
    account_for_everything(pipe).check()
