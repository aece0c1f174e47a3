"""The API version, chosen per request with the ``Intercom-Version`` header."""

from __future__ import annotations

#: The version the plugins are written against (reference: intercom-openapi-2.14.yaml).
DEFAULT_VERSION = "2.14"


def request_headers(version: str | None = None) -> dict[str, str]:
    """Headers every request carries: the API version and the JSON answer asked for."""
    return {"Intercom-Version": str(version or DEFAULT_VERSION), "Accept": "application/json"}
