"""The last thing a failed run prints: one paragraph (what happened, why, what to do).

:func:`singer_kit.fatal.last_word` prints it, with the traceback only at debug level.
"""

from __future__ import annotations

from singer_kit.fatal import unexpected

KEPT = (
    "The state was not advanced past records that were not written, so the next run "
    "sends them again; nothing is lost."
)


def paragraph(exc: BaseException) -> str:
    """What a person reads about an error the target does not know."""
    return unexpected(exc, "The target", "the target's maintainers", KEPT)
