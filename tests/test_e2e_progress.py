"""What a person watching `meltano run` sees, through real runs against the emulators.

The volume workspace's full sync (7,000 contacts, 2,000 conversations: the run
tests/test_e2e_volume.py checks record by record, measured here, not run again) logs a few
hundred lines at the default level, no SDK METRIC line, and a progress line for every running
stream at least every 10 s. A failed run ends in one paragraph from the plugin that failed,
with no traceback unless Meltano runs at debug level.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.pipeline import JOB, Pipeline, RunResult

#: A Meltano console line: time, level, source (a plugin or meltano), message.
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+)Z \[(\w+)\s*\] (\S+)\s+(.*)$")
#: Progress lines (tap: read; target: received, writing, batch done) and their stream.
PROGRESS = re.compile(r"^(\w+): (?:[\d,]+ read |[\d,]+ received |writing [\d,]+ records|batch of )")
BEGIN = re.compile(r"^Beginning sync of '(\w+)'")
MAX_LINES = 300
MAX_GAP_SECONDS = 10.0
TAP = "tap-intercom-events"
MAPPER = "map-intercom-salesforce"
TARGET = "target-salesforce-leads"


def parsed(text: str) -> list[tuple[dt.datetime, str, str, str]]:
    """(time, level, source, message) of each line Meltano printed (continuations skipped)."""
    rows = []
    for raw in text.splitlines():
        m = LINE.match(raw)
        if m:
            when = dt.datetime.fromisoformat(m[1])
            rows.append((when, m[2], m[3], m[4].strip()))
    return rows


def progress_gaps(result: RunResult) -> dict[tuple[str, str], list[float]]:
    """Seconds between consecutive progress lines of each (plugin, stream, phase), counted
    from the stream's "Beginning sync" line for the tap's streams.

    The target's phases (receiving, then writing once its input ends) are apart: between them
    the stream waits for the rest of the input and has nothing new to say (the tap's lines go on).
    """
    times: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for when, _level, source, message in parsed(result.stderr):
        m = PROGRESS.match(message) or (BEGIN.match(message) if source == TAP else None)
        if m:
            phase = (
                ""
                if source != TARGET
                else ("/receiving" if " received " in message else "/writing")
            )
            times[(source, m[1] + phase)].append(when)
    return {
        key: [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False)]
        for key, stamps in times.items()
    }


@pytest.mark.volume
def test_a_full_sync_logs_a_few_hundred_lines_with_progress_at_least_every_10_s(
    volume_full_sync: RunResult,
) -> None:
    result = volume_full_sync
    assert result.returncode == 0, result.explain()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    rows = parsed(result.stderr)
    per_source: dict[str, int] = defaultdict(int)
    for _when, _level, source, _message in rows:
        per_source[source] += 1
    gaps = progress_gaps(result)
    worst = {f"{p}/{s}": round(max(g, default=0.0), 1) for (p, s), g in gaps.items()}
    duration = (rows[-1][0] - rows[0][0]).total_seconds()
    print(
        f"\n[volume full sync log] {len(lines)} lines in {duration:.0f} s; per source "
        f"{dict(per_source)}; longest gap between progress lines per stream {worst}"
    )
    assert "METRIC" not in result.stderr
    assert "Traceback" not in result.output
    assert len(lines) <= MAX_LINES, "\n".join(lines)
    for stream in ("contacts", "conversations"):
        mine = [m for _w, _l, s, m in rows if s == TAP and m.startswith(f"{stream}: ")]
        assert any("% of " in m and " left" in m for m in mine), (stream, mine)
        assert any(re.search(r" read in [\d hmins]+ \(", m) for m in mine), (stream, mine)
    # The target writes only once its input ends; while the tap reads it says what it got.
    assert (TARGET, "Lead/receiving") in gaps and (TARGET, "Task/receiving") in gaps, sorted(gaps)
    for key, values in gaps.items():
        assert max(values, default=0.0) <= MAX_GAP_SECONDS, (key, values)


def tail_after(result: RunResult, source: str) -> tuple[str, list[tuple[str, str]]]:
    """The last line `source` printed, and (source, message) of every line after it."""
    rows = parsed(result.stderr)
    index = max(i for i, row in enumerate(rows) if row[2] == source)
    return rows[index][3], [(s, m) for _w, _l, s, m in rows[index + 1 :]]


def test_a_refused_intercom_token_ends_in_one_paragraph_and_a_traceback_only_at_debug(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline(TAP_INTERCOM_EVENTS_ACCESS_TOKEN="revoked-token-7d2a")
    result = pipe.run(check=False)
    assert result.returncode != 0, result.explain()
    assert "Traceback" not in result.output, result.output[-4000:]
    last, after = tail_after(result, TAP)
    assert last.startswith("The sync stopped: Intercom refused the access token (401"), last
    assert "Regenerate the token" in last and "Nothing is lost" in last, last
    # After it: only the mapper's and the target's end of input, then Meltano's own trailer
    # (which names the failed plugin); none of it a traceback.
    assert {source for source, _ in after} <= {MAPPER, TARGET, "meltano"}, after
    meltano_tail = [m for s, m in after if s == "meltano"]
    assert meltano_tail[0] == "Extractor failed" and len(meltano_tail) <= 3, after
    assert "revoked-token-7d2a" not in result.output

    debug = pipe.meltano("--log-level=debug", "run", JOB, check=False)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr
    assert "The sync stopped: Intercom refused the access token" in debug.stderr


def test_salesforce_failing_every_write_ends_the_run_in_the_targets_paragraph(
    make_pipeline: Callable[..., Pipeline], tmp_path: Path
) -> None:
    pipe = make_pipeline(
        TARGET_SALESFORCE_LEADS_TRANSPORT="bulk",
        TARGET_SALESFORCE_LEADS_MAX_RETRIES="0",
    )
    # Every Bulk call answers 503: login, describe and lookups work, writing does not.
    pipe.salesforce.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 503, "count": 100000, "path": "/services/data/v62.0/jobs"},
    )
    result = pipe.run(check=False)
    assert result.returncode != 0, result.explain()
    assert "Traceback" not in result.output, result.output[-4000:]
    last, after = tail_after(result, TARGET)
    assert last.startswith("The run failed: Stopped writing because Salesforce kept failing"), last
    assert "nothing is lost" in last and "run again" in last, last
    # The target is the last plugin to finish: only Meltano's own trailer follows.
    assert [m for _s, m in after][:1] == ["Loader failed"], after
    assert {source for source, _ in after} == {"meltano"} and len(after) <= 3, after
    assert result.salesforce_record_writes == {}
