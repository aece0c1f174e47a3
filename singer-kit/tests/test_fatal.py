"""The last-word paragraph of a run that stops on an error."""

from __future__ import annotations

import logging

import pytest
from singer_kit.fatal import last_word, unexpected
from singer_sdk.exceptions import ConfigValidationError


def _paragraph(exc: BaseException) -> str:
    return unexpected(exc, "The target", "the target's maintainers", "Nothing is lost.")


def test_the_paragraph_names_the_error_what_to_do_and_what_is_kept() -> None:
    text = _paragraph(KeyError("x"))
    assert text.startswith("The target stopped on an unexpected error (KeyError: 'x'). ")
    assert "`meltano --log-level=debug run ...`" in text
    assert "the target's maintainers" in text
    assert text.endswith(" Nothing is lost.")


def test_an_error_ends_in_the_paragraph_and_exit_1(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.kit.fatal")
    with (
        caplog.at_level(logging.DEBUG, logger="test.kit.fatal"),
        pytest.raises(SystemExit) as exited,
        last_word(logger, _paragraph),
    ):
        raise RuntimeError("boom")
    assert exited.value.code == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [_paragraph(RuntimeError("boom"))]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug and debug[0].exc_info is not None  # the traceback, at debug only


def test_invalid_settings_pass_through_for_the_sdk_to_list() -> None:
    with pytest.raises(ConfigValidationError), last_word(logging.getLogger("t"), _paragraph):
        raise ConfigValidationError("bad", errors=["x"])


def test_a_run_that_ends_well_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), last_word(logging.getLogger("t"), _paragraph):
        pass
    assert caplog.records == []
