"""Progress lines while a run goes: per stream, records received (with rate).

While a batch is written: how much of it is done, percent and time left.

Nothing is added per record: the counts are the run report's own (``RunReport.streams``), and
a background thread looks at them every ``progress_interval_seconds``.
"""

from __future__ import annotations

import time
import typing as t

from singer_kit.progress import DEFAULT_INTERVAL, Reporter, duration, number, rate, time_left

if t.TYPE_CHECKING:
    import logging

    from target_salesforce_leads.report import RunReport

#: The outcomes that account for a record once its batch is written.
HANDLED = ("created", "updated", "unchanged", "waiting", "rejected")


def received_line(name: str, received: int, elapsed: float) -> str:
    """``Lead: 3,150 received (612/s)``."""
    return f"{name}: {number(received)} received ({rate(received, elapsed)})"


def writing_line(name: str, done: int, size: int, elapsed: float) -> str:
    """``Lead: writing 1,900 records, 1,200 done (63%, 240/s), ~3 s left``."""
    done = min(done, size)
    text = (
        f"{name}: writing {number(size)} records, {number(done)} done "
        f"({100 * done // size if size else 100}%, {rate(done, elapsed)})"
    )
    left = time_left(done, size, elapsed)
    if left:
        text += f", {left}"
    return text


def written_line(name: str, size: int, elapsed: float) -> str:
    """``Lead: batch of 1,900 records done in 8 s (237/s)``."""
    return (
        f"{name}: batch of {number(size)} records done in {duration(elapsed)} "
        f"({rate(size, elapsed)})"
    )


class _Stream:
    __slots__ = ("batch_done_before", "batch_size", "batch_started", "lines", "reported", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.reported = 0
        self.lines = 0
        self.batch_size = 0
        self.batch_started = 0.0
        self.batch_done_before = 0


class Progress:
    """Reports the run report's counts every ``interval`` seconds from a background thread."""

    def __init__(
        self,
        logger: logging.Logger,
        report: RunReport,
        interval: float = DEFAULT_INTERVAL,
        clock: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.report = report
        self.interval = float(interval)
        self.clock = clock
        self._streams: dict[str, _Stream] = {}
        self.reporter = Reporter(logger, self.due_lines, interval)

    def _handled(self, name: str) -> int:
        counts = self.report.streams.get(name) or {}
        return sum(counts.get(k, 0) for k in HANDLED)

    def stream(self, name: str) -> None:
        """A stream's first record is coming (its clock starts)."""
        self._streams.setdefault(name, _Stream(self.clock()))

    def writing(self, name: str, size: int) -> None:
        """A batch of ``size`` records of the stream is being written."""
        self.stream(name)
        info = self._streams[name]
        info.batch_size = size
        info.batch_started = self.clock()
        info.batch_done_before = self._handled(name)

    def wrote(self, name: str) -> str | None:
        """The batch is written: its last line, if it logged progress (quick ones stay quiet)."""
        info = self._streams.get(name)
        if info is None or not info.batch_size:
            return None
        size, info.batch_size = info.batch_size, 0
        if not info.lines:
            return None
        line = written_line(name, size, self.clock() - info.batch_started)
        self.logger.info("%s", line)
        return line

    def due_lines(self) -> list[str]:
        """The lines to log now.

        One for each stream whose batch is being written, or that received records since its
        last line.
        """
        now = self.clock()
        lines = []
        for name, info in list(self._streams.items()):
            if info.batch_size:
                done = self._handled(name) - info.batch_done_before
                line = writing_line(name, done, info.batch_size, now - info.batch_started)
            else:
                received = (self.report.streams.get(name) or {}).get("received", 0)
                if received == info.reported:
                    continue
                info.reported = received
                line = received_line(name, received, now - info.started)
            info.lines += 1
            lines.append(line)
        return lines

    def start(self) -> None:
        """Report every ``interval`` seconds until :meth:`stop` (no thread if interval <= 0)."""
        self.reporter.start()

    def stop(self) -> None:
        """Stop reporting."""
        self.reporter.stop()
