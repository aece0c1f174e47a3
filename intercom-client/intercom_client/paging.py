"""How Intercom pages its lists: ``pages.next.starting_after`` cursors and the companies scroll."""

from __future__ import annotations

import json
import typing as t
from urllib.parse import parse_qs, urlparse

if t.TYPE_CHECKING:
    import requests

#: Items per page Intercom allows at most.
MAX_PAGE_SIZE = 150


def response_json(response: requests.Response) -> t.Any:
    """Decode a response body once, however many readers it has (parser, paginator)."""
    cached = getattr(response, "_intercom_json", None)
    if cached is None:
        # The stdlib decoder (requests would pick simplejson when it is installed).
        cached = json.loads(response.content)
        response._intercom_json = cached  # type: ignore[attr-defined]
    return cached


def next_cursor(payload: t.Any) -> str | None:
    """The ``starting_after`` of the next page, or None after the last page."""
    pages = (payload.get("pages") if isinstance(payload, dict) else None) or {}
    nxt = pages.get("next")
    if isinstance(nxt, dict):
        return nxt.get("starting_after") or None
    if isinstance(nxt, str) and nxt:
        # Older answers give the next page as a URL.
        values = parse_qs(urlparse(nxt).query).get("starting_after")
        return values[0] if values else None
    return None


def next_scroll(payload: t.Any) -> str | None:
    """The ``scroll_param`` of the next scroll page, or None once a page came back empty.

    A scroll may hand back the same parameter for every page: it ends on an empty page only.
    """
    if not isinstance(payload, dict) or not payload.get("data"):
        return None
    return payload.get("scroll_param") or None


def page_size(value: t.Any) -> int:
    """A ``per_page`` Intercom accepts (1 to :data:`MAX_PAGE_SIZE`; unset: the maximum)."""
    return max(1, min(int(value or MAX_PAGE_SIZE), MAX_PAGE_SIZE))
