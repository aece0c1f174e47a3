"""End-to-end fixtures: real `meltano run` against both emulators on free loopback ports."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from pipeline import Pipeline, meltano_install  # noqa: E402

SEED = {"contacts": 160, "conversations": 80, "seed": 3}


@pytest.fixture(scope="session")
def installed_plugins() -> None:
    """`meltano install` once per session: editable installs into .meltano/ with uv."""
    meltano_install()


@pytest.fixture(scope="module")
def pipeline(
    installed_plugins: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """A seeded Intercom workspace, an empty Salesforce org and a fresh Meltano state database."""
    with Pipeline(tmp_path_factory.mktemp("e2e")) as pipe:
        pipe.intercom.admin("POST", "seed", SEED)
        yield pipe
