"""At volume: 7,000 contacts and 2,000 conversations through real `meltano run`.

One copy of the session's volume workspace goes through these runs, in order (the tests of this
module depend on it): a full sync (Tasks of unknown people in the same batch as Tasks of Leads
a Bulk job created a moment before), a run in a fresh working directory that only keeps
Meltano's state, a run after people qualify who already had conversations, a dry run followed by
the real run, and a full refresh into a second, empty org. Every check is against the emulators'
own data (`account_for_everything`), never against the pipeline's reports.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from scripts.pipeline import (
    IntercomTruth,
    Pipeline,
    RunResult,
    account_for_everything,
    intercom_api,
    intercom_truth,
    salesforce_org_id,
    salesforce_view,
    usable_email,
)

pytestmark = pytest.mark.volume


def figures(label: str, result: RunResult, extra: dict[str, Any] | None = None) -> None:
    """Print a run's figures (shown with `pytest -s`; the report quotes them)."""
    objects = result.summary.get("objects", {})
    print(
        f"\n[{label}] exit {result.returncode}; Intercom calls {result.intercom_calls}; "
        f"Salesforce calls {result.salesforce_calls} "
        f"({json.dumps(result.salesforce_by_endpoint, sort_keys=True)}); "
        f"records written {json.dumps(result.salesforce_record_writes, sort_keys=True)}; "
        f"summary objects {json.dumps(objects, sort_keys=True)}; "
        f"status {result.summary.get('status')}"
        + (f"; {json.dumps(extra, sort_keys=True)}" if extra else "")
    )


def counts_per_external_id(pipe: Pipeline) -> tuple[Counter[str], Counter[str]]:
    view = salesforce_view(pipe.salesforce)
    leads = Counter(
        r["Intercom_Contact_ID__c"]
        for r in view.leads + view.contacts
        if r.get("Intercom_Contact_ID__c")
    )
    tasks = Counter(
        r["Intercom_Conversation_ID__c"] for r in view.tasks if r.get("Intercom_Conversation_ID__c")
    )
    return leads, tasks


# `vol` and its first run, `volume_full_sync`, are session fixtures (tests/conftest.py):
# tests/test_e2e_progress.py measures the log of the same run.


@pytest.fixture(scope="module")
def first(vol: Pipeline, volume_full_sync: RunResult) -> dict[str, Any]:
    result = volume_full_sync
    truth = intercom_truth(vol)
    acc = account_for_everything(vol, truth)
    figures("volume full sync", result, acc.figures)
    return {"result": result, "truth": truth, "accounting": acc}


def test_full_sync_at_volume_accounts_for_every_contact_and_conversation(
    first: dict[str, Any],
) -> None:
    result: RunResult = first["result"]
    assert result.returncode == 0, result.explain()
    first["accounting"].check()
    truth: IntercomTruth = first["truth"]
    assert len(truth.contacts) >= 7000 and len(truth.conversations) >= 2000


def test_tasks_at_volume_land_on_people_created_in_the_same_run(
    vol: Pipeline, first: dict[str, Any]
) -> None:
    """Many Tasks of unknown people share the batch with Tasks of Leads written just before."""
    truth: IntercomTruth = first["truth"]
    people = salesforce_view(vol.salesforce).person_ids()
    known = [c for c, p in truth.person_of.items() if p in people]
    unknown = [c for c, p in truth.person_of.items() if p and p not in people]
    assert len(known) >= 300 and len(unknown) >= 300, (len(known), len(unknown))
    assert "POST /jobs/ingest" in first["result"].salesforce_by_endpoint, "Leads went by Bulk"
    waiting = {w["external_id"]: w for w in vol.waiting_in_state() if w["stream"] == "Task"}
    assert set(unknown) <= set(waiting)
    assert {waiting[c]["error_code"] for c in unknown} == {"INVALID_CROSS_REFERENCE_KEY"}
    summary = first["result"].summary
    assert summary.get("status") == "warning", "records wait: the run ends with a warning"
    assert summary["objects"]["Task"]["waiting"] == len(waiting)
    assert summary["objects"]["Task"]["rejected"] == 0


