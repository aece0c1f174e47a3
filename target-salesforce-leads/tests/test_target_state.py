"""What the target keeps in the state, and what it never skips: orgs, state clears, dry runs,
values on both transports, merged people, and runs that reject too much."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from emulators.testing import EmulatorProcess

from .target_sf_testlib import Harness, lead, lead_messages, record_msg, schema_msg, state_msg

LEAD_FIELDS = "Intercom_Contact_ID__c, FirstName, LastName, Company, Title, Email"


def _leads(harness: Harness) -> dict[str, dict]:
    return {
        r["Intercom_Contact_ID__c"]: r for r in harness.query(f"SELECT {LEAD_FIELDS} FROM Lead")
    }


def test_a_second_org_gets_every_record_though_the_hash_file_is_shared(
    harness: Harness, tmp_path: Path
) -> None:
    records = [lead(i) for i in range(50)]
    first = harness.run(lead_messages(records, {"s": 1}))
    assert first.stream("Lead")["created"] == 50
    with EmulatorProcess("salesforce", tmp_path / "sf2") as sf2:
        assert sf2.org_id != harness.sf.org_id
        other = Harness(sf2, tmp_path)  # same hash file (state_path), another org
        other.runs = 100
        other.last_state = harness.last_state  # even with the first org's state given back
        second = other.run(lead_messages(records, {"s": 2}))
        assert second.returncode == 0, second.stderr
        assert second.stream("Lead")["created"] == 50 and second.stream("Lead")["unchanged"] == 0
        assert len(other.query("SELECT Id FROM Lead")) == 50
        # The state now holds both orgs' sections; the first org's is as it was.
        orgs = second.raw_states[-1]["target-salesforce-leads"]["orgs"]
        assert set(orgs) == {harness.sf.org_id, sf2.org_id}
        assert (
            orgs[harness.sf.org_id]
            == first.raw_states[-1]["target-salesforce-leads"]["orgs"][harness.sf.org_id]
        )
    # Back on the first org with that state: its hashes still skip what it has.
    harness.last_state = second.raw_states[-1]
    back = harness.run(lead_messages(records, {"s": 3}))
    assert back.stream("Lead")["unchanged"] == 50


def test_a_state_without_the_section_sends_everything_and_restores_deleted_leads(
    harness: Harness,
) -> None:
    records = [lead(i) for i in range(10)]
    harness.run(lead_messages(records, {"s": 1}))
    assert harness.run(lead_messages(records, {"s": 2})).stream("Lead")["unchanged"] == 10
    [gone] = harness.query("SELECT Id FROM Lead WHERE Intercom_Contact_ID__c = 'ic_3'")
    harness.sf.admin("DELETE", f"records/Lead/{gone['Id']}?hard=true")
    # `meltano state clear` or `--full-refresh`: the tap starts without any state.
    cleared = harness.run(lead_messages(records, {"s": 3}), carry_state=False)
    assert cleared.stream("Lead")["unchanged"] == 0
    assert cleared.stream("Lead")["created"] == 1 and cleared.stream("Lead")["updated"] == 9
    assert sorted(_leads(harness)) == sorted(f"ic_{i}" for i in range(10))


def test_old_hashes_are_not_trusted(harness: Harness) -> None:
    records = [lead(i) for i in range(3)]
    harness.run(lead_messages(records, {"s": 1}))
    time.sleep(1.2)
    again = harness.run(lead_messages(records, {"s": 2}), hash_max_age_days=1 / 86400)
    assert again.stream("Lead")["updated"] == 3 and again.stream("Lead")["unchanged"] == 0


def test_a_dry_run_moves_no_state_and_writes_no_hash(harness: Harness) -> None:
    harness.run(lead_messages([lead(0)], {"s": 1}))
    before = harness.last_state
    changed = [lead(0, Title="Changed"), lead(1)]
    dry = harness.run(lead_messages(changed, {"s": 2}), dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert dry.raw_states == [] and "no state is emitted" in dry.stderr
    assert dry.stream("Lead")["created"] == 1 and dry.stream("Lead")["updated"] == 1
    assert harness.last_state == before
    real = harness.run(lead_messages(changed, {"s": 2}))
    assert (real.stream("Lead")["created"], real.stream("Lead")["updated"]) == (1, 1)
    assert _leads(harness)["ic_0"]["Title"] == "Changed"


@pytest.mark.parametrize("transport", ["bulk", "rest"])
def test_values_arrive_as_sent_on_both_transports(harness: Harness, transport: str) -> None:
    awkward = [
        lead(1, Title="#N/A", Company="#N/A"),
        lead(
            2,
            FirstName="Anna 👩‍💻",
            LastName="Lee 🇫🇷",
            Title="a\u0000b\u0007c\u001b[31mred\u001b[0m",
        ),
        lead(3, Title="tab\there, new\nline"),
    ]
    others = [lead(i) for i in range(10, 30)]
    result = harness.run(lead_messages(awkward + others, {"s": 1}), transport=transport)
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 23, result.summary
    got = _leads(harness)
    assert (got["ic_1"]["Title"], got["ic_1"]["Company"]) == ("#N/A", "#N/A")
    assert (got["ic_2"]["FirstName"], got["ic_2"]["LastName"]) == ("Anna 👩‍💻", "Lee 🇫🇷")
    assert got["ic_2"]["Title"] == "abcred"  # NUL, BEL and ANSI escapes removed
    assert got["ic_3"]["Title"] == "tab\there, new\nline"
    if transport == "bulk":  # the #N/A record went by REST, the rest by Bulk
        assert result.summary["api_calls_by_kind"].get("bulk")


def test_a_merged_person_takes_over_the_lead_of_the_person_merged_into_it(harness: Harness) -> None:
    harness.run(lead_messages([lead("old", Email="same@example.com")], {"s": 1}))
    # Intercom merged the lead ic_old into the user ic_new, who has the same email.
    survivor = lead("new", Email="same@example.com", LastName="Survivor", _adopt_by_email=True)
    msgs = lead_messages([survivor], {"s": 2})
    msgs[0]["schema"]["properties"]["_adopt_by_email"] = {"type": ["boolean", "null"]}
    result = harness.run(msgs)
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["updated"] == 1
    leads = harness.query("SELECT Intercom_Contact_ID__c, LastName FROM Lead")
    assert [(r["Intercom_Contact_ID__c"], r["LastName"]) for r in leads] == [("ic_new", "Survivor")]
    # The person whose Lead was taken over is not left silent: a reject line says where it went.
    [taken] = result.rejects
    assert (taken["external_id"], taken["error_code"]) == ("ic_old", "LEAD_TAKEN_OVER")
    assert "ic_new" in taken["message"]
    # Sent again unchanged, it is judged again (its hash was forgotten), not skipped.
    again = harness.run(lead_messages([lead("old", Email="same@example.com")], {"s": 3}))
    assert [r["error_code"] for r in again.rejects] == ["DUPLICATES_DETECTED"]
    assert again.stream("Lead").get("unchanged", 0) == 0
    # Without the flag, a second person with that email is still refused (never two Leads).
    dup = harness.run(lead_messages([lead("third", Email="same@example.com")], {"s": 4}))
    assert [r["error_code"] for r in dup.rejects] == ["DUPLICATES_DETECTED"]
    assert len(harness.query("SELECT Id FROM Lead")) == 1


@pytest.mark.parametrize("transport", ["rest", "bulk"])
def test_a_takeover_in_the_batch_of_the_old_holder_leaves_one_lead(
    harness: Harness, transport: str
) -> None:
    """The merged person and the person merged into it in one batch, the survivor first (as
    the batch job reads two contacts changed in one second, by id): the survivor takes the
    Lead over by its Id, so the old holder's upsert by its own external id would find no Lead
    and create a second one with the email. It is refused instead, and judged when sent again.
    """
    old = lead("old", Email="same@example.com")
    harness.run(lead_messages([old], {"s": 1}), transport=transport)
    survivor = lead("new", Email="same@example.com", LastName="Survivor", _adopt_by_email=True)
    msgs = lead_messages([survivor, {**old, "Title": "changed"}], {"s": 2})
    msgs[0]["schema"]["properties"]["_adopt_by_email"] = {"type": ["boolean", "null"]}
    result = harness.run(msgs, transport=transport)
    assert result.returncode == 0, result.stderr
    leads = harness.query("SELECT Intercom_Contact_ID__c, LastName FROM Lead")
    assert [(r["Intercom_Contact_ID__c"], r["LastName"]) for r in leads] == [("ic_new", "Survivor")]
    [taken] = result.rejects
    assert (taken["external_id"], taken["error_code"]) == ("ic_old", "LEAD_TAKEN_OVER")
    assert "ic_new" in taken["message"]
    result.assert_accounted("Lead", 2)
    # Its hash (of its first write) was forgotten: sent again as then, it is judged again.
    again = harness.run(lead_messages([old], {"s": 3}), transport=transport)
    assert [r["error_code"] for r in again.rejects] == ["DUPLICATES_DETECTED"]
    assert len(harness.query("SELECT Id FROM Lead")) == 1


def test_a_run_rejecting_most_records_exits_3_and_keeps_its_state(harness: Harness) -> None:
    bad = [lead(i, Email="not-an-email") for i in range(12)]
    result = harness.run(lead_messages(bad + [lead(99)], {"s": 1}))
    assert result.returncode == 3, result.stderr
    assert result.summary["exit_code"] == 3 and result.summary["status"] == "failed"
    assert result.raw_states == []  # read again once the cause is fixed
    assert "max_reject_share" in result.stderr
    ok = harness.run(lead_messages(bad + [lead(99)], {"s": 1}), max_reject_share=1.0)
    assert ok.returncode == 0 and ok.states == [{"s": 1}]


def test_records_waiting_too_long_are_rejected_with_their_reason(harness: Harness) -> None:
    msgs = [
        schema_msg("Task"),
        record_msg(
            "Task",
            {
                "Intercom_Conversation_ID__c": "conv_x",
                "Subject": "Hi",
                "Who": {"Intercom_Contact_ID__c": "ic_nobody"},
            },
        ),
        state_msg({"s": 1}),
    ]
    first = harness.run(msgs)
    assert first.stream("Task")["waiting"] == 1
    problems = harness.tmp / "problems.jsonl"
    time.sleep(1.2)
    later = harness.run(
        [state_msg({"s": 2})], waiting_max_days=1 / 86400, problems_file=str(problems)
    )
    assert later.returncode == 0, later.stderr
    [rej] = later.rejects
    assert rej["error_code"] == "WAITING_EXPIRED"
    assert "INVALID_CROSS_REFERENCE_KEY" in rej["message"]
    assert later.section()["waiting_count"] == 0
    [row] = [json.loads(x) for x in problems.read_text().splitlines()]
    assert (row["status"], row["external_id"]) == ("rejected", "conv_x")
