"""The last thing a failed run prints: one paragraph (what happened, why, what to do), with
the traceback only at debug level (``meltano --log-level=debug run ...``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import typing as t

from singer_sdk.exceptions import ConfigValidationError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

KEPT = (
    "The state was not advanced past records that were not written, so the next run "
    "sends them again; nothing is lost."
)


def paragraph(exc: BaseException) -> str:
    """What a person reads about an error the target does not know."""
    return (
        f"The target stopped on an unexpected error ({type(exc).__name__}: {exc}). It "
        "does not know this failure, so it cannot say why. Run again with "
        "`meltano --log-level=debug run ...` to see where it happened, and report it to "
        f"the target's maintainers with that output. {KEPT}"
    )


@contextlib.contextmanager
def last_word(logger: logging.Logger) -> Iterator[None]:
    """Turn an unexpected error that ends the run into :func:`paragraph` and exit 1."""
    try:
        yield
    except ConfigValidationError:
        raise  # the SDK lists each invalid setting
    except Exception as exc:
        logger.debug("Traceback of the error below:", exc_info=True)
        logger.error("%s", paragraph(exc))
        sys.exit(1)
