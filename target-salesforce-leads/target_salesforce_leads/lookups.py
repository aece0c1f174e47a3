"""Batched read-only lookups: records matching many values, by the cheapest plan.

SOQL ``IN`` lists are packed into queries short enough for a GET request line. When a lookup
needs several such queries, a paged scan of the whole object may be cheaper (2,000 records a
page); the first scan page tells the object's size, so the scan is abandoned for chunked
queries if those cost fewer calls. Chunked queries go up to 5 per Composite call.
"""

from __future__ import annotations

import math
import typing as t
from urllib.parse import quote_plus

from salesforce_client.client import SalesforceClient

PAGE = 2000
# Escapes inside a quoted SOQL string (Salesforce's "Quoted String Escape Sequences").
_SOQL_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\b": "\\b",
        "\f": "\\f",
    }
)
# Bytes quote_plus keeps as they are (a space becomes "+"): every other byte takes 3 characters.
_URL_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~ "


def soql_string(value: str) -> str:
    """``value`` as a quoted SOQL string literal."""
    return "'" + value.translate(_SOQL_ESCAPES) + "'"


def url_length(text: str) -> int:
    """``len(quote_plus(text))``, without building the quoted text."""
    raw = text.encode()
    return len(raw) + 2 * len(raw.translate(None, _URL_SAFE))


def _norm(value: t.Any) -> str:
    return str(value).lower()


def find_records(
    client: SalesforceClient,
    sobject: str,
    select: list[str],
    criteria: dict[str, t.Iterable[t.Any]],
    max_length: int = 15000,
    where: str = "",
    allow_scan: bool = True,
) -> list[dict[str, t.Any]]:
    """Return the records of ``sobject`` whose field equals any given value (case-insensitive).

    Args:
        client: The run's client.
        sobject: Object to search.
        select: Fields to read.
        criteria: ``{field: values}``; a record matches if any field holds one of its values.
        max_length: Longest URL-encoded SOQL to send in one request.
        where: Extra condition ANDed to every query.
        allow_scan: Consider a paged scan when several queries are needed.
    """
    wanted = {f: {_norm(v) for v in vals if v not in (None, "")} for f, vals in criteria.items()}
    wanted = {f: v for f, v in wanted.items() if v}
    if not wanted:
        return []
    fields = list(dict.fromkeys(["Id", *select, *wanted]))
    head = f"SELECT {', '.join(fields)} FROM {sobject} WHERE "
    if where:
        head += f"({where}) AND "
    queries = _pack(head, wanted, max_length)
    calls = client.composite_calls(len(queries))
    if calls > 1 and allow_scan:
        scanned = _try_scan(client, sobject, fields, wanted, calls, where)
        if scanned is not None:
            return scanned
    return merge_results(client.query_many(queries))


def plan_queries(
    sobject: str, select: list[str], criteria: dict[str, t.Iterable[t.Any]], max_length: int = 15000
) -> list[str]:
    """The chunked queries ``find_records`` would send (before considering a scan)."""
    wanted = {f: {_norm(v) for v in vals if v not in (None, "")} for f, vals in criteria.items()}
    wanted = {f: v for f, v in wanted.items() if v}
    if not wanted:
        return []
    fields = list(dict.fromkeys(["Id", *select, *wanted]))
    return _pack(f"SELECT {', '.join(fields)} FROM {sobject} WHERE ", wanted, max_length)


def merge_results(results: t.Iterable[t.Any]) -> list[dict[str, t.Any]]:
    """The records of several ``query_many`` results, once each; raises the first error."""
    found: dict[str, dict[str, t.Any]] = {}
    for result in results:
        if isinstance(result, Exception):
            raise result
        for rec in result:
            found[rec["Id"]] = rec
    return list(found.values())


def query_count(
    sobject: str, select: list[str], criteria: dict[str, t.Iterable[t.Any]], max_length: int
) -> int:
    """How many chunked queries ``find_records`` would send (before considering a scan)."""
    return len(plan_queries(sobject, select, criteria, max_length))


def _pack(head: str, wanted: dict[str, set[str]], max_length: int) -> list[str]:
    """Pack ``field IN (...)`` clauses into as few queries as fit ``max_length``."""
    base = len(quote_plus(head)) + 40
    budget = max(200, max_length - base)
    queries: list[str] = []
    current: list[str] = []  # clauses of the query being built
    used = 0
    for fld, values in wanted.items():
        prefix = f"{fld} IN ("
        clause_vals: list[str] = []
        clause_len = len(quote_plus(prefix)) + 12
        for value in sorted(values):
            q = soql_string(value)
            q_len = url_length(q) + 3
            if used + clause_len + q_len > budget and (clause_vals or current):
                if clause_vals:
                    current.append(f"{prefix}{','.join(clause_vals)})")
                queries.append(head + " OR ".join(current))
                current, clause_vals, used = [], [], 0
                clause_len = len(quote_plus(prefix)) + 12
            clause_vals.append(q)
            clause_len += q_len
        current.append(f"{prefix}{','.join(clause_vals)})")
        used += clause_len + 8
    if current:
        queries.append(head + " OR ".join(current))
    return queries


def scan_if_cheaper(
    client: SalesforceClient,
    sobject: str,
    select: list[str],
    criteria: dict[str, t.Iterable[t.Any]],
    max_calls: int,
) -> list[dict[str, t.Any]] | None:
    """Matching records by a paged scan, if that is cheap enough.

    Matching records by a paged scan if that takes at most ``max_calls`` calls, else None (having
    spent one call to learn the object's size).
    """
    wanted = {f: {_norm(v) for v in vals if v not in (None, "")} for f, vals in criteria.items()}
    wanted = {f: v for f, v in wanted.items() if v}
    fields = list(dict.fromkeys(["Id", *select, *wanted]))
    return _try_scan(client, sobject, fields, wanted, max_calls, "")


def _try_scan(
    client: SalesforceClient,
    sobject: str,
    fields: list[str],
    wanted: dict[str, set[str]],
    chunk_calls: int,
    where: str,
) -> list[dict[str, t.Any]] | None:
    soql = f"SELECT {', '.join(fields)} FROM {sobject}" + (f" WHERE {where}" if where else "")
    pages = t.cast("t.Generator[dict[str, t.Any], None, None]", client.query_pages(soql))
    first = next(pages)
    total = int(first.get("totalSize") or 0)
    if math.ceil(total / PAGE) > chunk_calls:
        pages.close()
        return None  # the one page spent is less than what chunking saves
    found = []
    page: dict[str, t.Any] | None = first
    while page is not None:
        for rec in page.get("records") or []:
            if any(_norm(rec.get(f)) in vals for f, vals in wanted.items() if rec.get(f)):
                found.append(rec)
        page = next(pages, None)
    return found
