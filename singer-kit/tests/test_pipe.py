"""Reading standard input line by line over a real pipe (in process, a writer thread)."""

from __future__ import annotations

import io
import json
import os
import threading
import time

from singer_kit.pipe import read_lines


def _pipe_lines(pieces: list[bytes], **hooks) -> list[str]:
    read_fd, write_fd = os.pipe()

    def writer() -> None:
        for piece in pieces:
            if isinstance(piece, float):
                time.sleep(piece)
            else:
                os.write(write_fd, piece)
        os.close(write_fd)

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_fd, "r", encoding="utf-8") as stream:
        lines = list(read_lines(stream, **hooks))
    thread.join(timeout=10)
    return lines


def test_lines_split_across_reads_and_inside_a_character_come_out_whole() -> None:
    text = '{"a": "é"}\n{"b": "' + "x" * 200_000 + '"}\n{"c": 3}'
    data = text.encode()
    cut = data.index("é".encode()) + 1  # inside the two-byte character
    before = []
    lines = _pipe_lines(
        [data[:cut], data[cut:100_000], data[100_000:]], before_read=lambda: before.append(1)
    )
    assert lines == text.splitlines(keepends=True)
    assert json.loads(lines[0]) == {"a": "é"}
    assert len(before) >= 2  # before the first read, and before each read after one


def test_a_quiet_input_calls_on_quiet_once_per_wait_limit() -> None:
    quiet = []
    lines = _pipe_lines(
        [b"a\n", 0.3, b"b\n"], wait_limit=lambda: 0.05, on_quiet=lambda: quiet.append(1)
    )
    assert lines == ["a\n", "b\n"]
    assert 2 <= len(quiet) <= 10


def test_no_wait_limit_waits_as_long_as_it_takes() -> None:
    quiet = []
    lines = _pipe_lines([b"a\n", 0.1, b"b"], wait_limit=lambda: None, on_quiet=quiet.append)
    assert lines == ["a\n", "b"]
    assert quiet == []


def test_a_stream_without_a_file_descriptor_is_read_as_it_is() -> None:
    before = []
    lines = list(read_lines(io.StringIO("a\nb\n"), before_read=lambda: before.append(1)))
    assert lines == ["a\n", "b\n"]
    assert before == [1]  # at its end
