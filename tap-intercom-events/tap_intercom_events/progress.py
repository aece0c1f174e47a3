"""Progress lines while a sync runs: per stream, records read and rate.

Where Intercom tells the total (search ``total_count``), percent and time left too.

Nothing is added per record: a stream's count is the SDK's own record counters (the one of
each sync of the stream, plus what the finished or logged ones counted). A background thread
looks at the counts every ``progress_interval_seconds`` and logs one line per stream that
moved, or that has a known total and is not finished (a stalled stream keeps saying so).
"""

from __future__ import annotations

import threading
import time
import typing as t

from singer_kit.progress import DEFAULT_INTERVAL, Reporter, duration, number, rate, time_left
from singer_sdk import metrics

if t.TYPE_CHECKING:
    import logging


def progress_line(
    name: str, count: int, elapsed: float, total: int | None = None, verb: str = "read"
) -> str:
    """``contacts: 3,150 read (612/s), 63% of 5,000, ~3 s left``."""
    text = f"{name}: {number(count)} {verb} ({rate(count, elapsed)})"
    if total:
        shown = min(count, total)
        text += f", {100 * shown // total}% of {number(total)}"
        left = time_left(count, total, elapsed)
        if left:
            text += f", {left}"
    return text


def done_line(name: str, count: int, elapsed: float, verb: str = "read") -> str:
    """``contacts: 5,000 read in 8 s (612/s)``."""
    return f"{name}: {number(count)} {verb} in {duration(elapsed)} ({rate(count, elapsed)})"


class Meter:
    """One stream's count.

    What its SDK record counters counted (``count``, kept as they log or close) plus what the
    open ones hold.
    """

    __slots__ = ("count", "finished", "lines", "live", "name", "reported", "started", "total")

    def __init__(self, name: str, started: float) -> None:
        self.name = name
        self.count = 0
        self.live: set[metrics.Counter] = set()
        self.total: int | None = None
        self.started = started
        self.finished = False
        self.reported = -1
        self.lines = 0

    def current(self) -> int:
        """Records counted so far."""
        return self.count + sum(counter.value for counter in list(self.live))


class Progress:
    """The meters of one run and the thread that reports them."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = DEFAULT_INTERVAL,
        clock: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = float(interval)
        self.clock = clock
        self._meters: dict[str, Meter] = {}
        self._lock = threading.Lock()
        self.reporter = Reporter(logger, self.due_lines, interval)

    def meter(self, name: str) -> Meter:
        """The stream's meter, created (and its clock started) on first use."""
        found = self._meters.get(name)
        if found is None:
            with self._lock:
                found = self._meters.setdefault(name, Meter(name, self.clock()))
        return found

    def due_lines(self) -> list[str]:
        """The lines to log now.

        One for each stream that moved since its last line, or that has not reached its known
        total (a stalled stream keeps saying so).
        """
        now = self.clock()
        lines = []
        for meter in list(self._meters.values()):
            count = meter.current()
            short = bool(meter.total) and count < meter.total  # type: ignore[operator]
            if meter.finished or (count == meter.reported and not short):
                continue
            if not count and now - meter.started < self.interval:
                continue  # just begun
            meter.reported = count
            meter.lines += 1
            lines.append(progress_line(meter.name, count, now - meter.started, meter.total))
        return lines

    def finish(self, name: str) -> str | None:
        """The stream is done: its last line, if it logged progress before.

        Quick streams stay quiet.
        """
        meter = self._meters.get(name)
        if meter is None or meter.finished:
            return None
        meter.finished = True
        if not meter.lines:
            return None
        line = done_line(meter.name, meter.current(), self.clock() - meter.started)
        self.logger.info("%s", line)
        return line

    def begin(self, family: t.Iterable[str]) -> None:
        """A stream (and its children) begins: every other stream is done."""
        keep = set(family)
        for name in list(self._meters):
            if name not in keep:
                self.finish(name)

    def finish_all(self) -> None:
        """Every stream is done (end of the sync)."""
        for name in list(self._meters):
            self.finish(name)

    def start(self) -> None:
        """Report every ``interval`` seconds until :meth:`stop` (no thread if interval <= 0)."""
        self.reporter.start()

    def stop(self) -> None:
        """Stop reporting."""
        self.reporter.stop()
