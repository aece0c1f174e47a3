"""Recovery, through real `meltano run` against both emulators.

A run killed with SIGKILL at random moments loses and duplicates nothing once a clean run
follows; a Lead deleted by hand in Salesforce comes back; a lead merged into a user in Intercom
ends as one correct Lead; one project directory serves two environments (and two orgs) without
one's state or hashes leaking into the other's. Every end state is checked against the
emulators' own data with `account_for_everything`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.pipeline import (
    Pipeline,
    RunningJob,
    account_for_everything,
    intercom_api,
    intercom_truth,
    read_jsonl,
    salesforce_org_id,
    salesforce_view,
)

# Seeded, so that a failure reproduces: the same thresholds and delays every time.
KILL_SEED = 20261201


def wait_until(job: RunningJob, condition: Callable[[], bool], what: str, timeout: float = 300):
    """Poll the emulators' admin surface until `condition` holds while the run is still alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not job.alive():
            raise AssertionError(f"the run ended before {what}")
        if condition():
            return
        time.sleep(0.05)
    job.kill_group()
    raise AssertionError(f"no {what} within {timeout} s")


def endpoint_calls(pipe: Pipeline, endpoint: str) -> int:
    return int(pipe.salesforce.stats().get("by_endpoint", {}).get(endpoint, 0))


def test_kill_9_at_random_moments_then_a_clean_run_loses_and_duplicates_nothing(
    make_pipeline: Callable[..., Pipeline], medium_template: Path
) -> None:
    rng = random.Random(KILL_SEED)
    # Bulk for every write (low threshold), processed slowly enough to be caught mid-job.
    pipe = make_pipeline(
        medium_template,
        salesforce_args=["--bulk-rate", "400"],
        TARGET_SALESFORCE_LEADS_BULK_THRESHOLD="50",
    )
    moments: list[str] = []

    # 1. During extraction: after a random number of Intercom calls.
    calls = rng.randint(100, 1200)
    job = pipe.start_run()
    wait_until(
        job,
        lambda: int(pipe.intercom.stats().get("api_calls", 0)) >= calls,
        f"{calls} Intercom calls",
    )
    job.kill_group()
    moments.append(f"after {calls} Intercom calls")

    # 2. Right after a Bulk job is created (before its data is uploaded).
    job = pipe.start_run("--force")  # Meltano still sees the killed run as running
    wait_until(job, lambda: endpoint_calls(pipe, "POST /jobs/ingest") >= 1, "a Bulk job")
    job.kill_group()
    moments.append("right after a Bulk job was created")

    # 3. Mid Bulk job: uploaded and closed, while Salesforce processes it.
    delay = rng.uniform(0.05, 0.8)
    job = pipe.start_run("--force")
    wait_until(
        job,
        lambda: endpoint_calls(pipe, "PATCH /jobs/ingest/{job}") >= 1,
        "a Bulk job closed for processing",
    )
    time.sleep(delay)
    assert job.alive(), "the run finished before the moment chosen to kill it"
    job.kill_group()
    moments.append(f"{delay:.2f} s into a Bulk job")

    left = list((pipe.system_dir / "run").glob("*/*.config.json"))
    # Only the last killed run's config files (tap, mapper, target; secrets included): each run
    # after a kill removed the ones the kill before it left.
    assert sorted(p.parent.name for p in left) == [
        "map-intercom-salesforce",
        "tap-intercom-events",
        "target-salesforce-leads",
    ], left
    clean = pipe.run("--force", check=False)
    print(f"\n[kill -9] killed {moments}; clean run: {clean.salesforce_record_writes}")
    assert clean.returncode == 0, clean.explain()
    assert not [p for p in left if p.exists()], "the killed runs' config files are still there"
    acc = account_for_everything(pipe)
    assert acc.ok(), f"after kills {moments}: {acc.report()}\nfigures: {acc.figures}"


