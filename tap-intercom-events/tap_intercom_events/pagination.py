"""The SDK paginators of Intercom's cursors and scrolls, and reading pages ahead."""

from __future__ import annotations

import queue
import threading
import typing as t

from intercom_client.paging import next_cursor, next_scroll, response_json
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

if t.TYPE_CHECKING:
    import requests


class StartingAfterPaginator(BaseAPIPaginator["str | None"]):
    """Follows ``pages.next.starting_after`` until a page has no ``next``."""

    def __init__(self) -> None:
        super().__init__(None)

    @override
    def get_next(self, response: requests.Response) -> str | None:
        """Return the cursor of the next page, or None after the last one."""
        return next_cursor(response_json(response))

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """Keep going past a page whose records were all filtered out on our side."""
        return True


class ScrollPaginator(BaseAPIPaginator["str | None"]):
    """Follows ``scroll_param`` until a page comes back without records."""

    def __init__(self) -> None:
        super().__init__(None)

    @override
    def get_next(self, response: requests.Response) -> str | None:
        """Return the scroll parameter while the scroll still yields records."""
        return next_scroll(response_json(response))

    @override
    def advance(self, response: requests.Response) -> None:
        """Advance; a scroll may hand back the same parameter for every page."""
        self._page_count += 1
        new_value = self.get_next(response)
        if not new_value:
            self._finished = True
        else:
            self._value = new_value


_END = object()


class PagesAhead:
    """Fetch the next pages in a background thread while the caller handles this one.

    The API's answer time and the tap's per-record work then overlap instead of adding up.
    ``fetch(token)`` returns ``(payload, next_token)``; a ``None`` token ends the pages.
    """

    def __init__(self, fetch: t.Callable[[t.Any], tuple[t.Any, t.Any]], depth: int = 2) -> None:
        self._fetch = fetch
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pages-ahead", daemon=True)

    def _put(self, item: t.Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        token: t.Any = None
        try:
            while not self._stop.is_set():
                payload, token = self._fetch(token)
                self._put((payload, None))
                if not token:
                    break
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consuming thread
            self._put((_END, exc))
            return
        self._put((_END, None))

    def __iter__(self) -> t.Iterator[t.Any]:
        self._thread.start()
        try:
            while True:
                payload, error = self._queue.get()
                if payload is _END:
                    if error is not None:
                        raise error
                    return
                yield payload
        finally:
            self._stop.set()
