"""The last thing a failed sync prints: one paragraph (what happened, why, what to do).

:func:`singer_kit.fatal.last_word` prints it, with the traceback only at debug level.
"""

from __future__ import annotations

from singer_kit.fatal import unexpected
from singer_sdk.exceptions import FatalAPIError

RESUME = "Nothing is lost: the state saved so far is kept and the next run resumes from it."


def paragraph(exc: BaseException) -> str:
    """What a person reads about the error that stopped the sync."""
    if isinstance(exc, FatalAPIError | ValueError) and str(exc):
        # The tap's own errors already say what happened, why and what to do.
        return f"The sync stopped: {exc} {RESUME}"
    return unexpected(exc, "The sync", "the tap's maintainers", RESUME)
