"""Run history end to end: real `meltano run`s fill it, `meltano invoke
target-salesforce-leads:history-page` writes the page, headless Chromium renders it.

The figures read back from the rendered DOM must equal the history's rows, and those the
emulators' own counts (records written, API calls) and the run's files (rejected, waiting).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from target_salesforce_leads.history import RunHistory

from scripts.history_dom import as_number, read_history_dom
from scripts.pipeline import Pipeline, RunResult, read_jsonl

CHROMIUM_TIMEOUT = 120
WRITTEN_COLOUR = (0x2B, 0x7A, 0x3D)  # the "written" series of history_page.SERIES


def _install_chromium() -> str:
    """Debian's chromium, installed with apt-get when missing (CI starts from a fresh machine)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail(
            "chromium is not installed and cannot be (needs root and apt-get): "
            "install Debian's chromium package and run again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "chromium"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    found = shutil.which("chromium")
    if done.returncode != 0 or not found:
        pytest.fail(f"apt-get install chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return found


@pytest.fixture(scope="session")
def chromium() -> str:
    return _install_chromium()


def _chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # --no-sandbox: the sandbox cannot start as root (tests run as root on CI).
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1280,1600",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT,
    )


@pytest.fixture(scope="module")
def runs(pipeline: Pipeline) -> list[tuple[RunResult, int]]:
    """Four real runs: a first sync, one after activity in Intercom, one with nothing new, and
    one whose Salesforce login fails. Each comes with the number of 'rejected' lines the mapper
    appended to its reject file during that run."""

    def run(**kwargs: Any) -> tuple[RunResult, int]:
        before = len(read_jsonl(pipeline.mapper_rejects))
        result = pipeline.run(**kwargs)
        added = read_jsonl(pipeline.mapper_rejects)[before:]
        return result, sum(1 for r in added if r.get("kind") == "rejected")

    first = run()
    pipeline.intercom.admin("POST", "clock", {"advance": 3600})
    pipeline.intercom.admin("POST", "simulate", {"steps": 25, "seed": 9})
    second = run()
    third = run()
    failed = run(check=False, env={"TARGET_SALESFORCE_LEADS_CLIENT_SECRET": "not-the-secret"})
    return [first, second, third, failed]


