"""The last thing a run that stops on an error prints: one paragraph.

The paragraph says what happened, why and what to do; the traceback is logged only at debug
level (``meltano --log-level=debug run ...``). Each plugin words its own paragraph (what it
stopped, what its state keeps); :func:`unexpected` words the one for an error it does not know.
"""

from __future__ import annotations

import contextlib
import sys
import typing as t

from singer_sdk.exceptions import ConfigValidationError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator


def unexpected(exc: BaseException, stopped: str, maintainers: str, kept: str) -> str:
    """The paragraph about an error the plugin does not know.

    Args:
        exc: The error.
        stopped: Who stopped, e.g. ``"The sync"``, ``"The target"``.
        maintainers: Whom to report to, e.g. ``"the tap's maintainers"``.
        kept: The sentence saying what the state keeps (so that nothing is lost).

    Returns:
        ``The sync stopped on an unexpected error (KeyError: 'x'). ...``
    """
    return (
        f"{stopped} stopped on an unexpected error ({type(exc).__name__}: {exc}). It does "
        "not know this failure, so it cannot say why. Run again with "
        "`meltano --log-level=debug run ...` to see where it happened, and report it to "
        f"{maintainers} with that output. {kept}"
    )


@contextlib.contextmanager
def last_word(logger: logging.Logger, paragraph: Callable[[BaseException], str]) -> Iterator[None]:
    """Turn an error that ends the run into ``paragraph(error)`` at ERROR, and exit 1.

    Invalid settings pass through: the SDK lists each of them itself.
    """
    try:
        yield
    except ConfigValidationError:
        raise
    except Exception as exc:
        logger.debug("Traceback of the error below:", exc_info=True)
        logger.error("%s", paragraph(exc))
        sys.exit(1)
