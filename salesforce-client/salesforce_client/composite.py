"""sObject Collections writes: up to 200 records per request, one result per record in order.

With the Composite API (``use_composite``, on by default) up to 5 Collections requests — 1,000
records, of one or several sObjects — travel in one ``POST /composite`` that counts as ONE API
call. Each subrequest's result list is mapped back to its records exactly as a separate call's
would be. When the server has no ``/composite`` the same chunks go as separate calls.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from urllib.parse import quote

from salesforce_client.client import COMPOSITE_HEAVY, SalesforceClient
from salesforce_client.errors import (
    TRANSIENT_CODES,
    CompositeUnavailable,
    RetriesExhausted,
    SalesforceError,
    error_of,
    is_transient,
)

CHUNK = 200

# on_result(token, ok, created, record_id, error_code, message)
ResultFn = t.Callable[[t.Any, bool, bool, str | None, str, str], None]
Items = t.Iterable[tuple[t.Any, dict[str, t.Any]]]
# A chunk: up to 200 (token, fields) pairs of one write.
Chunk = list[tuple[t.Any, dict[str, t.Any]]]


@dataclass
class Write:
    """One Collections write: records of one sObject, upserted by a field or updated by Id."""

    sobject: str
    operation: str  # upsert | update
    key_field: str
    items: Items
    on_result: ResultFn

    @property
    def path(self) -> str:
        """The Collections resource: upsert by the key field, or update by Id."""
        if self.operation == "upsert":
            return f"composite/sobjects/{quote(self.sobject)}/{quote(self.key_field)}"
        return "composite/sobjects"

    def body(self, chunk: Chunk) -> dict[str, t.Any]:
        """The request body for one chunk of at most 200 records (allOrNone false)."""
        return {
            "allOrNone": False,
            "records": [{"attributes": {"type": self.sobject}, **f} for _, f in chunk],
        }


# A chunk waiting to be sent, with its attempt number (> 0: a resend after a transient failure).
Pending = tuple[Write, Chunk, int]


def write_collections(
    client: SalesforceClient,
    sobject: str,
    operation: str,
    key_field: str,
    items: Items,
    on_result: ResultFn,
) -> None:
    """Upsert (by ``key_field``) or update (by Id) records in chunks of 200.

    Records failing with a transient per-record error (``UNABLE_TO_LOCK_ROW``) are sent again
    with backoff; every other outcome goes to ``on_result``.

    Args:
        client: The run's client.
        sobject: sObject API name.
        operation: ``upsert`` or ``update``.
        key_field: External id field for upsert (``Id`` for update).
        items: ``(token, fields)`` pairs; fields hold no ``attributes``.
        on_result: Called once per record with its outcome.
    """
    write_many(client, [Write(sobject, operation, key_field, items, on_result)])


def _chunks(writes: list[Write]) -> t.Iterator[tuple[Write, Chunk]]:
    for write in writes:
        chunk: Chunk = []
        for item in write.items:
            chunk.append(item)
            if len(chunk) == CHUNK:
                yield write, chunk
                chunk = []
        if chunk:
            yield write, chunk


def write_many(client: SalesforceClient, writes: list[Write]) -> None:
    """Send several Collections writes, 5 chunks of 200 per Composite call when available.

    Chunks are read lazily from the writes' items, so at most 1,000 records are held at once.
    """
    chunks = _chunks(writes)
    if not client.use_composite:
        for write, chunk in chunks:
            _send(client, write, chunk)
        return
    # (write, chunk, attempt): attempt > 0 marks a resend after a transient failure.
    queue: list[Pending] = []
    exhausted = False
    while True:
        while len(queue) < COMPOSITE_HEAVY and not exhausted:
            nxt = next(chunks, None)
            if nxt is None:
                exhausted = True
            else:
                queue.append((nxt[0], nxt[1], 0))
        if not queue:
            return
        if not client.use_composite:
            for write, chunk, _ in queue:
                _send(client, write, chunk)
            for write, chunk in chunks:
                _send(client, write, chunk)
            return
        if len(queue) == 1 and exhausted and queue[0][2] == 0:
            # A lone chunk: a plain Collections call costs the same one call.
            write, chunk, _ = queue.pop()
            _send(client, write, chunk)
            continue
        batch, queue = queue[:COMPOSITE_HEAVY], queue[COMPOSITE_HEAVY:]
        queue.extend(_send_composite(client, batch))


def _send_composite(client: SalesforceClient, batch: list[Pending]) -> list[Pending]:
    """One Composite call of up to 5 chunks; returns the chunks to send again."""
    wait = max(attempt for _, _, attempt in batch)
    if wait:
        client.retry.wait(wait - 1)
    subs = [
        {
            "method": "PATCH",
            "url": client.sub_url(write.path),
            "referenceId": f"w{n}",
            "body": write.body(chunk),
        }
        for n, (write, chunk, _) in enumerate(batch)
    ]
    try:
        answers = client.composite(subs)
    except CompositeUnavailable:
        return batch  # resent as separate calls by the caller
    except SalesforceError as exc:
        if exc.status != 400:
            raise
        # The whole Composite request was refused (e.g. a value its JSON cannot carry): send
        # the chunks separately, where a refused chunk is halved down to the culprit.
        for write, chunk, _ in batch:
            _send(client, write, chunk)
        return []
    again: list[Pending] = []
    for (write, chunk, attempt), ans in zip(batch, answers, strict=True):
        again += _answered(client, write, chunk, attempt, ans)
    return again


def _answered(
    client: SalesforceClient, write: Write, chunk: Chunk, attempt: int, ans: dict[str, t.Any]
) -> list[Pending]:
    """Report one subresponse's outcomes; return what to send again (retries, halves)."""
    status = int(ans.get("httpStatusCode") or 0)
    body = ans.get("body")
    if 200 <= status < 300:
        retry = _results(client, write, chunk, body, attempt)
        if not retry:
            return []
        _warn_transient(client, write, len(retry), attempt)
        return [(write, retry, attempt + 1)]
    code, message = error_of(body)
    if is_transient(status, code):
        if client.retry.gives_up(attempt):
            raise RetriesExhausted(
                f"PATCH {write.path} in /composite kept failing with {status} {code} after "
                f"{attempt + 1} attempts"
            )
        client.logger.warning(
            "%s in /composite answered %s %s; retrying (%d/%d)",
            write.path,
            status,
            code,
            attempt + 1,
            client.max_retries,
        )
        return [(write, chunk, attempt + 1)]
    if status != 400:
        raise SalesforceError(status, code or str(status), message, "PATCH", write.path)
    # This chunk alone was refused because of some record in it: halve it.
    if len(chunk) == 1:
        write.on_result(chunk[0][0], False, False, None, code or "400", message)
        return []
    mid = len(chunk) // 2
    return [(write, chunk[:mid], attempt), (write, chunk[mid:], attempt)]