def test_history_page_in_a_browser(
    pipeline: Pipeline, runs: list[tuple[RunResult, int]], chromium: str, tmp_path: Path
) -> None:
    first, second, third, failed = (result for result, _ in runs)
    for ok in (first, second, third):
        assert ok.returncode == 0, ok.explain()
    assert failed.returncode != 0
    # Default place: next to Meltano's system database (the pipeline's MELTANO_DATABASE_URI).
    db = pipeline.workdir / "run-history.db"
    assert db.exists(), sorted(p.name for p in pipeline.workdir.iterdir())
    with RunHistory(str(db)) as history:
        rows = history.runs()
        reasons = {r["run_id"]: history.reasons(r["run_id"]) for r in rows}
        problems = history.problems(rows[-1]["run_id"])
    assert len(rows) == 4, rows
    assert [r["status"] for r in rows][-1] == "failed"
    rejects = read_jsonl(pipeline.target_rejects)
    for row, (result, mapper_rejected) in zip(rows, runs, strict=True):
        assert row["run_id"] == result.summary["run_id"]
        # Ground truth from the emulators.
        assert row["written"] == result.written(), (row, result.salesforce_record_writes)
        assert row["salesforce_api_calls"] == result.salesforce_calls, row
        # The extractor's summary is in the run report whenever the tap finished; the run
        # whose login failed stops the pipeline before it does.
        if result is not failed:
            assert row["intercom_api_calls"] == result.intercom_calls > 0, row
        elif row["intercom_api_calls"] is not None:
            assert row["intercom_api_calls"] == result.intercom_calls, row
        # The run report's rejects: the target's (its reject file's lines of that run) and
        # the mapper's (the rejected lines it appended to its reject file in that run).
        assert row["rejected"] - row["mapper_rejected"] == sum(
            1 for r in rejects if r["run_id"] == row["run_id"]
        )
        if result is not failed:
            assert row["mapper_rejected"] == mapper_rejected, row
    assert rows[0]["mapper_rejected"] > 0
    assert rows[0]["written"] > 0 and rows[2]["written"] == 0
    # The failed run rewrote neither file: they are those of the third run, still open.
    assert rows[2]["waiting_now"] == len(read_jsonl(pipeline.waiting_file)) > 0
    # Open problems: the target's and the mapper's lists, as the run report names them.
    mapper_problems = pipeline.output / "problems" / "map-intercom-salesforce.jsonl"
    assert (
        rows[2]["open_problems"]
        == rows[3]["open_problems"]
        == len(read_jsonl(pipeline.problems_file)) + len(read_jsonl(mapper_problems))
    )

    # The Meltano command (meltano.yml) writes output/run-history.html; an extra
    # --history-page sends it elsewhere.
    page = pipeline.output / "run-history.html"
    proc = pipeline.meltano(
        "invoke", "target-salesforce-leads:history-page", "--history-page", str(page), check=False
    )
    assert proc.returncode == 0 and page.exists(), proc.stderr[-3000:]
    assert "the latest 4 of 4 runs" in proc.stderr

    dump = _chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dump.returncode == 0, dump.stderr[-2000:]
    dom = read_history_dom(dump.stdout)
    assert dom.values["runs-total"] == "4"
    shown = {r["run-id"]: r for r in dom.tables["runs"]}
    assert list(shown) == [r["run_id"] for r in reversed(rows)]  # newest first
    fields = (
        "written",
        "created",
        "updated",
        "unchanged",
        "waiting",
        "rejected",
        "salesforce_api_calls",
        "intercom_api_calls",
        "open_problems",
    )
    for row in rows:
        for field in fields:
            assert as_number(shown[row["run_id"]][field]) == row[field], (row["run_id"], field)
        assert shown[row["run_id"]]["status"].startswith(row["status"])
    points = {(p["series"], p["run-id"]): int(p["value"]) for p in dom.points}
    for row in rows:
        for series in ("written", "waiting", "rejected", "salesforce_api_calls"):
            assert points[(series, row["run_id"])] == row[series]
    want_reasons: dict[tuple[str, str], int] = {}
    for run_reasons in reasons.values():
        for r in run_reasons:
            key = (r["outcome"], r["code"])
            want_reasons[key] = want_reasons.get(key, 0) + r["count"]
    got_reasons = {
        (r["outcome"], r["code"]): as_number(r["count"]) for r in dom.tables.get("reasons", [])
    }
    assert got_reasons == want_reasons
    assert {
        (p["status"], p["code"]): as_number(p["count"]) for p in dom.tables.get("open-problems", [])
    } == {(p["status"], p["code"]): p["count"] for p in problems}
    assert dom.values["open-problems-total"] == str(rows[-1]["open_problems"])

    shot = tmp_path / "history.png"
    taken = _chromium(chromium, tmp_path / "profile", f"--screenshot={shot}", page.as_uri())
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    _assert_rendered(shot)


def _assert_rendered(shot: Path) -> None:
    """A real picture of the page: full size, many colours, ink on most of its height, and the
    chart's "written" line drawn in its colour."""
    from PIL import Image

    assert shot.stat().st_size > 20_000
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        width, height = rgb.size
        assert (width, height) == (1280, 1600)
        colours = {c: n for n, c in rgb.getcolors(maxcolors=width * height) or []}
        inked_rows = sum(
            1
            for y in range(0, height, 8)
            if any(rgb.getpixel((x, y)) != (255, 255, 255) for x in range(0, width, 4))
        )
    assert len(colours) > 50, f"only {len(colours)} colours"
    white = colours.get((255, 255, 255), 0) / (width * height)
    assert white < 0.97, f"{white:.1%} white"
    assert inked_rows > (height // 8) * 0.3, inked_rows
    assert colours.get(WRITTEN_COLOUR, 0) > 20, "the chart's 'written' series is not drawn"
