"""How the whole suite is shared among pytest-xdist workers (`make test`: `-n N --dist loadfile`).

Each test file is one unit of work: its module-scoped fixtures (an emulator, a seeded pipeline)
start once, on one worker, and its tests keep their order. Files that share a session fixture too
costly to build twice are one unit together (SHARED_SESSION). Without xdist this changes nothing.

(xdist's own ``--dist loadgroup`` cannot group here: it renames the test ids, which pytest 9
no longer lets a plugin do.)
"""

from __future__ import annotations

from typing import Any

#: Test files that run on one worker together, by the session fixture they share.
SHARED_SESSION = {
    # The volume workspace's first sync (tests/conftest.py, volume_full_sync).
    "tests/test_e2e_volume.py": "volume",
    "tests/test_e2e_progress.py": "volume",
}


def unit_of(nodeid: str) -> str:
    """The unit of work of a test: its file, or its SHARED_SESSION group."""
    path = nodeid.split("::", 1)[0]
    return SHARED_SESSION.get(path, path)


def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    """Schedule by unit_of (xdist's loadfile, with SHARED_SESSION's files merged)."""
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return FileScheduling(config, log)
