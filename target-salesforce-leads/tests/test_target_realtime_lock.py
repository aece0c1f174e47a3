"""The batch job and the real-time job at once never create two Leads for one person.

Two real target processes write the same org (one emulator, its latency raised so their
look-ups and writes overlap), fed overlapping people at the same moment: the same emails
under different contact ids, and the same contact ids. Ground truth: the emulator's Leads.
"""

from __future__ import annotations

import collections
import json

from target_sf_live import LiveTarget
from target_sf_testlib import lead, record_msg, schema_msg, state_msg

ROUNDS = 3
PEOPLE = 4


def _run_both(harness, tmp_path, **overrides) -> tuple[list[dict], list[dict]]:
    """Both targets, each round's records sent to both at once; returns (Leads, rejects)."""
    harness.sf.admin("POST", "faults", {"kind": "latency", "ms": 300})
    targets = [
        LiveTarget(
            harness.config(
                drain_on_state=True,
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
        for r in range(1, ROUNDS + 1):
            for side, target in zip("ab", targets, strict=True):
                people = []
                for i in range(PEOPLE):
                    # One email, two contact ids (one per job)...
                    people.append(lead(f"{side}{r}_{i}", Email=f"shared{r}_{i}@example.com"))
                    # ...and one contact id both jobs write.
                    people.append(lead(f"both{r}_{i}", Email=f"both{r}_{i}@example.com"))
                target.send(*(record_msg("Lead", p) for p in people), state_msg({"round": r}))
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
