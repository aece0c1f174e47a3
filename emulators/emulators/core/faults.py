"""Injected faults both emulators apply before answering: added latency, answers, dropped links."""

from __future__ import annotations

import threading
from typing import Any

#: Faults the middleware itself carries out; a service may fire kinds of its own.
STATUS, LATENCY, DROP = "status", "latency", "drop"


class FaultList:
    """The faults waiting for requests, in the order they were added.

    A fault is a dict with ``kind``, an optional ``path`` prefix it applies to and an optional
    ``count`` of requests it lasts for (without one it lasts until cleared). Latency faults add
    up; of the other kinds the first that applies fires, one per request.
    """

    def __init__(self) -> None:
        """Start with no faults."""
        self.lock = threading.Lock()
        self.items: list[dict[str, Any]] = []

    def add(self, fault: dict[str, Any]) -> dict[str, Any]:
        """Queue a fault (the service has checked it) and answer it."""
        with self.lock:
            self.items.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every fault."""
        with self.lock:
            self.items.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        """Copies of the waiting faults."""
        with self.lock:
            return [dict(item) for item in self.items]

    def take(self, path: str, fires: frozenset[str]) -> tuple[float, dict[str, Any] | None]:
        """Answer (latency in ms, a copy of the fault of a kind in ``fires`` that fires here)."""
        latency = 0.0
        fired: dict[str, Any] | None = None
        with self.lock:
            for item in list(self.items):
                if item.get("path") and not path.startswith(item["path"]):
                    continue
                if item["kind"] == LATENCY:
                    latency += float(item["ms"])
                    self._spend(item)
                elif fired is None and item["kind"] in fires:
                    fired = dict(item)
                    self._spend(item)
        return latency, fired

    def _spend(self, item: dict[str, Any]) -> None:
        if "count" not in item:
            return
        item["count"] -= 1
        if item["count"] <= 0:
            self.items.remove(item)
