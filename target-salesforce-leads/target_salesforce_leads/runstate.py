"""The target's own section of the Singer state: per org, a hash generation and waiting records.

The tap passes unknown top-level keys of its state through, so what the target adds to the state
it emits comes back to it at the start of the next run::

    {"bookmarks": {...},
     "target-salesforce-leads": {"orgs": {"00D...": {"generation": "...", "waiting": "...",
                                                     "waiting_count": 3}}}}
"""

from __future__ import annotations

import copy
import secrets
import typing as t

from target_salesforce_leads.waiting import STATE_KEY, WaitingList


class RunState:
    """What this run knows of its org's section, and what it will emit."""

    def __init__(self, org_id: str) -> None:
        self.org_id = org_id
        self.waiting = WaitingList()
        self.loaded = False  # a section for this org came with the state
        self.seen_state = False
        self._generation: str | None = None
        self._other_orgs: dict[str, t.Any] = {}

    @property
    def generation(self) -> str:
        """The hash generation of this run; fixed the first time it is needed."""
        if self._generation is None:
            self._generation = secrets.token_hex(8)
        return self._generation

    @property
    def generation_fixed(self) -> bool:
        """Whether the state generation came from a state (not made in this run)."""
        return self._generation is not None

    def absorb(self, state: dict[str, t.Any]) -> tuple[dict[str, t.Any], WaitingList | None]:
        """Split an incoming state into the rest and (the first time) this org's waiting list.

        Returns the state without the target's section, and the waiting list it carried when
        this is the first state of the run that has a section for this org.
        """
        self.seen_state = True
        if STATE_KEY not in state:
            return state, None
        rest = {k: v for k, v in state.items() if k != STATE_KEY}
        orgs = dict((state.get(STATE_KEY) or {}).get("orgs") or {})
        mine = orgs.pop(self.org_id, None)
        self._other_orgs = orgs
        if self.loaded or not isinstance(mine, dict):
            return rest, None
        self.loaded = True
        if self._generation is None and mine.get("generation"):
            self._generation = str(mine["generation"])
        return rest, WaitingList.decode(mine.get("waiting"))

    def emit(self, state: dict[str, t.Any], waiting_blob: str | None = None) -> dict[str, t.Any]:
        """The state to write: ``state`` plus this org's current section.

        ``waiting_blob`` is the waiting list already encoded, to spare encoding it again.
        """
        out = copy.deepcopy(state)
        orgs = dict(self._other_orgs)
        if waiting_blob is None:
            waiting_blob = self.waiting.encode() if len(self.waiting) else ""
        orgs[self.org_id] = {
            "generation": self.generation,
            "waiting": waiting_blob,
            "waiting_count": len(self.waiting),
        }
        out[STATE_KEY] = {"orgs": orgs}
        return out
