"""requirements.lock still answers what it was made from (`make lock`'s input).

`make venv` installs the lock as it is and this repository's packages without their dependencies,
so a requirement added to requirements-dev.txt, to a package or to one of the extras the Makefile
installs, but not locked, would be missing (or of another version) without a word. Fast: reads
files only, no resolver and no network.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomli is not installed where the venv runs Python 3.11 or later
    import tomli as tomllib  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"


def _locked() -> dict[str, list[Version]]:
    """Each package of the lock with its versions whose markers hold on this Python."""
    pins: dict[str, list[Version]] = {}
    for line in LOCK.read_text().splitlines():
        if not line or line[0] in "# -":
            continue
        pin = Requirement(line)
        [spec] = pin.specifier
        if pin.marker is None or pin.marker.evaluate():
            pins.setdefault(canonicalize_name(pin.name), []).append(Version(spec.version))
    return pins


def _inputs() -> list[tuple[str, Requirement]]:
    """(where, requirement) for everything `make lock` resolves, this repository's own aside."""
    makefile = (ROOT / "Makefile").read_text()
    folders = re.search(r"^PACKAGES := (.*)$", makefile, re.M)
    assert folders, "the Makefile names no PACKAGES"
    extras = dict(re.findall(r"^EXTRAS_(\S+) := \[(.*)\]$", makefile, re.M))
    found = [
        ("requirements-dev.txt", Requirement(line.split("#")[0]))
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    projects = {
        folder: tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
        for folder in folders.group(1).split()
    }
    local = {canonicalize_name(p["name"]) for p in projects.values()}
    for folder, project in projects.items():
        found += [(f"{folder}/pyproject.toml", Requirement(d)) for d in project["dependencies"]]
        for extra in filter(None, extras.get(folder, "").split(",")):
            found += [
                (f"{folder}/pyproject.toml [{extra}]", Requirement(d))
                for d in project["optional-dependencies"][extra]
            ]
    return [(where, r) for where, r in found if canonicalize_name(r.name) not in local]


def _unlocked(inputs: list[tuple[str, Requirement]], pins: dict[str, list[Version]]) -> list[str]:
    """One line per requirement (for this Python) that no locked version satisfies."""
    wrong = []
    for where, requirement in inputs:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        versions = pins.get(canonicalize_name(requirement.name), [])
        if not versions:
            wrong.append(f"{where}: {requirement} is not in the lock")
        elif not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
            wrong.append(f"{where}: {requirement}, locked {', '.join(map(str, versions))}")
    return wrong


def test_the_lock_pins_every_requirement_at_a_version_it_allows() -> None:
    pins = _locked()
    assert len(pins) > 50, f"{LOCK.name} holds only {len(pins)} packages for this Python"
    wrong = _unlocked(_inputs(), pins)
    assert not wrong, "run `make lock` and commit requirements.lock:\n" + "\n".join(wrong)


def test_a_requirement_the_lock_misses_is_reported() -> None:
    pins = _locked()
    [requests] = pins["requests"]
    inputs = [
        ("x", Requirement(f"requests>{requests}")),
        ("x", Requirement("requests")),
        ("x", Requirement("no-such-package-i2s")),
        ("x", Requirement("no-such-package-i2s; python_version < '3'")),
    ]
    assert _unlocked(inputs, pins) == [
        f"x: requests>{requests}, locked {requests}",
        "x: no-such-package-i2s is not in the lock",
    ]
