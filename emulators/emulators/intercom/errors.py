"""Intercom's `error.list` envelope."""

from __future__ import annotations

import uuid
from typing import Any


class ApiError(Exception):
    """An error the API answers with an `error.list` body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        """The error list Intercom answers."""
        return error_body(self.code, self.message, self.field)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """An Intercom error list with one error."""
    err: dict[str, Any] = {"code": code, "message": message}
    if field:
        err["field"] = field
    return {"type": "error.list", "request_id": str(uuid.uuid4()), "errors": [err]}


def not_found(what: str) -> ApiError:
    """A 404 ``not_found`` naming what is missing."""
    return ApiError(404, "not_found", f"{what} Not Found")


def invalid(message: str, field: str | None = None) -> ApiError:
    """A 400 ``parameter_invalid`` with the message (and the field)."""
    return ApiError(400, "parameter_invalid", message, field)
