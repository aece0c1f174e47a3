"""Progress lines while a run goes: per stream, records received (with rate), then while a
batch is written, how much of it is done, percent and time left.

Nothing is added per record: the counts are the run report's own (``RunReport.streams``), and
a background thread looks at them every ``progress_interval_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    from target_salesforce_leads.report import RunReport

DEFAULT_INTERVAL = 5
#: The outcomes that account for a record once its batch is written.
HANDLED = ("created", "updated", "unchanged", "waiting", "rejected")


def number(value: float) -> str:
    """``3150`` -> ``3,150``."""
    return f"{int(value):,}"


def duration(seconds: float) -> str:
    """A short, rounded duration: ``3 s``, ``2 min 5 s``, ``1 h 4 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def rate(count: int, elapsed: float) -> str:
    """Records per second, whole numbers from 10/s on."""
    per_second = count / elapsed if elapsed > 0 else 0.0
    return f"{per_second:,.0f}/s" if per_second >= 10 else f"{per_second:.1f}/s"


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
    per_second = done / elapsed if elapsed > 0 else 0.0
    if 0 < done < size and per_second > 0:
        text += f", ~{duration((size - done) / per_second)} left"
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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
        """The lines to log now: a stream whose batch is being written, or that received
        records since its last line.
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
        if self.interval <= 0 or self._thread is not None or self._stop.is_set():
            return
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for line in self.due_lines():
                self.logger.info("%s", line)
