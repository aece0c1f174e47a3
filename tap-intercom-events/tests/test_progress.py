"""Progress lines: the formatter and the reporter's choice of lines (in process, fake clock)."""

from __future__ import annotations

import logging
import time

import pytest
from singer_sdk import metrics
from tap_intercom_events.progress import Progress, done_line, progress_line
from tap_intercom_events.sdk_hooks import CountingRecordCounter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_line_with_a_known_total_has_percent_and_time_left() -> None:
    line = progress_line("contacts", 3150, 5.0, total=5000)
    assert line == "contacts: 3,150 read (630/s), 63% of 5,000, ~3 s left"


def test_a_line_without_total_has_count_and_rate_only() -> None:
    assert progress_line("conversation_parts", 12, 4.0) == "conversation_parts: 12 read (3.0/s)"


def test_more_than_the_total_reads_as_100_percent_with_no_time_left() -> None:
    line = progress_line("contacts", 5003, 10.0, total=5000)
    assert line == "contacts: 5,003 read (500/s), 100% of 5,000"


def test_a_stalled_stream_has_no_time_left_to_promise() -> None:
    assert progress_line("contacts", 0, 6.0, total=5000) == "contacts: 0 read (0.0/s), 0% of 5,000"


def test_done_line() -> None:
    assert done_line("contacts", 5000, 8.0) == "contacts: 5,000 read in 8 s (625/s)"


def test_reporter_reports_moving_streams_and_stalled_ones_with_a_total_only() -> None:
    clock = Clock()
    progress = Progress(logging.getLogger("test"), interval=5, clock=clock)
    contacts = progress.meter("contacts")
    contacts.total = 100
    tags = progress.meter("tags")
    tags.count = 3
    clock.now += 5
    contacts.count = 40
    assert progress.due_lines() == [
        "contacts: 40 read (8.0/s), 40% of 100, ~8 s left",
        "tags: 3 read (0.6/s)",
    ]
    clock.now += 5
    # Neither moved: contacts has not reached its total (it says so), tags is quiet.
    assert progress.due_lines() == ["contacts: 40 read (4.0/s), 40% of 100, ~15 s left"]


def test_a_stream_that_just_began_waits_for_its_first_interval() -> None:
    clock = Clock()
    progress = Progress(logging.getLogger("test"), interval=5, clock=clock)
    progress.meter("conversations").total = 10
    clock.now += 1
    assert progress.due_lines() == []


def test_finishing_logs_a_last_line_only_for_streams_that_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    progress = Progress(logging.getLogger("test.progress"), interval=5, clock=clock)
    progress.meter("admins").count = 5
    progress.begin(["companies"])  # admins is done before it ever reported: quiet
    companies = progress.meter("companies")
    clock.now += 5
    companies.count = 300
    assert progress.due_lines() == ["companies: 300 read (60/s)"]
    clock.now += 1
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress.begin(["contacts", "contact_event_summaries"])
    assert [r.getMessage() for r in caplog.records] == ["companies: 300 read in 6 s (50/s)"]
    assert progress.due_lines() == []


def test_the_thread_logs_lines_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress(logging.getLogger("test.thread"), interval=0.05)
    progress.meter("contacts").count = 7
    with caplog.at_level(logging.INFO, logger="test.thread"):
        progress.start()
        try:
            for _ in range(100):
                if caplog.records:
                    break
                time.sleep(0.02)
        finally:
            progress.stop()
    assert caplog.records and caplog.records[0].getMessage().startswith("contacts: 7 read (")


def test_zero_interval_starts_no_thread() -> None:
    progress = Progress(logging.getLogger("test"), interval=0)
    progress.start()
    assert progress.reporter._thread is None


def test_a_stream_counts_through_the_sdks_record_counters() -> None:
    clock = Clock()
    progress = Progress(logging.getLogger("test"), interval=5, clock=clock)
    meter = progress.meter("conversation_parts")
    with CountingRecordCounter(meter, metrics.Metric.RECORD_COUNT, {}, log_interval=60) as one:
        for _ in range(3):
            one.increment()
        assert meter.current() == 3
    # One counter per sync of a child stream: the closed ones' counts stay in the meter.
    with CountingRecordCounter(meter, metrics.Metric.RECORD_COUNT, {}, log_interval=0) as two:
        two.increment()  # log_interval 0: the SDK logs and restarts from 0 at once
        two.increment()
        assert two.value == 0
        assert meter.current() == 5
    assert meter.current() == 5 and not meter.live
