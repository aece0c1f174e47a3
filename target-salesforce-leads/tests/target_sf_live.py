"""A target CLI process kept running on a pipe, as in a long-lived job: messages are sent
while it runs and its STATE lines are read as it emits them."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import typing as t
from pathlib import Path

from .target_sf_testlib import TARGET_CLI


class LiveTarget:
    """The real target CLI with stdin open; stdout is block-buffered as under Meltano."""

    def __init__(
        self,
        config: dict[str, t.Any],
        folder: Path,
        name: str = "target",
        env: dict[str, str] | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        cfg_path = folder / f"{name}-config.json"
        cfg_path.write_text(json.dumps(config))
        self.stderr_path = folder / f"{name}.stderr"
        self._stderr = self.stderr_path.open("w")
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, **(env or {})}
        self.proc = subprocess.Popen(
            [*TARGET_CLI, "--config", str(cfg_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        self.states: list[dict[str, t.Any]] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, *messages: dict[str, t.Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        self.proc.stdin.flush()

    def next_state(self, timeout: float = 60) -> dict[str, t.Any]:
        """The next STATE the target emits (raises queue.Empty after ``timeout`` s)."""
        line = self._lines.get(timeout=timeout)
        if line is None:
            raise EOFError(f"the target exited: {self.stderr()[-2000:]}")
        state = json.loads(line)
        self.states.append(state)
        return state

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text()

    def kill(self) -> None:
        """kill -9: nothing of the process runs after this."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._stderr.close()

    def close(self, timeout: float = 120) -> int:
        """Close stdin (end of input) and wait for the exit code."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        while True:  # the states emitted at the end
            try:
                line = self._lines.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.states.append(json.loads(line))
        if not self._stderr.closed:
            self._stderr.close()
        return int(self.proc.returncode)
