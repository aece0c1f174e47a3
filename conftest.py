"""How the whole suite is shared among pytest-xdist workers (`make test`: `-n N --dist loadfile`).

Each test file is one unit of work: its module-scoped fixtures (an emulator, a seeded pipeline)
start once, on one worker, and its tests keep their order. Files that share a session fixture too
costly to build twice are one unit together (SHARED_SESSION). The longest units are handed out
first (FIRST, longest first, by the suite's --durations), so that none of them
starts last and runs alone at the end. Without xdist this changes nothing.

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
#: Files and folders whose units are handed out before all others, in this order (the longest
#: first; a file's rank is that of the first entry it starts with).
FIRST = (
    "tests/test_e2e_volume.py",
    "tests/test_e2e_progress.py",
    "tests/test_e2e_failures.py",
    "tests/test_e2e_crash.py",
    "tests/test_e2e_recovery.py",
    "tap-intercom-events/tests/test_tap_skip_unchanged.py",
    "tests/test_e2e_realtime.py",
    "target-salesforce-leads/tests/test_target_state.py",
    "tests/test_plugin_definitions.py",
    "tests/",
    "target-salesforce-leads/tests/",
    "tap-intercom-events/tests/",
)


def unit_of(nodeid: str) -> str:
    """The unit of work of a test: its file, or its SHARED_SESSION group."""
    path = nodeid.split("::", 1)[0]
    return SHARED_SESSION.get(path, path)


def _rank(nodeid: str) -> int:
    return next((i for i, folder in enumerate(FIRST) if nodeid.startswith(folder)), len(FIRST))


def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    """Schedule by unit_of, the FIRST folders' units first."""
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def schedule(self) -> None:
            if self.collection is None and self.collection_is_completed:
                for node, collection in self.registered_collections.items():
                    # Every worker collected the same list: sorted alike, they stay equal.
                    self.registered_collections[node] = sorted(collection, key=_rank)
                config.option.loadscopereorder = False
            super().schedule()

    return FileScheduling(config, log)
