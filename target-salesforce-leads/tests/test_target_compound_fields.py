"""Compound fields in describe (Address, Name components, geolocation) over real sockets.

A compound field is read-only in Salesforce: the target writes components (City, Latitude)
and never the compound itself, which it refuses locally.
"""

from __future__ import annotations

from .target_sf_testlib import Harness, lead, record_msg, schema_msg


def test_components_are_written_and_the_compound_is_refused_locally(harness: Harness) -> None:
    schema = schema_msg("Lead")
    props = schema["schema"]["properties"]
    props["City"] = {"type": ["string", "null"]}
    props["Latitude"] = {"type": ["number", "null"]}
    result = harness.run(
        [
            schema,
            record_msg("Lead", lead(1, City="Berlin", Latitude=52.52)),
            {"type": "STATE", "value": {"s": 1}},
        ],
        transport="rest",
    )
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 1
    rows = harness.query("SELECT City, Latitude, Address FROM Lead")
    assert rows[0]["City"] == "Berlin" and rows[0]["Address"]["city"] == "Berlin"

    harness.sf.admin("POST", "stats/reset")
    schema = schema_msg("Lead")
    schema["schema"]["properties"]["Address"] = {"type": ["object", "null"]}
    result = harness.run(
        [
            schema,
            record_msg("Lead", lead(2, Address={"city": "Paris"})),
            {"type": "STATE", "value": {"s": 2}},
        ],
        transport="rest",
    )
    assert harness.write_calls() == 0  # never sent to Salesforce
    assert len(harness.query("SELECT Id FROM Lead")) == 1
    assert result.stream("Lead").get("created", 0) == 0
