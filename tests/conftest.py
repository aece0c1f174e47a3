"""End-to-end fixtures: real `meltano run` against both emulators on free loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scripts.pipeline import (
    FAST_INTERCOM_ARGS,
    Pipeline,
    RunResult,
    meltano_install,
    meltano_install_once,
    seed_intercom_template,
)

SEED = {"contacts": 160, "conversations": 80, "seed": 3}
# The volume workspace: seeded once per session, copied into every pipeline that needs it.
VOLUME = {"contacts": 7000, "conversations": 2000, "seed": 11}
# A small workspace for the failure scenarios (each test copies it into its own pipeline).
SMALL = {"contacts": 300, "conversations": 150, "seed": 5}
# For the kill -9 and wrong-secret scenarios: big enough that a full sync takes many calls.
MEDIUM = {"contacts": 1500, "conversations": 500, "seed": 13}


@pytest.fixture(scope="session")
def installed_plugins(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> None:
    """`meltano install` once per test run: editable installs into .meltano/ with uv. Under
    pytest-xdist, once for all workers (their temporary folders' common parent)."""
    if worker_id == "master":
        meltano_install()
    else:
        meltano_install_once(tmp_path_factory.getbasetemp().parent)


@pytest.fixture(scope="module")
def pipeline(
    installed_plugins: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """A seeded Intercom workspace, an empty Salesforce org and a fresh Meltano state database."""
    with Pipeline(tmp_path_factory.mktemp("e2e")) as pipe:
        pipe.intercom.admin("POST", "seed", SEED)
        yield pipe


@pytest.fixture(scope="session")
def volume_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Intercom data directory with 7,000 contacts and 2,000 conversations, seeded once."""
    path = tmp_path_factory.mktemp("volume-template") / "intercom"
    seed_intercom_template(path, **VOLUME)
    return path


@pytest.fixture(scope="session")
def vol(
    installed_plugins: None, volume_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """The volume workspace's pipeline, shared by the modules that look at its first run."""
    with Pipeline(
        tmp_path_factory.mktemp("volume"),
        intercom_args=FAST_INTERCOM_ARGS,
        intercom_template=volume_template,
    ) as pipe:
        # ~1,900 Leads go through Bulk API 2.0 and ~550 Tasks through Collections: both
        # transports at volume, and Tasks resolved against Leads a Bulk job created just before.
        pipe.extra_env["TARGET_SALESFORCE_LEADS_BULK_THRESHOLD"] = "1000"
        yield pipe


@pytest.fixture(scope="session")
def volume_full_sync(vol: Pipeline) -> RunResult:
    """The first (full) sync of the volume workspace, run once: tests/test_e2e_volume.py
    checks its records, tests/test_e2e_progress.py its log."""
    return vol.run(check=False)


@pytest.fixture(scope="session")
def small_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small-template") / "intercom"
    seed_intercom_template(path, **SMALL)
    return path


@pytest.fixture(scope="session")
def medium_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("medium-template") / "intercom"
    seed_intercom_template(path, **MEDIUM)
    return path


PipelineFactory = Callable[..., Pipeline]


@pytest.fixture
def make_pipeline(
    installed_plugins: None, small_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PipelineFactory]:
    """Start pipelines on a copy of the small workspace (or another template); stopped after."""
    started: list[Pipeline] = []

    def make(
        template: Path | None = None,
        intercom_args: list[str] | None = None,
        salesforce_args: list[str] | None = None,
        **env: str,
    ) -> Pipeline:
        pipe = Pipeline(
            tmp_path_factory.mktemp("e2e"),
            intercom_args=intercom_args or FAST_INTERCOM_ARGS,
            salesforce_args=salesforce_args,
            intercom_template=template or small_template,
        )
        pipe.extra_env.update(env)
        started.append(pipe)
        return pipe.start()

    yield make
    for pipe in started:
        pipe.stop()
