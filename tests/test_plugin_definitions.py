"""The plugin definitions other Meltano projects reuse with `meltano add --from-ref`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts.pipeline import MELTANO, ROOT

DEFINITIONS = [
    ("extractors", "tap-intercom-events", "tap-intercom-events", "access_token"),
    ("loaders", "target-salesforce-leads", "target-salesforce-leads", "client_secret"),
    ("mappers", "map-intercom-salesforce", "transform", None),
    ("utilities", "intercom-webhook-receiver", "tap-intercom-events[receiver]", "client_secret"),
]


def test_meltano_yml_and_definitions_match_what_the_plugins_document() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "plugin_definitions.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_setting_has_a_description_and_secrets_are_sensitive() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    everything = [p for kind in project["plugins"].values() for p in kind]
    # Plugins that inherit_from another take its settings (e.g. tap-intercom-realtime).
    plugins = [p for p in everything if "inherit_from" not in p]
    assert {p["name"] for p in plugins} == {name for _, name, _, _ in DEFINITIONS}
    for plugin in everything:
        assert plugin.get("inherit_from", plugin["name"]) in {p["name"] for p in plugins}
    for plugin in plugins:
        for setting in plugin["settings"]:
            assert setting.get("description"), f"{plugin['name']}.{setting['name']}"
            words = set(setting["name"].split("_"))
            if words & {"token", "secret", "password"} or setting["name"] == "private_key":
                assert setting.get("sensitive"), f"{plugin['name']}.{setting['name']}"


@pytest.mark.parametrize(("kind", "name", "package", "secret"), DEFINITIONS)
def test_add_from_ref_into_a_scratch_project(
    tmp_path: Path, kind: str, name: str, package: str, secret: str | None
) -> None:
    (tmp_path / "meltano.yml").write_text(
        "requires_meltano: '>=4.4'\nproject_id: scratch\nsend_anonymous_usage_stats: false\n"
        "venv:\n  backend: uv\n"
    )
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    ref = ROOT / "plugins" / kind / f"{name}.yml"
    added = subprocess.run(
        [
            MELTANO,
            "add",
            "--plugin-type",
            "utility" if kind == "utilities" else kind.rstrip("s"),
            "--no-install",
            "--from-ref",
            str(ref),
            name,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr[-3000:]
    project = yaml.safe_load((tmp_path / "meltano.yml").read_text())
    [plugin] = project["plugins"][kind]
    assert plugin["name"] == name
    # Install from this checkout instead of the git URLs: the shared packages the definition
    # names (its subdirectories), then the plugin itself; then ask the plugin itself.
    subdirectories = re.findall(r"#subdirectory=(\S+)", plugin["pip_url"])
    assert subdirectories[-1] == package.split("[")[0], plugin["pip_url"]
    shared = [f"-e {ROOT / d}" for d in subdirectories[:-1]]
    plugin["pip_url"] = " ".join([*shared, f"-e {ROOT / package}"])
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    subprocess.run(
        [MELTANO, "install"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    about = subprocess.run(
        [MELTANO, "invoke", name, "--about"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert about.returncode == 0, about.stderr[-3000:]
    if secret:
        env[f"{name.upper().replace('-', '_')}_{secret.upper()}"] = "not-to-be-shown"
        listed = subprocess.run(
            [MELTANO, "config", "list", name], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        line = next(ln for ln in listed.stdout.splitlines() if ln.startswith(secret))
        assert "(redacted)" in line and "not-to-be-shown" not in listed.stdout, line


def test_preflight_through_meltano_invoke(installed_plugins: None, tmp_path: Path) -> None:
    """The README's production step 1: `meltano invoke target-salesforce-leads --preflight`."""
    from scripts.pipeline import Pipeline

    with Pipeline(tmp_path) as pipe:
        ok = pipe.meltano("invoke", "target-salesforce-leads", "--preflight", check=False)
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert "Lead.Intercom_Contact_ID__c is an External ID" in ok.stdout
        pipe.extra_env["TARGET_SALESFORCE_LEADS_STREAM_SETTINGS"] = (
            '{"Lead": {"sobject": "Lead", "external_id_field": "Email"}}'
        )
        bad = pipe.meltano("invoke", "target-salesforce-leads", "--preflight", check=False)
        assert bad.returncode != 0
        assert "Email" in bad.stdout and "External ID" in bad.stdout
