"""The batch job and the real-time job at once never create two Leads for one person.

Two real target processes write the same org (one emulator, its latency raised so their
look-ups and writes overlap), fed overlapping people at the same moment: the same emails
under different contact ids, and the same contact ids. Each has its own state_path (as two
plugins may): the Lead lock is one per org all the same. Ground truth: the emulator's Leads.
"""

from __future__ import annotations

import collections
import json
import typing as t

from .target_sf_live import LiveTarget
from .target_sf_testlib import lead, record_msg, schema_msg, state_msg

ROUNDS = 3
PAIR_ROUNDS = 6
PEOPLE = 4


def _overlapping(side: str, r: int) -> list[dict[str, t.Any]]:
    people = []
    for i in range(PEOPLE):
        # One email, two contact ids (one per job)...
        people.append(lead(f"{side}{r}_{i}", Email=f"shared{r}_{i}@example.com"))
        # ...and one contact id both jobs write.
        people.append(lead(f"both{r}_{i}", Email=f"both{r}_{i}@example.com"))
    return people


def _run_both(
    harness,
    tmp_path,
    people: t.Callable[[str, int], list[dict[str, t.Any]]] = _overlapping,
    rounds: int = ROUNDS,
    **overrides,
) -> tuple[list[dict], list[dict]]:
    """Both targets, each round's records sent to both at once; returns (Leads, rejects)."""
    harness.sf.admin("POST", "faults", {"kind": "latency", "ms": 300})
    targets = [
        LiveTarget(
            harness.config(
                drain_on_state=True,
                # Each round's records are one batch, written as its last record arrives, in
                # both processes at about the same moment (their look-ups and writes overlap).
                batch_size=2 * PEOPLE,
                state_path=str(tmp_path / name / "hashes.sqlite"),
                summary_file=str(tmp_path / f"summary-{name}.json"),
                waiting_file=str(tmp_path / f"waiting-{name}.jsonl"),
                problems_file=str(tmp_path / f"problems-{name}.jsonl"),
                **overrides,
            ),
            tmp_path / "live",
            name,
            # Two pipelines (their extractors), as Meltano runs them: each holds its own
            # run lock, and both share the org's Lead lock.
            env={"MELTANO_EXTRACTOR_NAME": extractor},
        )
        for name, extractor in (
            ("batch", "tap-intercom-events"),
            ("realtime", "tap-intercom-realtime"),
        )
    ]
    try:
        # Logged in and the describe read: from here on each round is look-ups and writes.
        for target in targets:
            target.send(schema_msg("Lead"), state_msg({"round": 0}))
        for target in targets:
            target.next_state(timeout=60)
        for r in range(1, rounds + 1):
            for side, target in zip("ab", targets, strict=True):
                records = (record_msg("Lead", p) for p in people(side, r))
                target.send(*records, state_msg({"round": r}))
            for target in targets:
                assert target.next_state(timeout=120)["round"] == r
        codes = [target.close() for target in targets]
        assert codes == [0, 0], [t.stderr()[-3000:] for t in targets]
    finally:
        for target in targets:
            target.close(timeout=30)
        harness.sf.admin("DELETE", "faults")
    leads = harness.query("SELECT Id, Intercom_Contact_ID__c, Email FROM Lead")
    reject_file = tmp_path / "rejects.jsonl"
    rejects = (
        [json.loads(x) for x in reject_file.read_text().splitlines()]
        if reject_file.exists()
        else []
    )
    return leads, rejects


def _duplicates(leads: list[dict], field: str) -> dict[str, int]:
    counts = collections.Counter(str(x[field]).lower() for x in leads if x.get(field))
    return {k: n for k, n in counts.items() if n > 1}


def test_two_targets_at_once_create_one_lead_per_email_and_per_contact(harness, tmp_path):
    leads, rejects = _run_both(harness, tmp_path)
    assert _duplicates(leads, "Email") == {}
    assert _duplicates(leads, "Intercom_Contact_ID__c") == {}
    emails = {str(x["Email"]).lower() for x in leads}
    for r in range(1, ROUNDS + 1):
        for i in range(PEOPLE):
            assert f"shared{r}_{i}@example.com" in emails
            assert f"both{r}_{i}@example.com" in emails
    # Of each shared email's two contact ids, the one that came second was refused, with why.
    refused = {x["external_id"] for x in rejects if x["error_code"] == "DUPLICATES_DETECTED"}
    kept = {x["Intercom_Contact_ID__c"] for x in leads}
    for r in range(1, ROUNDS + 1):
        for i in range(PEOPLE):
            pair = {f"ic_a{r}_{i}", f"ic_b{r}_{i}"}
            assert len(pair & kept) == 1 and len(pair & refused) == 1, (pair, kept, refused)


def test_without_the_lock_the_two_targets_create_duplicate_leads(harness, tmp_path):
    """The same run with lead_lock off: both processes find no Lead and both create one, so
    the test above fails without the lock."""
    leads, _ = _run_both(harness, tmp_path, lead_lock=False)
    assert _duplicates(leads, "Email"), "expected duplicate Leads without the lock"


def _merged_pairs(side: str, r: int) -> list[dict[str, t.Any]]:
    """Pairs of one email: a lead and the user Intercom merges it into (who takes its Lead
    over). The job sent its batch first (``a``, as the real-time job, quicker) has the lead
    first (its notifications' order), the other the user first (as the batch job reads two
    contacts changed in one second: by id)."""
    pairs = []
    for i in range(PEOPLE):
        email = f"pair{r}_{i}@example.com"
        holder = lead(f"lead{r}_{i}", Email=email)
        user = lead(f"user{r}_{i}", Email=email, _adopt_by_email=True)
        pairs += [holder, user] if side == "a" else [user, holder]
    return pairs


def test_a_takeover_by_one_job_while_the_other_writes_the_old_holder_leaves_one_lead(
    harness, tmp_path
):
    """Whichever job takes the lock first, each email ends with one Lead and the other person
    of its pair with a reason. When the real-time job goes first, the batch job finds the
    lead's Lead and sees its user take it over in the same batch as the lead itself: before
    the fix, the lead's upsert by its own id then created a second Lead with the email."""
    # Each round, the order the two jobs take the lock in is a race (won more often by the
    # one sent first): 6 rounds, so that without the fix nearly every run meets it.
    leads, rejects = _run_both(harness, tmp_path, _merged_pairs, rounds=PAIR_ROUNDS)
    assert _duplicates(leads, "Email") == {}
    assert _duplicates(leads, "Intercom_Contact_ID__c") == {}
    kept = {x["Intercom_Contact_ID__c"] for x in leads}
    refused = {x["external_id"] for x in rejects}
    for r in range(1, PAIR_ROUNDS + 1):
        for i in range(PEOPLE):
            pair = {f"ic_lead{r}_{i}", f"ic_user{r}_{i}"}
            assert len(pair & kept) == 1, (pair, kept)
            assert pair - kept <= refused, (pair, kept, refused)
