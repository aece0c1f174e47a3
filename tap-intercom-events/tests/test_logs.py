"""Child streams' per-parent SDK lines: dropped at the default level, kept at debug."""

from __future__ import annotations

import logging

import pytest
from tap_intercom_events.logs import quiet_per_parent_lines


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_per_sync_lines_of_a_child_stream_show_only_at_debug(
    level: int, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(f"test-tap.conversation_parts.{level}")
    quiet_per_parent_lines(logger)
    quiet_per_parent_lines(logger)  # once is enough
    assert len(logger.filters) == 1
    with caplog.at_level(level, logger=logger.name):
        logger.info("Beginning sync of '%s' in full_table mode", "conversation_parts")
        logger.info("Pagination stopped after %d pages because no records were found", 0)
        logger.warning("Conversation 1 has 600 parts but Intercom returned only 500")
        logger.info("conversation 2 was deleted before its parts were read")
    messages = [r.getMessage() for r in caplog.records]
    kept = [
        "Conversation 1 has 600 parts but Intercom returned only 500",
        "conversation 2 was deleted before its parts were read",
    ]
    if level == logging.DEBUG:
        assert len(messages) == 4
    else:
        assert messages == kept
