"""How the Salesforce emulator encodes answers: compact JSON, errors as Salesforce lists them."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from emulators.salesforce.errors import SalesforceError

JSON_TYPE = "application/json;charset=UTF-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON answer."""
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=JSON_TYPE,
        headers=headers,
    )


def error_response(exc: SalesforceError) -> Response:
    """A Salesforce error answer."""
    return json_response(exc.body(), exc.status)
