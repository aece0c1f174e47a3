"""Helpers for Python tests that inject faults into a running Intercom emulator.

    from emulators.intercom.fixtures import injected
    with injected(ic, {"kind": "latency", "ms": 100}, {"kind": "status", "status": 503}):
        ...  # requests see the faults; they are cleared on exit

``ic`` is anything with an ``admin(method, path, body)`` method, such as
``emulators.testing.EmulatorProcess``. This module talks to the emulator over HTTP only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class AdminClient(Protocol):
    """Anything with the emulator's ``admin(method, path, body)`` call."""

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call ``/_emulator/<path>`` and answer the decoded JSON."""


@contextmanager
def injected(emulator: AdminClient, *faults: dict[str, Any]) -> Iterator[None]:
    """Add faults for the duration of a ``with`` block, then clear every fault."""
    try:
        for fault in faults:
            emulator.admin("POST", "faults", fault)
        yield
    finally:
        emulator.admin("DELETE", "faults")


def rate_limit_burst(
    emulator: AdminClient,
    count: int,
    *,
    reset_in: int | None = None,
    retry_after: int | None = None,
) -> None:
    """The next ``count`` authenticated requests answer 429 `rate_limit_exceeded`.

    ``X-RateLimit-Reset`` names the end of the current window, or ``reset_in`` seconds from
    now (0: already due); ``retry_after`` adds a ``Retry-After`` header.
    """
    fault: dict[str, Any] = {"kind": "rate_limit", "count": count}
    if reset_in is not None:
        fault["reset_in"] = reset_in
    if retry_after is not None:
        fault["retry_after"] = retry_after
    emulator.admin("POST", "faults", fault)


def server_errors(emulator: AdminClient, count: int, status: int = 503, path: str = "") -> None:
    """The next ``count`` requests (to paths starting with ``path``) answer ``status``."""
    fault: dict[str, Any] = {"kind": "status", "status": status, "count": count}
    if path:
        fault["path"] = path
    emulator.admin("POST", "faults", fault)


def revoke_tokens(emulator: AdminClient, token: str | None = None) -> None:
    """Revoke one access token, or every token, at once."""
    emulator.admin(
        "POST", "faults", {"kind": "revoke_token", **({"token": token} if token else {})}
    )
