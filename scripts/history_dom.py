"""The figures of a run-history page read back from its HTML (target tests and tests/ alike)."""

from __future__ import annotations

import typing as t
from html.parser import HTMLParser


class _HistoryDom(HTMLParser):
    """Collects the figures of a run-history page.

    Table rows (by table id), chart points and elements with an id and a data-value.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, t.Any]]] = {}
        self.points: list[dict[str, str]] = []
        self.values: dict[str, str] = {}
        self.ids: set[str] = set()
        self._table: str | None = None
        self._row: dict[str, t.Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
            if "data-value" in a:
                self.values[a["id"]] = a["data-value"]
        if tag == "table":
            self._table = a.get("id", "")
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self._row = {k[5:]: v for k, v in a.items() if k.startswith("data-")}
        elif tag == "td" and self._row is not None and "data-field" in a:
            self._row[a["data-field"]] = a.get("data-value", "")
        elif tag == "circle" and "data-series" in a:
            self.points.append({k[5:]: v for k, v in a.items() if k.startswith("data-")})

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None and self._table is not None:
            if len(self._row) > 0 and any(k for k in self._row):
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def read_history_dom(page: str) -> _HistoryDom:
    """The figures of a run-history page (as written, or as a browser's --dump-dom shows it)."""
    dom = _HistoryDom()
    dom.feed(page)
    return dom


def as_number(value: str) -> int | None:
    """A data-value as the integer it shows ('' for none)."""
    return None if value == "" else int(value)
