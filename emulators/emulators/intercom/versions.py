"""Which ``Intercom-Version`` values exist at Intercom, and which this emulator answers for."""

from __future__ import annotations

# Every value Intercom accepts in Intercom-Version: the `intercom_version` enum of its published
# descriptions (1.0-1.4, 2.0-2.16) plus Unstable and Preview (docs/intercom.md, "Versions").
VERSIONS = {
    "1.0",
    "1.1",
    "1.2",
    "1.3",
    "1.4",
    *(f"2.{i}" for i in range(17)),
    "Unstable",
    "Preview",
}
# The versions this emulator answers for: Intercom publishes a description of each, and they
# agree on every field the plugins read, so one 2.14 shape serves them all.
EMULATED_VERSIONS = tuple(f"2.{i}" for i in range(7, 17))
DEFAULT_VERSION = "2.14"


def version_problem(version: str | None) -> str | None:
    """Why an Intercom-Version header cannot be served, or None when it can (or is absent)."""
    if version is None or version in EMULATED_VERSIONS:
        return None
    served = f"{EMULATED_VERSIONS[0]} ... {EMULATED_VERSIONS[-1]}"
    if version not in VERSIONS:
        return (
            f"The requested version {version!r} is not a valid Intercom-Version. Intercom's "
            f"versions are 1.0 ... 1.4, 2.0 ... 2.16, Unstable and Preview; this emulator "
            f"serves {served}. Send one of those, e.g. {DEFAULT_VERSION}."
        )
    return (
        f"Intercom-Version {version!r} exists at Intercom, but this emulator only emulates "
        f"{served} (answers shaped as {DEFAULT_VERSION}); what it would answer for "
        f"{version!r} would not be what Intercom sends. Send one of {served}, or test a "
        f"client that needs {version!r} against Intercom itself."
    )
