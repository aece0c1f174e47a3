"""sObject Collections writes: up to 200 records per call, one result per record in order."""

from __future__ import annotations

import random
import time
import typing as t
from urllib.parse import quote

from target_salesforce_leads.client import TRANSIENT_CODES, SalesforceClient, SalesforceError

CHUNK = 200

# on_result(token, ok, created, record_id, error_code, message)
ResultFn = t.Callable[[t.Any, bool, bool, str | None, str, str], None]


def write_collections(
    client: SalesforceClient,
    sobject: str,
    operation: str,
    key_field: str,
    items: t.Iterable[tuple[t.Any, dict[str, t.Any]]],
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
    chunk: list[tuple[t.Any, dict[str, t.Any]]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == CHUNK:
            _send(client, sobject, operation, key_field, chunk, on_result)
            chunk = []
    if chunk:
        _send(client, sobject, operation, key_field, chunk, on_result)


def _send(
    client: SalesforceClient,
    sobject: str,
    operation: str,
    key_field: str,
    chunk: list[tuple[t.Any, dict[str, t.Any]]],
    on_result: ResultFn,
) -> None:
    if operation == "upsert":
        path = f"composite/sobjects/{quote(sobject)}/{quote(key_field)}"
    else:
        path = "composite/sobjects"
    pending = chunk
    attempt = 0
    while pending:
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **fields} for _, fields in pending],
        }
        try:
            results = client.request("PATCH", path, json=body, kind="collections").json()
        except SalesforceError as exc:
            if exc.status != 400:
                raise
            # The whole request was refused (e.g. JSON_PARSER_ERROR) because of some record in
            # it: halve the chunk until the culprit stands alone, so the others still go.
            if len(pending) == 1:
                on_result(pending[0][0], False, False, None, exc.code, exc.message)
                return
            mid = len(pending) // 2
            _send(client, sobject, operation, key_field, pending[:mid], on_result)
            _send(client, sobject, operation, key_field, pending[mid:], on_result)
            return
        if not isinstance(results, list) or len(results) != len(pending):
            raise RuntimeError(
                f"Collections {operation} of {sobject} answered {len(results)} results for "
                f"{len(pending)} records; cannot tell which records were written."
            )
        retry: list[tuple[t.Any, dict[str, t.Any]]] = []
        for (token, fields), result in zip(pending, results, strict=True):
            if result.get("success"):
                on_result(token, True, bool(result.get("created")), result.get("id"), "", "")
                continue
            errors = result.get("errors") or [{}]
            code = str(errors[0].get("statusCode") or errors[0].get("errorCode") or "UNKNOWN")
            message = "; ".join(str(e.get("message") or "") for e in errors)
            if code in TRANSIENT_CODES and attempt < client.max_retries:
                retry.append((token, fields))
            else:
                on_result(token, False, False, None, code, message)
        pending = retry
        if pending:
            client.logger.warning(
                "%d %s records hit a transient error (row lock); retrying (%d/%d)",
                len(pending), sobject, attempt + 1, client.max_retries,
            )
            delay = min(30.0, client.backoff_base * (2**attempt))
            time.sleep(delay * (0.5 + random.random() / 2))
            attempt += 1
