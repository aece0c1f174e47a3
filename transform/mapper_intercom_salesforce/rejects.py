"""The mapper's reject output: one JSON line per Intercom record that becomes no Lead or Task."""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import typing as t
from pathlib import Path

from singer_sdk.singerlib.json import serialize_json

REJECTED = "rejected"
FILTERED = "filtered"


class RejectWriter:
    """Appends rejects to a JSON Lines file (when configured) and counts them."""

    def __init__(self, path: str | None, logger: logging.Logger) -> None:
        """Prepare the reject file; it is opened for appending at the first reject.

        Args:
            path: The reject file, or None to only log and count.
            logger: Where rejected (not filtered) records are also reported.
        """
        self.logger = logger
        self.counts: dict[tuple[str, str], int] = {}
        self._path = Path(path) if path else None
        self._file: t.TextIO | None = None
        # One id per run on every line, so a file appended to across runs reads run by run.
        self.run_id = os.environ.get("MELTANO_RUN_ID") or (
            dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            + "-" + secrets.token_hex(3))

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
        if kind == REJECTED:
            self.logger.warning("%s %s rejected: %s", stream, key, reason)
        if self._path is None:
            return
        if self._file is None:
            # Opened at the first reject, so a run with none (or --schemas) leaves no file.
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # Append: an earlier run's rejects stay readable until someone deals with them.
            self._file = self._path.open("a", encoding="utf-8")
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

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._path = None