def test_a_fresh_working_directory_loses_no_waiting_record_and_writes_nothing_twice(
    vol: Pipeline, first: dict[str, Any]
) -> None:
    """Only Meltano's state survives between runs (a new container): no hash file, no output."""
    waiting_before = {(w["stream"], w["external_id"]) for w in vol.waiting_in_state()}
    assert waiting_before
    leads_before, tasks_before = counts_per_external_id(vol)
    vol.fresh_working_directory()
    result = vol.run(check=False)
    figures("fresh working directory", result)
    assert result.returncode == 0, result.explain()
    waiting_after = {(w["stream"], w["external_id"]) for w in vol.waiting_in_state()}
    assert waiting_after == waiting_before
    leads_after, tasks_after = counts_per_external_id(vol)
    assert leads_after == leads_before and tasks_after == tasks_before
    assert max(leads_after.values()) == 1 and max(tasks_after.values()) == 1
    created = {k: n for k, n in result.salesforce_record_writes.items() if k.endswith("created")}
    assert created == {}, "nothing changed in Intercom, yet records were created"
    account_for_everything(vol, first["truth"]).check()


@pytest.fixture(scope="module")
def later(vol: Pipeline, first: dict[str, Any]) -> dict[str, Any]:
    """People who did not qualify, with conversations waiting, qualify now (through the API)."""
    truth: IntercomTruth = first["truth"]
    waiting_people = {
        truth.person_of[w["external_id"]]
        for w in vol.waiting_in_state()
        if w["stream"] == "Task" and truth.person_of.get(w["external_id"])
    }
    candidates = sorted(
        cid
        for cid in waiting_people
        if cid not in truth.qualifying and cid in truth.contacts and truth.contacts[cid]["email"]
    )
    chosen = [c for c in candidates if usable_email(truth.contacts[c].get("email"))][:30]
    assert len(chosen) >= 20
    sales_qualified = next(
        t["id"] for t in intercom_api(vol, "GET", "/tags")["data"] if t["name"] == "sales-qualified"
    )
    for i, cid in enumerate(chosen):
        if i % 2:  # half by tag, half by the qualification attribute
            intercom_api(vol, "POST", f"/contacts/{cid}/tags", {"id": sales_qualified})
        else:
            custom = dict(truth.contacts[cid].get("custom_attributes") or {})
            custom["qualification"] = "hand_to_sales"
            intercom_api(vol, "PUT", f"/contacts/{cid}", {"custom_attributes": custom})
    runs = [vol.run(check=False)]
    figures("people qualify later", runs[0])
    convs = {c for c, p in truth.person_of.items() if p in chosen}
    people = salesforce_view(vol.salesforce).person_ids()
    tasks = {t["Intercom_Conversation_ID__c"] for t in salesforce_view(vol.salesforce).tasks}
    if not convs <= tasks or not set(chosen) <= set(people):  # "in that run or the next"
        runs.append(vol.run(check=False))
        figures("people qualify later, next run", runs[-1])
    return {"chosen": chosen, "conversations": convs, "runs": runs}


def test_people_who_qualify_later_get_their_earlier_conversations_as_tasks(
    vol: Pipeline, later: dict[str, Any]
) -> None:
    for result in later["runs"]:
        assert result.returncode == 0, result.explain()
    view = salesforce_view(vol.salesforce)
    people = view.person_ids()
    missing = [cid for cid in later["chosen"] if cid not in people]
    assert not missing, f"people who qualified are no Lead: {missing[:5]}"
    truth = intercom_truth(vol)
    tasks = {t["Intercom_Conversation_ID__c"]: t for t in view.tasks}
    for conv_id in later["conversations"]:
        assert conv_id in tasks, f"conversation {conv_id} of a newly qualified person is no Task"
        person = truth.person_of[conv_id]
        assert person is not None, f"conversation {conv_id} has no contact in the emulator"
        assert tasks[conv_id]["WhoId"] == people[person]
    account_for_everything(vol, truth).check()


