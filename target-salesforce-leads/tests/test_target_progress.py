"""Progress lines of the target: formatters and the reporter, from the run report's counts."""

from __future__ import annotations

import logging

import pytest
from target_salesforce_leads.progress import (
    Progress,
    received_line,
    writing_line,
    written_line,
)
from target_salesforce_leads.report import RunReport


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_formatters() -> None:
    assert received_line("Lead", 3150, 5.0) == "Lead: 3,150 received (630/s)"
    assert writing_line("Lead", 1200, 1900, 5.0) == (
        "Lead: writing 1,900 records, 1,200 done (63%, 240/s), ~3 s left"
    )
    assert writing_line("Task", 0, 500, 5.0) == "Task: writing 500 records, 0 done (0%, 0.0/s)"
    assert written_line("Lead", 1900, 8.0) == "Lead: batch of 1,900 records done in 8 s (238/s)"


def test_lines_follow_the_report_from_receiving_to_writing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    report = RunReport(None, None)
    progress = Progress(logging.getLogger("test.target.progress"), report, interval=5, clock=clock)
    progress.stream("Lead")
    assert progress.due_lines() == []  # nothing received yet
    report.received("Lead", 500)
    clock.now += 5
    assert progress.due_lines() == ["Lead: 500 received (100/s)"]
    clock.now += 5
    assert progress.due_lines() == []  # nothing new
    progress.writing("Lead", 500)
    report.count("Lead", "Lead", "created", 150)
    report.count("Lead", "Contact", "updated", 50)
    clock.now += 4
    assert progress.due_lines() == ["Lead: writing 500 records, 200 done (40%, 50/s), ~6 s left"]
    report.count("Lead", "Lead", "rejected", 300)
    clock.now += 1
    with caplog.at_level(logging.INFO, logger="test.target.progress"):
        assert progress.wrote("Lead") == "Lead: batch of 500 records done in 5 s (100/s)"
    assert [r.getMessage() for r in caplog.records] == [
        "Lead: batch of 500 records done in 5 s (100/s)"
    ]
    assert progress.due_lines() == []


def test_a_quick_batch_says_nothing() -> None:
    clock = Clock()
    report = RunReport(None, None)
    progress = Progress(logging.getLogger("test"), report, interval=5, clock=clock)
    progress.writing("Task", 10)
    report.count("Task", "Task", "created", 10)
    assert progress.wrote("Task") is None
