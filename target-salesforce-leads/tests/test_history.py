"""Run history: where it goes, what a row holds, the page, and the target adding its runs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from target_salesforce_leads.history import (
    RunHistory,
    describe_url,
    figures,
    open_problems,
    resolve_url,
)
from target_salesforce_leads.history_page import render

from scripts.history_dom import as_number, read_history_dom

from .target_sf_testlib import (
    TARGET_CLI,
    Harness,
    as_run_report,
    history_report,
    lead,
    lead_messages,
    write_problem_rows,
)


def test_where_the_history_goes() -> None:
    assert resolve_url("off") is None
    assert resolve_url("/data/h.db", {}) == "/data/h.db"
    pg = "postgresql+psycopg://meltano@db.internal:5432/meltano"
    assert resolve_url(None, {"MELTANO_DATABASE_URI": pg}) == pg
    # Next to Meltano's SQLite database (absolute: four slashes; relative: three).
    assert (
        resolve_url(None, {"MELTANO_DATABASE_URI": "sqlite:////srv/p/.meltano/meltano.db"})
        == "/srv/p/.meltano/run-history.db"
    )
    assert (
        resolve_url(None, {"MELTANO_DATABASE_URI": "sqlite:///state/meltano.db"})
        == "state/run-history.db"
    )
    assert (
        resolve_url(None, {"MELTANO_SYS_DIR_ROOT": "/srv/p/.meltano"})
        == "/srv/p/.meltano/run-history.db"
    )
    assert resolve_url(None, {"MELTANO_PROJECT_ROOT": "/srv/p"}) == "/srv/p/.meltano/run-history.db"
    assert (
        describe_url("postgresql://u:s3cret@h:5433/db?sslmode=require")
        == "postgresql://u@h:5433/db"
    )


def test_rows_hold_each_runs_figures(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    write_problem_rows(
        problems,
        [
            ("rejected", "INVALID_EMAIL_ADDRESS", "ic_1"),
            ("rejected", "INVALID_EMAIL_ADDRESS", "ic_2"),
            ("waiting", "PARENT_WAITING", "ic_3"),
        ],
    )
    db = tmp_path / "h.db"
    with RunHistory(str(db)) as h:
        h.record(
            history_report(
                "r1", {"created": 5, "rejected": 2}, {"created": 3, "waiting": 1}, problems, 7
            ),
            finished_at="2026-01-01T10:00:00+00:00",
        )
        # The pipeline's run report: the extractor's API calls, the mapper's rejects.
        merged = as_run_report(
            history_report("r2", {"updated": 4, "unchanged": 1}, {}, None, 3, "warning"),
            41,
            [("NO_EMAIL", 2), ("NO_EMAIL", 1), ("BOT", 1)],
        )
        h.record(merged, finished_at="2026-01-01T11:00:00+00:00")
        # The same run recorded again replaces its row.
        h.record(merged, finished_at="2026-01-01T11:00:00+00:00")
        runs = h.runs()
        assert [r["run_id"] for r in runs] == ["r1", "r2"]
        r1, r2 = runs
        assert (r1["written"], r1["created"], r1["rejected"], r1["waiting"]) == (8, 8, 2, 1)
        assert (r1["salesforce_api_calls"], r1["intercom_api_calls"]) == (7, None)
        assert r1["open_problems"] == 3
        assert (r2["written"], r2["unchanged"], r2["status"]) == (4, 1, "warning")
        assert (r2["rejected"], r2["mapper_rejected"], r2["environment"]) == (4, 4, "dev")
        assert {(r["source"], r["code"]): r["count"] for r in h.reasons("r2")} == {
            ("mapper", "NO_EMAIL"): 3,
            ("mapper", "BOT"): 1,
        }
        assert (r2["salesforce_api_calls"], r2["intercom_api_calls"]) == (3, 41)
        assert {o["sobject"]: o["written"] for o in h.objects("r1")} == {"Lead": 5, "Task": 3}
        assert [(r["outcome"], r["code"], r["count"]) for r in h.reasons("r1")] == [
            ("rejected", "INVALID_EMAIL_ADDRESS", 2),
            ("waiting", "PARENT_WAITING", 1),
        ]
        got = h.problems("r1")
        assert [(p["status"], p["code"], p["count"]) for p in got] == [
            ("rejected", "INVALID_EMAIL_ADDRESS", 2),
            ("waiting", "PARENT_WAITING", 1),
        ]
        assert got[0]["since"] == "2026-01-01T00:00:00Z"
        assert h.report("r2") == json.loads(json.dumps(merged))
    # Plain SQLite: one row a run, readable without this package.
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM run_history").fetchone()[0] == 2


def test_page_shows_the_rows(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    write_problem_rows(
        problems, [("rejected", "INVALID_EMAIL_ADDRESS", "<script>alert(1)</script>")]
    )
    with RunHistory(str(tmp_path / "h.db")) as h:
        for i in range(4):
            h.record(
                history_report(
                    f"run-{i}",
                    {"created": 10 * i, "rejected": i},
                    {"created": i, "waiting": 3 - i},
                    problems,
                    5 + i,
                ),
                finished_at=f"2026-01-0{i + 1}T08:00:00+00:00",
            )
        page = render(h)
        runs = h.runs()
        latest = runs[-1]["run_id"]
        want_objects = h.objects(latest)
    assert "<script>" not in page and "http" not in page  # escaped; nothing fetched
    dom = read_history_dom(page)
    assert dom.values["runs-total"] == "4"
    shown = {r["run-id"]: r for r in dom.tables["runs"]}
    assert set(shown) == {r["run_id"] for r in runs}
    for r in runs:
        row = shown[r["run_id"]]
        for field in ("written", "waiting", "rejected", "salesforce_api_calls", "open_problems"):
            assert as_number(row[field]) == r[field], (r["run_id"], field)
        assert as_number(row["intercom_api_calls"]) is None
    points = {(p["series"], p["run-id"]): int(p["value"]) for p in dom.points}
    for r in runs:
        for series in ("written", "waiting", "rejected", "salesforce_api_calls"):
            assert points[(series, r["run_id"])] == r[series]
    assert {o["sobject"]: as_number(o["written"]) for o in dom.tables["latest-objects"]} == {
        o["sobject"]: o["written"] for o in want_objects
    }
    reasons = {(r["outcome"], r["code"]): as_number(r["count"]) for r in dom.tables["reasons"]}
    assert reasons == {
        ("rejected", "INVALID_EMAIL_ADDRESS"): 0 + 1 + 2 + 3,
        ("waiting", "PARENT_WAITING"): 3 + 2 + 1,
    }
    assert [(p["status"], p["code"], p["count"]) for p in dom.tables["open-problems"]] == [
        ("rejected", "INVALID_EMAIL_ADDRESS", "1")
    ]


def test_empty_history_page(tmp_path: Path) -> None:
    with RunHistory(str(tmp_path / "h.db")) as h:
        dom = read_history_dom(render(h))
    assert dom.values["runs-total"] == "0" and "no-runs" in dom.ids


def test_open_problems_group_by_reason(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    write_problem_rows(path, [("waiting", "A", "1"), ("waiting", "A", "2"), ("rejected", "B", "3")])
    path.write_text(path.read_text() + "not json\n")
    groups = open_problems([("target", path), ("mapper", tmp_path / "missing.jsonl")])
    assert [(g["status"], g["code"], g["count"], g["example_id"]) for g in groups] == [
        ("waiting", "A", 2, "1"),
        ("rejected", "B", 1, "3"),
    ]
    assert figures({"run_id": "x", "objects": {}})["intercom_api_calls"] is None


def test_target_adds_every_run_and_writes_the_page(harness: Harness, tmp_path: Path) -> None:
    """Real runs of the target CLI against the emulator: one history row a run, whose figures
    are the emulator's own, then the page from `--history-page`."""
    db = tmp_path / "history" / "runs.db"
    first = harness.run(lead_messages([lead(i) for i in range(6)]), history_database_url=str(db))
    assert first.returncode == 0, first.stderr[-3000:]
    calls_first = harness.api_calls()
    second = harness.run(
        lead_messages(
            [lead(i) for i in range(4)]
            + [lead(i, Email="broken@") for i in range(4, 6)]
            + [lead(9)]
        ),
        history_database_url=str(db),
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "added to the run history" in second.stderr
    in_org = harness.query("SELECT Id, Intercom_Contact_ID__c FROM Lead")
    with RunHistory(str(db)) as h:
        runs = h.runs()
        assert [r["run_id"] for r in runs] == [first.summary["run_id"], second.summary["run_id"]]
        one, two = runs
        assert one["created"] == 6 and one["salesforce_api_calls"] == calls_first
        assert two["salesforce_api_calls"] == harness.api_calls() - calls_first
        # Ground truth: the org holds 7 Leads: 6 of run 1 plus 1 new in run 2.
        assert one["created"] + two["created"] == len(in_org) == 7
        assert two["rejected"] == second.summary["totals"]["rejected"]
        assert two["rejected"] + two["written"] + two["unchanged"] == 7
        # The row keeps the run report (run_report_file) the run wrote.
        assert h.report(two["run_id"]) == json.loads((harness.tmp / "run-report.json").read_text())
    page = tmp_path / "page.html"
    cfg = tmp_path / "page-config.json"
    cfg.write_text(json.dumps({"history_database_url": str(db)}))
    proc = subprocess.run(
        [*TARGET_CLI, "--config", str(cfg), "--history-page", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "the latest 2 of 2 runs" in proc.stderr
    dom = read_history_dom(page.read_text())
    assert {r["run-id"]: as_number(r["written"]) for r in dom.tables["runs"]} == {
        r["run_id"]: r["written"] for r in runs
    }


def test_history_that_cannot_be_written_does_not_fail_the_run(
    harness: Harness, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = harness.run(lead_messages([lead(1)]), history_database_url=str(blocker / "history.db"))
    assert result.returncode == 0
    assert "missing from the run history" in result.stderr
    assert len(harness.query("SELECT Id FROM Lead")) == 1


def test_history_page_when_history_is_off(tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"history_database_url": "off"}))
    proc = subprocess.run(
        [*TARGET_CLI, "--config", str(cfg), "--history-page", str(tmp_path / "p.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "'off'" in proc.stderr
    assert not (tmp_path / "p.html").exists()