@pytest.fixture(scope="module")
def dry_then_real(vol: Pipeline, later: dict[str, Any]) -> dict[str, Any]:
    touched = vol.intercom.admin("POST", "simulate", {"steps": 80, "seed": 21})
    state_before = vol.state()
    waiting_file_before = vol.waiting_file.read_text() if vol.waiting_file.exists() else None
    hashes_before = vol.hash_store_dump()
    dry = vol.run(check=False, env={"TARGET_SALESFORCE_LEADS_DRY_RUN": "true"})
    figures("dry run", dry)
    after_dry = {
        "state": vol.state(),
        "waiting_file": vol.waiting_file.read_text() if vol.waiting_file.exists() else None,
        "hashes": vol.hash_store_dump(),
    }
    real = vol.run(check=False)
    figures("real run after the dry run", real)
    return {
        "touched": touched,
        "state_before": state_before,
        "waiting_file_before": waiting_file_before,
        "hashes_before": hashes_before,
        "dry": dry,
        "after_dry": after_dry,
        "real": real,
    }


def test_dry_run_writes_nothing_and_moves_no_bookmark(dry_then_real: dict[str, Any]) -> None:
    dry: RunResult = dry_then_real["dry"]
    assert dry.returncode == 0, dry.explain()
    assert dry.summary.get("dry_run") is True
    assert dry.salesforce_record_writes == {}
    assert dry.salesforce_write_calls == 0, dry.salesforce_by_endpoint
    after = dry_then_real["after_dry"]
    assert after["state"] == dry_then_real["state_before"], "the dry run changed Meltano's state"
    assert after["waiting_file"] == dry_then_real["waiting_file_before"]
    assert after["hashes"] == dry_then_real["hashes_before"], "the dry run wrote content hashes"


def test_real_run_after_a_dry_run_writes_everything_it_previewed(
    vol: Pipeline, dry_then_real: dict[str, Any]
) -> None:
    dry: RunResult = dry_then_real["dry"]
    real: RunResult = dry_then_real["real"]
    assert real.returncode == 0, real.explain()
    previewed = {
        sobject: (counts.get("created", 0), counts.get("updated", 0))
        for sobject, counts in dry.summary.get("objects", {}).items()
    }
    done = {
        sobject: (counts.get("created", 0), counts.get("updated", 0))
        for sobject, counts in real.summary.get("objects", {}).items()
    }
    assert sum(c + u for c, u in previewed.values()) > 0, "the dry run previewed nothing"
    assert done == previewed
    for sobject, (created, _updated) in previewed.items():
        assert real.salesforce_record_writes.get(f"{sobject} created", 0) == created, sobject
    truth = intercom_truth(vol)
    account_for_everything(vol, truth).check()
    # The touched people are up to date: the dry run did not make the real run skip them.
    leads = {
        r["Intercom_Contact_ID__c"]: r
        for r in salesforce_view(vol.salesforce).leads
        if not r.get("IsConverted")
    }
    checked = 0
    for cid in dry_then_real["touched"]["contacts"]:
        if cid in leads and cid in truth.contacts:
            custom = truth.contacts[cid].get("custom_attributes") or {}
            assert leads[cid]["Intercom_Sessions__c"] == custom.get("session_count"), cid
            checked += 1
    assert checked > 0


def test_a_second_org_gets_every_lead_with_the_same_project_and_hash_file(
    vol: Pipeline, dry_then_real: dict[str, Any]
) -> None:
    first_org = vol.salesforce
    first_view = salesforce_view(first_org)
    second_org = vol.add_salesforce("salesforce-org2")  # its own data dir: its own org id
    assert salesforce_org_id(first_org) != salesforce_org_id(second_org), (
        "the second emulator must be another org (another org id)"
    )
    assert vol.target_hashes.exists(), "the first org's hash file should still be there"
    vol.use_salesforce(second_org)
    try:
        result = vol.run("--full-refresh", check=False)
        figures("second org, full refresh", result)
        assert result.returncode == 0, result.explain()
        second_view = salesforce_view(second_org)
        first_ids = {r["Intercom_Contact_ID__c"] for r in first_view.leads}
        second_ids = {r["Intercom_Contact_ID__c"] for r in second_view.leads}
        assert second_ids == first_ids
        account_for_everything(vol, org=second_org).check()
    finally:
        vol.use_salesforce(first_org)
