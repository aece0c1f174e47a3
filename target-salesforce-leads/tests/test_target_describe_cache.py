"""The describe cache between runs: reused when fresh, re-fetched when a record doubts it."""

from __future__ import annotations

from pathlib import Path

from emulators.testing import EmulatorProcess

from .target_sf_testlib import Harness, lead, lead_messages


def _describe_calls(sf: EmulatorProcess) -> int:
    return sum(n for ep, n in sf.stats()["by_endpoint"].items() if ep.endswith("/describe"))


def test_second_run_reuses_the_describe(harness: Harness) -> None:
    assert harness.run(lead_messages([lead(1)])).stream("Lead")["created"] == 1
    harness.sf.reset_stats()
    result = harness.run(lead_messages([lead(2)]))
    assert result.stream("Lead")["created"] == 1
    assert _describe_calls(harness.sf) == 0
    # Off: fetched every run.
    harness.sf.reset_stats()
    harness.run(lead_messages([lead(3)]), describe_cache_seconds=0)
    assert _describe_calls(harness.sf) == 1


def test_new_field_is_found_although_the_cached_describe_lacks_it(tmp_path: Path) -> None:
    data = tmp_path / "sf"
    port = None
    with EmulatorProcess("salesforce", data) as sf:
        port = sf.port
        harness = Harness(sf, tmp_path)
        assert harness.run(lead_messages([lead(1)])).stream("Lead")["created"] == 1
    extra = tmp_path / "extra.yml"
    extra.write_text("Lead:\n  Favourite_Colour__c: {type: Text, length: 40}\n")
    # Same org (data dir) and address, now with a field the cached describe does not know.
    with EmulatorProcess("salesforce", data, args=["--schema", str(extra)], port=port) as sf:
        harness = Harness(sf, tmp_path)
        harness.runs = 10
        msgs = lead_messages([lead(2, Favourite_Colour__c="teal")])
        msgs[0]["schema"]["properties"]["Favourite_Colour__c"] = {"type": ["string", "null"]}
        result = harness.run(msgs)
        assert result.returncode == 0, result.stderr
        assert result.stream("Lead")["created"] == 1, result.rejects
        assert _describe_calls(sf) == 1
        rows = harness.query(
            "SELECT Favourite_Colour__c FROM Lead WHERE Intercom_Contact_ID__c = 'ic_2'"
        )
        assert rows[0]["Favourite_Colour__c"] == "teal"
