"""Progress wording and the reporting thread (in process)."""

from __future__ import annotations

import logging
import threading

import pytest
from singer_kit.progress import Reporter, duration, number, rate, time_left


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "0 s"),
        (-3, "0 s"),
        (3.2, "3 s"),
        (59.6, "1 min"),
        (125, "2 min 5 s"),
        (900, "15 min"),
        (3600, "1 h"),
        (3 * 3600 + 240, "3 h 4 min"),
    ],
)
def test_durations_read_like_a_person_would_say_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_numbers_and_rates() -> None:
    assert number(3150) == "3,150"
    assert number(2.9) == "2"
    assert rate(3150, 5.0) == "630/s"
    assert rate(12, 4.0) == "3.0/s"
    assert rate(5, 0) == "0.0/s"
    assert rate(123_456, 1.0) == "123,456/s"


def test_time_left_only_while_moving_and_short_of_the_total() -> None:
    assert time_left(3150, 5000, 5.0) == "~3 s left"
    assert time_left(0, 5000, 6.0) is None
    assert time_left(5000, 5000, 6.0) is None
    assert time_left(5003, 5000, 6.0) is None
    assert time_left(10, 5000, 0) is None


def test_the_thread_logs_the_lines_due_until_stopped(caplog: pytest.LogCaptureFixture) -> None:
    logged = threading.Event()
    calls = []

    def lines() -> list[str]:
        calls.append(1)
        logged.set()
        return ["contacts: 7 read (1.0/s)"]

    reporter = Reporter(logging.getLogger("test.kit.thread"), lines, interval=0.02)
    with caplog.at_level(logging.INFO, logger="test.kit.thread"):
        reporter.start()
        try:
            assert logged.wait(10)
        finally:
            reporter.stop()
    assert caplog.records[0].getMessage() == "contacts: 7 read (1.0/s)"
    count = len(calls)
    reporter.start()  # a stopped reporter stays stopped
    assert reporter._thread is None and len(calls) == count


def test_zero_interval_starts_no_thread() -> None:
    reporter = Reporter(logging.getLogger("test"), lambda: ["x"], interval=0)
    reporter.start()
    assert reporter._thread is None
    reporter.stop()
