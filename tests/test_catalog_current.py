"""The committed catalog Meltano hands the tap instead of running discovery before every run.

Fast: one `tap-intercom-events --discover` (no API call) and no `meltano run`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import plugin_definitions as defs

ROOT = Path(__file__).resolve().parent.parent


def _entry(catalog: dict[str, Any], stream: str, prop: str | None = None) -> dict[str, Any]:
    [entry] = [s for s in catalog["streams"] if s["tap_stream_id"] == stream]
    crumb = [] if prop is None else ["properties", prop]
    [meta] = [m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == crumb]
    return meta


def test_committed_catalog_is_the_taps_discovery_with_meltano_yml_rules() -> None:
    committed = defs.CATALOG.read_text()
    current = defs.catalog_text((ROOT / "meltano.yml").read_text())
    assert committed == current, (
        f"{defs.CATALOG.relative_to(ROOT)} differs from the tap's --discover output with the "
        "select/metadata/schema rules of meltano.yml applied, so `meltano run` would sync with a "
        "stale catalog; run `.venv/bin/python scripts/plugin_definitions.py` and commit the "
        "result."
    )


def test_meltano_reads_the_committed_catalog_and_no_environment_sets_rules() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    # Raises with the reason when the extractor does not point at the file, or when an
    # environment sets select/metadata/schema (Meltano would silently ignore them).
    defs.tap_rules(project)
    [tap] = [p for p in project["plugins"]["extractors"] if p["name"] == defs.TAP]
    assert (ROOT / tap["catalog"]).is_file()
    assert "catalog" in tap["capabilities"]


def test_an_environment_with_its_own_select_is_refused() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    project["environments"][0]["config"]["plugins"]["extractors"][0]["select"] = ["contacts.*"]
    with pytest.raises(SystemExit, match="ignores these with a committed catalog"):
        defs.tap_rules(project)


def test_select_and_metadata_rules_reach_the_catalog_as_meltano_applies_them() -> None:
    discovered = json.loads(defs.CATALOG.read_text())
    catalog = defs.apply_rules(
        discovered,
        select=["contacts.*", "!contacts.email", "conversations.*"],
        metadata={"contacts": {"replication-method": "INCREMENTAL"}},
    )
    assert _entry(catalog, "contacts")["selected"] is True
    assert _entry(catalog, "contacts", "email")["selected"] is False
    assert _entry(catalog, "contacts", "name")["selected"] is True
    assert _entry(catalog, "contacts")["replication-method"] == "INCREMENTAL"
    assert _entry(catalog, "admins")["selected"] is False
    # The default rule (`*.*`, no select in meltano.yml) selects every stream and property.
    everything = defs.apply_rules(discovered)
    assert all(
        m["metadata"].get("selected") is True
        for s in everything["streams"]
        for m in s["metadata"]
        if m["metadata"].get("inclusion") != "unsupported"
    )
