"""Reading given items by id instead of searching (the tap's inbox mode).

Webhook payloads are partial, so each contact or conversation a notification names is re-read
whole with one ``GET``. The records then take the same way through the stream as the ones a
search finds (``post_process``, children, stream maps): the two paths emit the same records.
"""

from __future__ import annotations

import collections
import typing as t
from urllib.parse import quote

from intercom_client.errors import NotFoundError

from tap_intercom_events.client import IntercomStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable
    from concurrent.futures import Future

    import requests
    from singer_sdk.helpers.types import Context


class ReadById(IntercomStream):
    """A stream that, when :attr:`read_ids` is set, emits those items re-read one by one."""

    #: ``GET`` path of one item, ``{id}`` for its id.
    item_path: str = ""
    #: The ids to read instead of searching (set by the inbox reader for one batch).
    read_ids: list[str] | None = None
    #: Ids of :attr:`read_ids` answered 404 (deleted or merged since the notification).
    not_found: list[str]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.not_found = []

    def records_by_id(self, context: Context | None) -> Iterable[dict]:
        """The items of :attr:`read_ids` in order, fetched ahead by the tap's pool of threads.

        At most twice ``max_concurrency`` at once; the rate governor paces them.
        """
        pool = self._tap.parts_pool()  # type: ignore[attr-defined]
        ahead = 2 * max(1, int(self.config.get("max_concurrency") or 20))
        ids = iter(self.read_ids or ())
        pending: collections.deque[tuple[str, Future]] = collections.deque()

        def refill() -> None:
            while len(pending) < ahead:
                item_id = next(ids, None)
                if item_id is None:
                    return
                pending.append((item_id, pool.submit(self.read_one, item_id)))

        refill()
        try:
            while pending:
                item_id, future = pending.popleft()
                refill()
                found = future.result()
                if found is None:
                    self.not_found.append(item_id)
                    continue
                record, extra = found
                self.before_emit(record, extra)
                yield record
        finally:
            for _, future in pending:
                future.cancel()

    def read_one(self, item_id: str) -> tuple[dict, t.Any] | None:
        """One item re-read (runs in the pool's threads); None when Intercom answers 404."""
        try:
            response = self.call_api_response(
                "GET", self.item_path.format(id=quote(str(item_id), safe=""))
            )
        except NotFoundError:
            return None
        return self.record_from_response(response)

    def record_from_response(self, response: requests.Response) -> tuple[dict, t.Any]:
        """The record (as a search would list it) and anything read with it for its children."""
        raise NotImplementedError

    def before_emit(self, record: dict, extra: t.Any) -> None:
        """Hand what was read with ``record`` to its children, before it is emitted."""
