"""The describe cache: each sObject's describe at most once per run, and on disk between runs.

A describe changes only when an admin edits the object, yet costs an API call; the cache keeps
one per ``(host, API version, sObject)`` for ``ttl`` seconds. Whoever finds that Salesforce
contradicts a cached describe (a record refused for a field the cache says exists) calls
:meth:`DescribeCache.forget` and fetches it fresh.
"""

from __future__ import annotations

import json
import logging
import time
import typing as t
from pathlib import Path

Fetch = t.Callable[[str], dict[str, t.Any]]


class DescribeCache:
    """Describes in memory for the run, and as JSON files in ``folder`` between runs."""

    def __init__(
        self,
        folder: Path | None,
        ttl: float,
        logger: logging.Logger | None = None,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        """Keep describes in ``folder`` for ``ttl`` seconds (no folder or ``ttl <= 0``: no disk)."""
        self.folder = folder
        self.ttl = ttl
        self._logger = logger or logging.getLogger(__name__)
        self._clock = clock
        self._memory: dict[str, dict[str, t.Any]] = {}

    def get(
        self, key: str, sobject: str, fetch: Fetch, fresh: bool = False
    ) -> tuple[dict[str, t.Any], bool]:
        """Return an sObject's describe and whether it came from the on-disk cache.

        Args:
            key: Which org and API version the file belongs to (``host-v62.0``).
            sobject: The sObject's API name.
            fetch: Asks Salesforce for the describe (one API call).
            fresh: Skip both caches (the answer replaces them).
        """
        if not fresh and sobject in self._memory:
            return self._memory[sobject], False
        path = self._path(key, sobject)
        if not fresh and path is not None:
            body = self._read(path)
            if body is not None:
                self._memory[sobject] = body
                return body, True
        body = fetch(sobject)
        self._memory[sobject] = body
        if path is not None:
            self._write(path, sobject, body)
        return body, False

    def forget(self, key: str, sobject: str) -> None:
        """Drop a describe file that Salesforce contradicted."""
        path = self._path(key, sobject)
        if path is not None:
            path.unlink(missing_ok=True)

    def _path(self, key: str, sobject: str) -> Path | None:
        if self.folder is None or self.ttl <= 0:
            return None
        return self.folder / f"{key}-{sobject}.json"

    def _read(self, path: Path) -> dict[str, t.Any] | None:
        try:
            if self._clock() - path.stat().st_mtime >= self.ttl:
                return None
            return t.cast(dict[str, t.Any], json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def _write(self, path: Path, sobject: str, body: dict[str, t.Any]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(body), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            self._logger.warning("Could not cache the %s describe (%s).", sobject, exc)