def test_a_lead_deleted_in_salesforce_comes_back(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline()
    first = pipe.run(check=False)
    assert first.returncode == 0, first.explain()
    lead = sorted(salesforce_view(pipe.salesforce).leads, key=lambda r: r["Id"])[0]
    pipe.salesforce.delete_record("Lead", lead["Id"])

    def back() -> bool:
        return any(
            r["Intercom_Contact_ID__c"] == lead["Intercom_Contact_ID__c"] and not r["IsConverted"]
            for r in salesforce_view(pipe.salesforce).leads
        )

    assert not back()
    second = pipe.run(check=False)
    assert second.returncode == 0, second.explain()
    when = "in the next run"
    if not back():  # at the latest after `meltano state clear`
        when = "after meltano state clear"
        pipe.meltano("state", "clear", "--force", pipe.state_id())
        third = pipe.run(check=False)
        assert third.returncode == 0, third.explain()
    assert back(), "the deleted Lead did not come back"
    print(f"\n[deleted Lead] came back {when}")
    account_for_everything(pipe).check()


def test_a_lead_merged_into_a_user_in_intercom_ends_as_one_correct_lead(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline()
    manifest = pipe.intercom.admin("GET", "seed/manifest")["manifest"]
    pair = manifest["email_duplicate"]
    roles = {cid: intercom_api(pipe, "GET", f"/contacts/{cid}")["role"] for cid in pair}
    lead_id = next(c for c, r in roles.items() if r == "lead")
    user_id = next(c for c, r in roles.items() if r == "user")
    email = intercom_api(pipe, "GET", f"/contacts/{user_id}")["email"].strip().lower()
    for cid in pair:
        pipe.intercom.admin("POST", f"contacts/{cid}/qualify")
    first = pipe.run(check=False)
    assert first.returncode == 0, first.explain()

    def holders() -> list[dict[str, Any]]:
        view = salesforce_view(pipe.salesforce)
        return [
            r
            for r in [x for x in view.leads if not x["IsConverted"]] + view.contacts
            if (r.get("Email") or "").lower() == email
        ]

    assert len(holders()) == 1
    before = [
        (r["external_id"], r["error_code"])
        for r in read_jsonl(pipe.target_rejects)
        if r["external_id"] in pair
    ]
    print(f"\n[merge] before: holder {holders()[0]['Intercom_Contact_ID__c']}, rejects {before}")

    intercom_api(pipe, "POST", "/contacts/merge", {"from": lead_id, "into": user_id})
    second = pipe.run(check=False)
    assert second.returncode == 0, second.explain()
    [holder] = holders()
    assert holder["Intercom_Contact_ID__c"] == user_id

    third = pipe.run(check=False)
    assert third.returncode == 0, third.explain()
    for result in (second, third):
        duplicates = [
            r
            for r in read_jsonl(pipe.target_rejects)
            if r.get("run_id") == result.summary.get("run_id")
            and r["error_code"] == "DUPLICATES_DETECTED"
        ]
        assert not duplicates, duplicates[:2]
    assert [h["Intercom_Contact_ID__c"] for h in holders()] == [user_id]
    account_for_everything(pipe).check()


def test_dev_then_staging_from_one_project_directory_each_with_its_own_state_and_org(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline()
    dev = pipe.run(check=False)
    assert dev.returncode == 0, dev.explain()
    dev_org = pipe.salesforce
    dev_state = pipe.state()
    dev_leads = {r["Intercom_Contact_ID__c"] for r in salesforce_view(dev_org).leads}

    sandbox = pipe.add_salesforce("salesforce-sandbox")
    assert salesforce_org_id(sandbox) != salesforce_org_id(dev_org)
    pipe.environment = "staging"  # same project dir, same hash file, other org
    pipe.use_salesforce(sandbox)
    staging = pipe.run(check=False)
    assert staging.returncode == 0, staging.explain()
    assert {r["Intercom_Contact_ID__c"] for r in salesforce_view(sandbox).leads} == dev_leads
    account_for_everything(pipe, org=sandbox).check()
    assert {i.split(":")[0] for i in pipe.state_ids()} >= {"dev", "staging"}

    pipe.environment = "dev"
    pipe.use_salesforce(dev_org)
    assert pipe.state() == dev_state, "the staging run changed dev's state"
    again = pipe.run(check=False)
    assert again.returncode == 0, again.explain()
    assert again.salesforce_record_writes == {}, "dev's hashes did not survive the staging run"
    account_for_everything(pipe, intercom_truth(pipe)).check()
