"""The mapper's reject output: one JSON line per Intercom record that becomes no Lead or Task."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import typing as t
from pathlib import Path

from singer_sdk.singerlib.json import serialize_json

REJECTED = "rejected"
FILTERED = "filtered"


#: Rejected records logged one by one at warning level per stream and run.
LOGGED_REJECTS = 5


class RejectWriter:
    """Appends rejects to a JSON Lines file (when configured) and counts them."""

    def __init__(
        self, path: str | None, logger: logging.Logger, problems_path: str | None = None
    ) -> None:
        """Prepare the reject file; it is opened for appending at the first reject.

        Args:
            path: The reject file, or None to only log and count.
            logger: Where rejected (not filtered) records are also reported.
            problems_path: The open-problems file (one line per record still rejected), or None.
        """
        self.logger = logger
        self.counts: dict[tuple[str, str], int] = {}
        self._path = Path(path) if path else None
        self._file: t.IO[str] | None = None
        self._problems_path = Path(problems_path) if problems_path else None
        # For the list of open problems: this run's rejections, and the records it mapped or
        # filtered (no longer problems).
        self._rejected: dict[tuple[str, str], dict[str, t.Any]] = {}
        self._resolved: set[tuple[str, str]] = set()
        # (stream, source stream, kind, reason) -> [count, the first record's key]
        self.reasons: dict[tuple[str, str, str, str], list[t.Any]] = {}
        #: The reject file, kept for the summary once closed.
        self.path = self._path
        # One id per run on every line, so a file appended to across runs reads run by run.
        self.run_id = os.environ.get("MELTANO_RUN_ID") or (
            dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        )

    def write(
        self,
        *,
        stream: str,
        source_stream: str,
        key: t.Any,
        kind: str,
        reason: str,
        record: t.Mapping[str, t.Any],
    ) -> None:
        """Record one reject."""
        self.counts[(stream, kind)] = self.counts.get((stream, kind), 0) + 1
        slot = self.reasons.setdefault((stream, source_stream, kind, reason), [0, key])
        slot[0] += 1
        if kind == REJECTED:
            # The first few as examples; every one is in the reject file (and at debug level).
            shown = self.counts[(stream, kind)]
            if shown <= LOGGED_REJECTS:
                more = (
                    "; further rejects of this stream go to the reject file and the debug log only"
                    if shown == LOGGED_REJECTS
                    else ""
                )
                self.logger.warning("%s %s rejected: %s%s", stream, key, reason, more)
            else:
                self.logger.debug("%s %s rejected: %s", stream, key, reason)
        if key not in (None, ""):
            if kind == REJECTED:
                self._rejected[(stream, str(key))] = {
                    "status": "rejected",
                    "run_id": self.run_id,
                    "stream": stream,
                    "source_stream": source_stream,
                    "key": key,
                    "reason": reason,
                    "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            else:
                self._resolved.add((stream, str(key)))
        if self._path is None:
            return
        if self._file is None:
            # Opened at the first reject, so a run with none (or --schemas) leaves no file.
            self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Append: an earlier run's rejects stay readable until someone deals with them.
            self._file = _private_open(self._path, "a")
        line = {
            "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "run_id": self.run_id,
            "stream": stream,
            "source_stream": source_stream,
            "key": key,
            "kind": kind,
            "reason": reason,
            "record": record,
        }
        self._file.write(serialize_json(line) + "\n")

    def flush(self) -> None:
        """Make every reject written so far durable before state moves past it."""
        if self._file is not None:
            self._file.flush()

    def mapped(self, stream: str, key: t.Any) -> None:
        """A record became an output record: it is no open problem any more."""
        if self._problems_path is not None and key not in (None, ""):
            self._resolved.add((stream, str(key)))

    def write_problems(self) -> None:
        """Rewrite the open problems: one line per record rejected and not mapped since."""
        if self._problems_path is None:
            return
        rows: dict[tuple[str, str], dict[str, t.Any]] = {}
        if self._problems_path.exists():
            for line in self._problems_path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    rows[(row["stream"], str(row["key"]))] = row
                except (ValueError, KeyError, TypeError):
                    continue
        for key in self._resolved:
            rows.pop(key, None)
        rows.update(self._rejected)
        self._problems_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self._problems_path.with_suffix(self._problems_path.suffix + ".tmp")
        with _private_open(tmp, "w") as fh:
            for k in sorted(rows):
                fh.write(serialize_json(rows[k]) + "\n")
        os.replace(tmp, self._problems_path)

    def by_reason(self, kind: str) -> list[dict[str, t.Any]]:
        """This run's rejects of ``kind`` by reason, most frequent first, with one example."""
        rows = [
            {
                "stream": stream,
                "source_stream": source,
                "reason": reason,
                "count": n,
                "example": f"{source} {key}",
            }
            for (stream, source, k, reason), (n, key) in self.reasons.items()
            if k == kind
        ]
        return sorted(rows, key=lambda r: -r["count"])

    @property
    def problems_path(self) -> Path | None:
        """The open-problems file, or None when not configured."""
        return self._problems_path

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._path = None


def _private_open(path: Path, mode: str) -> t.IO[str]:
    """Open for writing, readable by the owner only (0600, also when the file exists).

    Rejected records hold people's names and emails.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, encoding="utf-8")
