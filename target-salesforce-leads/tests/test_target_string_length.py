"""Text lengths are counted as Salesforce counts them, in UTF-16 code units (real sockets).

An emoji is a surrogate pair, two units toward a field's length; a record the org would
refuse with STRING_TOO_LONG is rejected locally, without a write call.
"""

from __future__ import annotations

from .target_sf_testlib import Harness, lead, lead_messages

EMOJI = "\U0001f600"


def test_emoji_at_the_edge_of_a_40_character_first_name(harness: Harness) -> None:
    fits = lead(1, FirstName="a" * 38 + EMOJI)  # 39 characters, 40 UTF-16 units
    too_long = lead(2, FirstName="a" * 39 + EMOJI)  # 40 characters, 41 UTF-16 units
    result = harness.run(lead_messages([fits], {"s": 1}), transport="rest")
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 1
    rows = harness.query("SELECT FirstName FROM Lead")
    assert [r["FirstName"] for r in rows] == [fits["FirstName"]]

    harness.sf.admin("POST", "stats/reset")
    result = harness.run(lead_messages([too_long], {"s": 2}), transport="rest")
    assert result.stream("Lead")["rejected"] == 1, result.summary
    assert [r["error_code"] for r in result.rejects] == ["STRING_TOO_LONG"], result.rejects
    assert harness.write_calls() == 0  # refused locally, no API call spent on it
    assert len(harness.query("SELECT Id FROM Lead")) == 1
