"""Salesforce's error answers, and which of them are worth retrying."""

from __future__ import annotations

import typing as t

# Error codes that say "try again later" rather than "this request is wrong".
TRANSIENT_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"}
)


class SalesforceError(Exception):
    """A Salesforce API call failed for good."""

    def __init__(self, status: int, code: str, message: str, method: str, path: str) -> None:
        """Keep the answer's status, error code and message; say which call got it."""
        super().__init__(f"{method} {path} answered {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class RetriesExhausted(Exception):
    """Salesforce kept failing transiently; the records concerned are not written."""


class CompositeUnavailable(Exception):
    """The org (or a proxy in front of it) has no ``/composite`` resource; use separate calls."""


def is_transient(status: int, code: str) -> bool:
    """True for an answer that may succeed unchanged later (5xx, row locks, ...)."""
    return status >= 500 or code in TRANSIENT_CODES


def error_of(body: t.Any) -> tuple[str, str]:
    """Return ``(errorCode, message)`` from a Salesforce error body (a list or an object)."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        return str(first.get("errorCode") or first.get("statusCode") or ""), str(
            first.get("message") or ""
        )
    if isinstance(body, dict):
        if "error" in body:
            return str(body.get("error")), str(body.get("error_description") or "")
        return str(body.get("errorCode") or ""), str(body.get("message") or "")
    return "", ""
