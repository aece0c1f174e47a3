"""The plugins as another project installs them, and the dev environment on other ports.

- A scratch project (`meltano init`) adds the three definitions of plugins/ with `meltano add
  --from-ref`, their git URL pointed at this checkout's committed HEAD (so CI installs the commit
  under test), installs them from git with uv, runs tap + mapping + target against the emulators
  and runs `meltano test`.
- `scripts/dev_emulators.py` on ports other than the dev environment's, with the variables it
  prints, serves a real `meltano run intercom-to-salesforce` and `meltano test` of this project.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from emulators.testing import EmulatorProcess, free_port

from scripts import dev_emulators
from scripts import plugin_definitions as defs
from scripts.pipeline import (
    MELTANO,
    ROOT,
    TARGET_STATE_KEY,
    Pipeline,
    account_for_everything,
    decode_waiting,
    intercom_truth,
    salesforce_view,
)

#: Small on purpose: the install dominates; a few dozen records exercise every stream.
SEED = {"contacts": 60, "conversations": 30, "seed": 3}
EMULATOR_CREDENTIALS = {
    "TAP_INTERCOM_EVENTS_ACCESS_TOKEN": "emulator-token",
    "TAP_INTERCOM_EVENTS_START_DATE": "2020-01-01T00:00:00Z",
    "TARGET_SALESFORCE_LEADS_CLIENT_ID": "emulator-client",
    "TARGET_SALESFORCE_LEADS_CLIENT_SECRET": "emulator-secret",
    "TARGET_SALESFORCE_LEADS_REFRESH_TOKEN": "emulator-refresh-token",
}
TESTS = ("tap-intercom-events:test", "map-intercom-salesforce:test", "target-salesforce-leads:test")


def meltano(
    cwd: Path, *args: str, env: dict[str, str], timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [MELTANO, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, f"meltano {' '.join(args)}: {proc.stderr[-5000:]}"
    return proc


def git_url_of_head() -> str:
    """`git+file://` URL of this checkout's HEAD commit (committed changes only)."""
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    return f"git+file://{ROOT}@{sha}"


def waiting_in(state: dict[str, Any]) -> list[dict[str, Any]]:
    section = (state.get("singer_state") or {}).get(TARGET_STATE_KEY) or {}
    orgs = (section.get("orgs") or {}).values()
    return [entry for org in orgs for entry in decode_waiting(org.get("waiting"))]


def assert_leads_are_what_qualifies(pipe: Any, org: EmulatorProcess) -> None:
    """Every qualifying contact's usable email is exactly one Lead; no other Lead exists."""
    truth = intercom_truth(pipe)
    leads = salesforce_view(org).leads
    assert leads, "no Lead written"
    assert {lead["Intercom_Contact_ID__c"] for lead in leads} <= set(truth.emails)
    emails = [lead["Email"].lower() for lead in leads]
    assert sorted(emails) == sorted(set(truth.emails.values())), (
        f"{len(leads)} Leads for {len(set(truth.emails.values()))} qualifying emails"
    )


def assert_tests_passed(proc: subprocess.CompletedProcess[str]) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    for test in TESTS:
        assert re.search(rf"^{re.escape(test)}\.* success$", out, re.M | re.I), (
            f"{test} not run:\n{out[-3000:]}"
        )