def _results(
    client: SalesforceClient,
    write: Write,
    chunk: Chunk,
    results: t.Any,
    attempt: int,
) -> Chunk:
    """Report each record's outcome; return the records to retry (transient errors)."""
    if not isinstance(results, list) or len(results) != len(chunk):
        got = len(results) if isinstance(results, list) else 0
        raise RuntimeError(
            f"Collections {write.operation} of {write.sobject} answered {got} results for "
            f"{len(chunk)} records; cannot tell which records were written."
        )
    retry: Chunk = []
    for (token, fields), result in zip(chunk, results, strict=True):
        if result.get("success"):
            write.on_result(token, True, bool(result.get("created")), result.get("id"), "", "")
            continue
        errors = result.get("errors") or [{}]
        code = str(errors[0].get("statusCode") or errors[0].get("errorCode") or "UNKNOWN")
        message = "; ".join(str(e.get("message") or "") for e in errors)
        if code in TRANSIENT_CODES and not client.retry.gives_up(attempt):
            retry.append((token, fields))
        else:
            write.on_result(token, False, False, None, code, message)
    return retry


def _warn_transient(client: SalesforceClient, write: Write, count: int, attempt: int) -> None:
    client.logger.warning(
        "%d %s records hit a transient error (row lock); retrying (%d/%d)",
        count,
        write.sobject,
        attempt + 1,
        client.max_retries,
    )


def _send(client: SalesforceClient, write: Write, chunk: Chunk) -> None:
    """One chunk as its own Collections call (retries and halving included)."""
    pending = chunk
    attempt = 0
    while pending:
        try:
            results = client.request(
                "PATCH", write.path, json=write.body(pending), kind="collections"
            ).json()
        except SalesforceError as exc:
            if exc.status != 400:
                raise
            # The whole request was refused (e.g. JSON_PARSER_ERROR) because of some record in
            # it: halve the chunk until the culprit stands alone, so the others still go.
            if len(pending) == 1:
                write.on_result(pending[0][0], False, False, None, exc.code, exc.message)
                return
            mid = len(pending) // 2
            _send(client, write, pending[:mid])
            _send(client, write, pending[mid:])
            return
        pending = _results(client, write, pending, results, attempt)
        if pending:
            _warn_transient(client, write, len(pending), attempt)
            client.retry.wait(attempt)
            attempt += 1
