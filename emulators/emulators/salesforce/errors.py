"""Salesforce's error shapes: REST error lists and per-record errors."""

from __future__ import annotations

from typing import Any


class SalesforceError(Exception):
    """An error Salesforce reports as ``[{"message", "errorCode", "fields"}]``.

    ``status`` is the HTTP status used when the error ends a whole request.
    """

    def __init__(
        self, code: str, message: str, fields: list[str] | tuple[str, ...] = (), status: int = 400
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)
        self.status = status

    def body(self) -> list[dict[str, Any]]:
        """The REST response body for this error."""
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]

    def record_error(self) -> dict[str, Any]:
        """The error as one entry of a Collections result's ``errors`` list."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def bulk_error(self) -> str:
        """The ``sf__Error`` cell of a Bulk failed-results row."""
        suffix = ",".join(self.fields)
        return f"{self.code}:{self.message}:{suffix} --"


class RequestError(SalesforceError):
    """An error that fails the whole request, even inside a batch (e.g. unreadable JSON)."""


def not_found(message: str = "The requested resource does not exist") -> SalesforceError:
    """A 404 NOT_FOUND error."""
    return SalesforceError("NOT_FOUND", message, status=404)