def test_plugins_install_with_meltano_add_from_ref_and_run(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    for name in [k for k in env if k.startswith(("MELTANO_", "TAP_", "TARGET_", "MAPPER_"))]:
        if name != "MELTANO_SEND_ANONYMOUS_USAGE_STATS":
            del env[name]
    meltano(tmp_path, "init", "--no-usage-stats", "scratch", env=env)
    project = tmp_path / "scratch"
    settings = yaml.safe_load((project / "meltano.yml").read_text())
    settings["venv"] = {"backend": "uv"}
    (project / "meltano.yml").write_text(yaml.safe_dump(settings, sort_keys=False))

    url = git_url_of_head()
    for plugin in defs.PLUGINS:
        source = ROOT / "plugins" / plugin["type"] / f"{plugin['name']}.yml"
        text = source.read_text()
        assert f"{defs.REPOSITORY}#subdirectory={plugin['package']}\n" in text
        ref = tmp_path / source.name
        ref.write_text(text.replace(defs.REPOSITORY, url))
        meltano(
            project,
            "add",
            "--plugin-type",
            plugin["type"],
            "--no-install",
            "--from-ref",
            str(ref),
            plugin["name"],
            env=env,
        )
    with Pipeline(tmp_path_factory.mktemp("emulators")) as pipe:
        mapping = {
            "name": defs.MAPPING,
            "config": {
                "reject_file": str(pipe.mapper_rejects),
                "problems_file": str(pipe.output / "problems" / "map-intercom-salesforce.jsonl"),
            },
        }
        # The README's step after `meltano add` (Meltano does not copy a definition's mappings).
        meltano(
            project,
            "config",
            "set",
            "map-intercom-salesforce",
            "_mappings",
            json.dumps([mapping]),
            env=env,
        )
        started = time.monotonic()
        meltano(project, "install", env=env, timeout=1200)
        install_seconds = time.monotonic() - started
        for plugin in defs.PLUGINS:
            venv = project / ".meltano" / plugin["type"] / plugin["name"] / "venv"
            # Installed from git at the commit under test, not in editable mode from here.
            # The plugin's package and the shared packages it needs, each from its folder.
            origins = venv.glob("lib/python*/site-packages/*.dist-info/direct_url.json")
            direct = [d for p in origins if "vcs_info" in (d := json.loads(p.read_text()))]
            assert {d["vcs_info"]["commit_id"] for d in direct} == {url.rsplit("@", 1)[1]}
            assert sorted(d["subdirectory"] for d in direct) == sorted(
                [*defs.local_packages(plugin["package"]), plugin["package"]]
            ), direct

        pipe.intercom.admin("POST", "seed", SEED)
        run_env = {**pipe.env(), **EMULATOR_CREDENTIALS}
        run = meltano(
            project,
            "run",
            "tap-intercom-events",
            defs.MAPPING,
            "target-salesforce-leads",
            env=run_env,
            timeout=900,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-6000:]
        assert_leads_are_what_qualifies(pipe, pipe.salesforce)
        [state_id] = meltano(project, "state", "list", env=run_env).stdout.split()
        state = json.loads(meltano(project, "state", "get", state_id, env=run_env).stdout)
        account_for_everything(pipe, waiting=waiting_in(state)).check()

        assert_tests_passed(meltano(project, "test", "--all", env=run_env, check=False))
        # The tests test something: a revoked token fails the tap's.
        bad = meltano(
            project,
            "test",
            "tap-intercom-events:test",
            check=False,
            env={**run_env, "TAP_INTERCOM_EVENTS_ACCESS_TOKEN": "revoked"},
        )
        assert bad.returncode != 0
        assert "refused the access token" in bad.stdout + bad.stderr
    print(f"meltano install of the plugins from git: {install_seconds:.1f} s")


def test_dev_emulators_print_nothing_for_the_dev_environment_defaults() -> None:
    assert dev_emulators.dev_env(8765, 8766, dev_emulators.DEV_DATA_DIR) == {}
    env = dev_emulators.dev_env(9001, 9002, Path("/tmp/elsewhere"))
    assert env == {
        "TAP_INTERCOM_EVENTS_API_URL": "http://127.0.0.1:9001",
        "TARGET_SALESFORCE_LEADS_LOGIN_URL": "https://127.0.0.1:9002",
        "TARGET_SALESFORCE_LEADS_INSTANCE_URL": "https://127.0.0.1:9002",
        "TARGET_SALESFORCE_LEADS_CA_BUNDLE": "/tmp/elsewhere/salesforce/ca.pem",
    }
    dev = next(
        e
        for e in yaml.safe_load((ROOT / "meltano.yml").read_text())["environments"]
        if e["name"] == "dev"
    )
    plugins = dev["config"]["plugins"]
    assert plugins["extractors"][0]["config"]["api_url"] == "http://127.0.0.1:8765"
    assert plugins["loaders"][0]["config"]["login_url"] == "https://127.0.0.1:8766"


def test_dev_environment_on_other_ports(installed_plugins: None, tmp_path: Path) -> None:
    ic_port, sf_port = free_port(), free_port()
    assert {ic_port, sf_port}.isdisjoint({8765, 8766})
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "dev_emulators.py"),
            "--intercom-port",
            str(ic_port),
            "--salesforce-port",
            str(sf_port),
            "--data-dir",
            str(data),
            "--contacts",
            str(SEED["contacts"]),
            "--conversations",
            str(SEED["conversations"]),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        printed = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                break
            printed.append(line)
            if line.startswith("Ready"):
                break
        assert printed and printed[-1].startswith("Ready"), "".join(printed)
        exported = dict(
            line.removeprefix("export ").strip().split("=", 1)
            for line in printed
            if line.startswith("export ")
        )
        assert exported == dev_emulators.dev_env(ic_port, sf_port, data)
        out = tmp_path / "output"
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TARGET_SALESFORCE_LEADS_REJECT_FILE": str(out / "rejects.jsonl"),
            "TARGET_SALESFORCE_LEADS_SUMMARY_FILE": str(out / "summary.json"),
            "TARGET_SALESFORCE_LEADS_WAITING_FILE": str(out / "waiting.jsonl"),
            "TARGET_SALESFORCE_LEADS_PROBLEMS_FILE": str(out / "problems.jsonl"),
            "TARGET_SALESFORCE_LEADS_STATE_PATH": str(tmp_path / "hashes.sqlite"),
            "MAPPER_REJECT_FILE": str(out / "mapper-rejects.jsonl"),
            "MAPPER_PROBLEMS_FILE": str(out / "mapper-problems.jsonl"),
            **exported,
        }
        # Only what the script printed points Meltano at the emulators (no credentials given:
        # the dev environment's own).
        for name in ("TAP_INTERCOM_EVENTS_ACCESS_TOKEN", "TARGET_SALESFORCE_LEADS_CLIENT_ID"):
            env.pop(name, None)
        intercom = EmulatorProcess("intercom", data / "intercom", port=ic_port)
        salesforce = EmulatorProcess("salesforce", data / "salesforce", port=sf_port)
        assert_tests_passed(meltano(ROOT, "test", "--all", env=env, check=False))
        # The tap's test reached this emulator, and left no companies scroll open (Intercom
        # allows one per app: the run would wait a minute for it).
        called = intercom.stats()["by_endpoint"]
        assert "GET /admins" in called and "GET /companies/scroll" not in called, called
        # The README's full preflight, through the plugins' commands.
        schemas = meltano(ROOT, "invoke", "intercom-salesforce-mapping:schemas", env=env)
        preflight = subprocess.run(
            [MELTANO, "invoke", "target-salesforce-leads:preflight"],
            cwd=ROOT,
            env=env,
            input=schemas.stdout,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert preflight.returncode == 0, preflight.stdout + preflight.stderr[-3000:]
        assert "NOTE  fields from 2 SCHEMA message(s) on standard input" in preflight.stdout
        intercom.reset_stats()
        run = meltano(ROOT, "run", "intercom-to-salesforce", env=env, timeout=900, check=False)
        assert run.returncode == 0, run.stderr[-6000:]
        assert "another scroll is open" not in run.stderr
        assert intercom.stats()["api_calls"] > 0
        assert_leads_are_what_qualifies(SimpleNamespace(intercom=intercom), salesforce)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
