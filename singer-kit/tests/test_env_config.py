"""Number settings given as environment variables."""

from __future__ import annotations

from singer_kit.env_config import numbers_parsed

SCHEMA = {
    "properties": {
        "share": {"type": ["number", "null"]},
        "pages": {"type": ["integer"]},
        "name": {"type": ["string"]},
    }
}


def test_number_settings_become_numbers_and_others_stay() -> None:
    config = {"share": "0.5", "pages": 3, "name": "7", "extra": "1.5"}
    parsed = numbers_parsed(config, SCHEMA)
    assert parsed == {"share": 0.5, "pages": 3, "name": "7", "extra": "1.5"}
    assert config["share"] == "0.5"  # a copy


def test_a_value_that_is_no_number_is_left_for_validation_to_name() -> None:
    assert numbers_parsed({"share": "half"}, SCHEMA) == {"share": "half"}
    assert numbers_parsed({"share": 1}, SCHEMA) == {"share": 1}
    assert numbers_parsed({}, {}) == {}
