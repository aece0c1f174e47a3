"""The last thing a failed sync prints: one paragraph (what happened, why, what to do), with
the traceback only at debug level (``meltano --log-level=debug run ...``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import typing as t

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

RESUME = "Nothing is lost: the state saved so far is kept and the next run resumes from it."


def paragraph(exc: BaseException) -> str:
    """What a person reads about the error that stopped the sync."""
    if isinstance(exc, FatalAPIError | ValueError) and str(exc):
        # The tap's own errors already say what happened, why and what to do.
        return f"The sync stopped: {exc} {RESUME}"
    return (
        f"The sync stopped on an unexpected error ({type(exc).__name__}: {exc}). The tap "
        "does not know this failure, so it cannot say why. Run again with "
        "`meltano --log-level=debug run ...` to see where it happened, and report it to the "
        f"tap's maintainers with that output. {RESUME}"
    )


@contextlib.contextmanager
def last_word(logger: logging.Logger) -> Iterator[None]:
    """Turn an error that ends the sync into :func:`paragraph` and exit 1."""
    try:
        yield
    except ConfigValidationError:
        raise  # the SDK lists each invalid setting
    except Exception as exc:
        logger.debug("Traceback of the error below:", exc_info=True)
        logger.error("%s", paragraph(exc))
        sys.exit(1)
