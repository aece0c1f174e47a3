"""Reject file and run summary (docs/contracts.md section 7)."""

from __future__ import annotations

import datetime
import json
import threading
import typing as t
from pathlib import Path

OUTCOMES = ("created", "updated", "unchanged", "rejected", "deferred")


def _default(value: t.Any) -> t.Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


class RunReport:
    """Counts every record's outcome and writes rejected records to the reject file."""

    def __init__(self, reject_file: str | None, summary_file: str | None) -> None:
        self._lock = threading.Lock()
        self.reject_path = Path(reject_file) if reject_file else None
        self.summary_path = Path(summary_file) if summary_file else None
        self._reject_fh: t.IO[str] | None = None
        self.objects: dict[str, dict[str, int]] = {}
        self.streams: dict[str, dict[str, int]] = {}

    def _bucket(self, table: dict[str, dict[str, int]], name: str) -> dict[str, int]:
        if name not in table:
            table[name] = {k: 0 for k in OUTCOMES}
            if table is self.streams:
                table[name].update(received=0, merged=0)
        return table[name]

    def received(self, stream: str, count: int = 1) -> None:
        with self._lock:
            self._bucket(self.streams, stream)["received"] += count

    def merged(self, stream: str, count: int = 1) -> None:
        """A record superseded by a later one with the same external id in the same batch."""
        with self._lock:
            self._bucket(self.streams, stream)["merged"] += count

    def count(self, stream: str, sobject: str, outcome: str, count: int = 1) -> None:
        if not count:
            return
        with self._lock:
            self._bucket(self.objects, sobject)[outcome] += count
            self._bucket(self.streams, stream)[outcome] += count

    def reject(
        self,
        stream: str,
        sobject: str,
        external_id: t.Any,
        code: str,
        message: str,
        record: dict[str, t.Any],
    ) -> None:
        """Count a rejection and append it to the reject file."""
        self.count(stream, sobject, "rejected")
        if self.reject_path is None:
            return
        line = json.dumps(
            {
                "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "stream": stream,
                "sobject": sobject,
                "external_id": external_id,
                "error_code": code,
                "message": message,
                "record": record,
            },
            default=_default,
        )
        with self._lock:
            if self._reject_fh is None:
                self.reject_path.parent.mkdir(parents=True, exist_ok=True)
                self._reject_fh = self.reject_path.open("a", encoding="utf-8")
            self._reject_fh.write(line + "\n")
            self._reject_fh.flush()

    def summary(self, api_calls: int, dry_run: bool, **extra: t.Any) -> dict[str, t.Any]:
        return {
            "objects": {k: dict(v) for k, v in self.objects.items()},
            "streams": {k: dict(v) for k, v in self.streams.items()},
            "api_calls": api_calls,
            "dry_run": dry_run,
            **extra,
        }

    def write_summary(self, summary: dict[str, t.Any]) -> None:
        if self.summary_path is not None:
            self.summary_path.parent.mkdir(parents=True, exist_ok=True)
            self.summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            if self._reject_fh is not None:
                self._reject_fh.close()
                self._reject_fh = None
