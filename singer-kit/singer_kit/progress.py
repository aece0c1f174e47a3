"""Progress lines: how counts, rates and durations are written, and the thread that logs them.

Each plugin says what its lines are about (records read, received, written); the wording of
the numbers in them and the reporting every ``interval`` seconds are the same everywhere.
"""

from __future__ import annotations

import threading
import typing as t

if t.TYPE_CHECKING:
    import logging

#: Seconds between progress lines unless the plugin's setting says otherwise.
DEFAULT_INTERVAL = 5


def number(value: float) -> str:
    """A count with thousands separators: ``3150`` -> ``3,150``."""
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


def per_second(count: float, elapsed: float) -> float:
    """Records per second (0 before any time has passed)."""
    return count / elapsed if elapsed > 0 else 0.0


def rate(count: float, elapsed: float) -> str:
    """Records per second as shown: whole numbers from 10/s on (``612/s``, ``2.5/s``)."""
    speed = per_second(count, elapsed)
    return f"{speed:,.0f}/s" if speed >= 10 else f"{speed:.1f}/s"


def time_left(done: float, total: float, elapsed: float) -> str | None:
    """``~3 s left`` at the current rate, or None when done or nothing moved yet."""
    speed = per_second(done, elapsed)
    if not 0 < done < total or speed <= 0:
        return None
    return f"~{duration((total - done) / speed)} left"


class Reporter:
    """Logs ``lines()`` every ``interval`` seconds from a background thread until stopped.

    Args:
        logger: Where the lines go (at INFO).
        lines: Gives the lines due now (called on the reporting thread).
        interval: Seconds between calls; 0 or less: no thread, no lines.
    """

    def __init__(
        self,
        logger: logging.Logger,
        lines: t.Callable[[], list[str]],
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.logger = logger
        self.lines = lines
        self.interval = float(interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Report until :meth:`stop` (once: a stopped reporter stays stopped)."""
        if self.interval <= 0 or self._thread is not None or self._stop.is_set():
            return
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting (waits for a line being logged)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for line in self.lines():
                self.logger.info("%s", line)
