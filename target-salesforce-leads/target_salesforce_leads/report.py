"""Reject file, waiting file and run summary (docs/contracts.md section 7)."""

from __future__ import annotations

import datetime
import json
import os
import threading
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from target_salesforce_leads.waiting import WaitingList

OUTCOMES = ("created", "updated", "unchanged", "waiting", "rejected")


def _default(value: t.Any) -> t.Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


class RunReport:
    """Counts every record's outcome, with reasons, and writes the rejected records' file."""

    def __init__(
        self,
        reject_file: str | None,
        summary_file: str | None,
        waiting_file: str | None = None,
        run_id: str = "",
        problems_file: str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.run_id = run_id
        self.reject_path = Path(reject_file) if reject_file else None
        self.summary_path = Path(summary_file) if summary_file else None
        self.waiting_path = Path(waiting_file) if waiting_file else None
        self.problems_path = Path(problems_file) if problems_file else None
        # This run's rejections (without the records) and the records it settled, for the
        # current list of open problems.
        self._rejected_rows: dict[tuple[str, str], dict[str, t.Any]] = {}
        self._settled: set[tuple[str, str]] = set()
        self._reject_fh: t.IO[str] | None = None
        self.objects: dict[str, dict[str, int]] = {}
        self.streams: dict[str, dict[str, int]] = {}
        # code -> [count, one example message]
        self.rejected_reasons: dict[str, list[t.Any]] = {}
        self.waiting_reasons: dict[str, list[t.Any]] = {}
        self.config_problems: list[str] = []

    def _bucket(self, table: dict[str, dict[str, int]], name: str) -> dict[str, int]:
        if name not in table:
            table[name] = {k: 0 for k in OUTCOMES}
            if table is self.streams:
                table[name].update(received=0, retried=0, merged=0)
        return table[name]

    def received(self, stream: str, count: int = 1) -> None:
        """Count ``count`` records received for ``stream``."""
        with self._lock:
            self._bucket(self.streams, stream)["received"] += count

    def retried(self, stream: str, count: int = 1) -> None:
        """A waiting record of an earlier run, sent again by the target itself."""
        with self._lock:
            self._bucket(self.streams, stream)["retried"] += count

    def merged(self, stream: str, count: int = 1) -> None:
        """A record superseded by a later one with the same external id in the same batch."""
        with self._lock:
            self._bucket(self.streams, stream)["merged"] += count

    def count(self, stream: str, sobject: str, outcome: str, count: int = 1) -> None:
        """Count ``count`` records of ``stream`` with ``outcome`` in ``sobject``."""
        if not count:
            return
        with self._lock:
            self._bucket(self.objects, sobject)[outcome] += count
            self._bucket(self.streams, stream)[outcome] += count

    @staticmethod
    def _note(table: dict[str, list[t.Any]], code: str, message: str, count: int = 1) -> None:
        slot = table.setdefault(code, [0, message])
        slot[0] += count

    def wait(self, stream: str, sobject: str, code: str, message: str, count: int = 1) -> None:
        """Count records that wait (kept and retried later), by reason."""
        self.count(stream, sobject, "waiting", count)
        with self._lock:
            self._note(self.waiting_reasons, code, message, count)

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
        row = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "run_id": self.run_id,
            "stream": stream,
            "sobject": sobject,
            "external_id": external_id,
            "error_code": code,
            "message": message,
        }
        with self._lock:
            self._note(self.rejected_reasons, code, message)
            if external_id not in (None, ""):
                self._rejected_rows[(stream, str(external_id).lower())] = row
        if self.reject_path is None:
            return
        line = json.dumps({**row, "record": record}, default=_default)
        with self._lock:
            if self._reject_fh is None:
                self.reject_path.parent.mkdir(parents=True, exist_ok=True)
                self._reject_fh = self.reject_path.open("a", encoding="utf-8")
            self._reject_fh.write(line + "\n")
            self._reject_fh.flush()

    def totals(self) -> dict[str, int]:
        """Outcome counts over every stream, with ``received`` and ``retried``."""
        out = {k: 0 for k in (*OUTCOMES, "received", "retried", "merged")}
        for counts in self.streams.values():
            for k in out:
                out[k] += counts.get(k, 0)
        return out

    def summary(self, api_calls: int, dry_run: bool, **extra: t.Any) -> dict[str, t.Any]:
        """The run summary: totals, per-object outcomes, reasons, files and ``extra``."""

        def reasons(table: dict[str, list[t.Any]]) -> list[dict[str, t.Any]]:
            rows = sorted(table.items(), key=lambda kv: -kv[1][0])
            return [{"code": code, "count": n, "example": msg} for code, (n, msg) in rows]

        return {
            "run_id": self.run_id,
            "objects": {k: dict(v) for k, v in self.objects.items()},
            "streams": {k: dict(v) for k, v in self.streams.items()},
            "totals": self.totals(),
            "rejected_by_reason": reasons(self.rejected_reasons),
            "waiting_by_reason": reasons(self.waiting_reasons),
            "configuration_problems": list(self.config_problems),
            "api_calls": api_calls,
            "dry_run": dry_run,
            "files": {
                "rejects": str(self.reject_path) if self.reject_path else None,
                "waiting": str(self.waiting_path) if self.waiting_path else None,
                "problems": str(self.problems_path) if self.problems_path else None,
                "summary": str(self.summary_path) if self.summary_path else None,
            },
            **extra,
        }

    def write_summary(self, summary: dict[str, t.Any]) -> None:
        """Write ``summary`` to summary_file (also logged)."""
        if self.summary_path is not None:
            self.summary_path.parent.mkdir(parents=True, exist_ok=True)
            self.summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

    def settled(self, stream: str, key: str) -> None:
        """A record was written or found unchanged: it is no open problem any more."""
        with self._lock:
            self._settled.add((stream, key))

    def settled_many(self, stream: str, keys: t.Iterable[str]) -> None:
        """``settled`` for each of ``keys``."""
        with self._lock:
            self._settled.update((stream, key) for key in keys)

    def write_problems(self, waiting: WaitingList) -> None:
        """Rewrite the list of open problems.

        One line per record that is waiting or was rejected and not written since (kept across runs,
        latest reason wins).
        """
        if self.problems_path is None:
            return
        rows: dict[tuple[str, str], dict[str, t.Any]] = {}
        if self.problems_path.exists():
            for line in self.problems_path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if row.get("status") == "rejected":
                    rows[(row["stream"], str(row["external_id"]).lower())] = row
        for key in self._settled:
            rows.pop(key, None)
        for key, row in self._rejected_rows.items():
            rows[key] = {"status": "rejected", **row}
        for e in waiting.entries.values():
            rows[(e.stream, e.key)] = {
                "status": "waiting",
                "time": e.first_seen,
                "run_id": e.last_run,
                "stream": e.stream,
                "sobject": e.sobject,
                "external_id": e.external_id,
                "error_code": e.code,
                "message": e.message,
                "attempts": e.attempts,
            }
        self._replace(self.problems_path, (rows[k] for k in sorted(rows)))

    @staticmethod
    def _replace(path: Path, rows: t.Iterable[dict[str, t.Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, default=_default) + "\n")
        os.replace(tmp, path)

    def write_waiting(self, waiting: WaitingList) -> None:
        """Replace the waiting file with the current list: one line a record, no duplicates."""
        if self.waiting_path is None:
            return
        self._replace(
            self.waiting_path,
            (
                {
                    "run_id": e.last_run,
                    "stream": e.stream,
                    "sobject": e.sobject,
                    "external_id": e.external_id,
                    "error_code": e.code,
                    "message": e.message,
                    "first_seen": e.first_seen,
                    "attempts": e.attempts,
                    "record": e.record,
                }
                for e in sorted(waiting.entries.values(), key=lambda e: (e.stream, e.key))
            ),
        )

    def close(self) -> None:
        """Close the reject file."""
        with self._lock:
            if self._reject_fh is not None:
                self._reject_fh.close()
                self._reject_fh = None
