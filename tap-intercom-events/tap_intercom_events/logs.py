"""What the tap logs at the default level.

The SDK's lines about each sync of a child stream (one sync per contact or conversation) only
at debug level.
"""

from __future__ import annotations

import logging

#: The SDK's messages for every sync of a stream (``Stream.sync``, ``request_records``).
PER_SYNC_MESSAGES = ("Beginning sync of ", "Pagination stopped after ")


class PerParentLinesAtDebug(logging.Filter):
    """Drops the SDK's per-sync INFO lines of a child stream unless its logger logs DEBUG."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep everything but the per-sync lines below debug level."""
        if record.levelno != logging.INFO or self._logger.isEnabledFor(logging.DEBUG):
            return True
        message = record.msg
        return not (isinstance(message, str) and message.startswith(PER_SYNC_MESSAGES))


def quiet_per_parent_lines(logger: logging.Logger) -> None:
    """Install the filter on a child stream's logger (once)."""
    if not any(isinstance(f, PerParentLinesAtDebug) for f in logger.filters):
        logger.addFilter(PerParentLinesAtDebug(logger))
