"""Everything one Intercom emulator holds: the workspace, its tokens, rate limiter and bursts."""

from __future__ import annotations

from typing import Any

from emulators.intercom.api import Api
from emulators.intercom.burst import Bursts
from emulators.intercom.db import Database
from emulators.intercom.ratelimit import RateLimiter
from emulators.intercom.workspace import Workspace

DEFAULT_TOKENS = {"active": ["emulator-token"], "revoked": []}


class IntercomState:
    """The workspace over one data dir, and what the API gate needs besides it."""

    def __init__(self, db: Database) -> None:
        """Open the workspace; the access tokens default to ``emulator-token``."""
        self.db = db
        self.ws = Workspace(db)
        self.api = Api(self.ws)
        self.limiter = RateLimiter(int(db.settings()["rate_limit_per_minute"]))
        self.bursts = Bursts(self.ws)
        self.tokens: dict[str, list[str]] = self._load_tokens()

    def _load_tokens(self) -> dict[str, list[str]]:
        tokens = self.db.get_meta("tokens", None)
        if tokens is None:
            tokens = {k: list(v) for k, v in DEFAULT_TOKENS.items()}
            self.db.set_meta("tokens", tokens)
        return tokens

    def allow(self, token: str) -> None:
        """Make ``token`` an active access token (again)."""
        if token not in self.tokens["active"]:
            self.tokens["active"].append(token)
        if token in self.tokens["revoked"]:
            self.tokens["revoked"].remove(token)
        self.db.set_meta("tokens", self.tokens)

    def revoke(self, token: str | None) -> None:
        """Revoke one access token, or every active one."""
        targets = [token] if token else list(self.tokens["active"])
        for t in targets:
            if t in self.tokens["active"]:
                self.tokens["active"].remove(t)
            if t not in self.tokens["revoked"]:
                self.tokens["revoked"].append(t)
        self.db.set_meta("tokens", self.tokens)

    def forget_scroll(self) -> None:
        """Drop the open company scroll (the workspace under it changed)."""
        with self.api.scroll_lock:
            self.api.scroll = None

    def reset(self) -> dict[str, Any]:
        """Back to the workspace as seeded (or as at start-up), on the real clock."""
        self.bursts.halt()
        self.db.restore()
        self.db.set_clock({"real": True})
        self.forget_scroll()
        self.tokens = self._load_tokens()
        self.limiter.per_minute = int(self.db.settings()["rate_limit_per_minute"])
        self.limiter.forget()
        return {"ok": True, "seed": self.db.get_meta("seed")}
