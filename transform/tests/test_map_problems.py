"""The mapper's list of open problems: one line per rejected record until it maps."""

from __future__ import annotations

import json
from pathlib import Path

from .map_helpers import contact, contacts_schema, record, run_inline, state


def _rows(path: Path) -> list[tuple[str, str, str]]:
    return [
        (r["status"], r["key"], r["reason"])
        for r in (json.loads(x) for x in path.read_text().splitlines())
    ]


def test_a_rejected_contact_stays_listed_once_until_it_maps(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    cfg = {"problems_file": str(problems)}
    first = [
        contacts_schema(),
        record("contacts", contact("c1", email=None)),
        record("contacts", contact("c2", email="ok@acme.com")),
        state({"s": 1}),
    ]
    run1 = run_inline(first, cfg, tmp_path)
    assert run1.returncode == 0
    [(status, key, reason)] = _rows(problems)
    assert (status, key) == ("rejected", "c1") and "no email" in reason
    # Run 2 rejects c1 again: still one line, with this run's id.
    run2 = run_inline(first, cfg, tmp_path)
    assert len(_rows(problems)) == 1
    assert json.loads(problems.read_text())["run_id"] == run2.rejects[-1]["run_id"]
    assert run2.rejects[-1]["run_id"] != run1.rejects[0]["run_id"]
    # Run 3: c1 got an email and maps: no open problem left.
    fixed = [
        contacts_schema(),
        record("contacts", contact("c1", email="c1@acme.com")),
        state({"s": 2}),
    ]
    assert run_inline(fixed, cfg, tmp_path).returncode == 0
    assert _rows(problems) == []


def test_filtered_contacts_are_no_problem(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    msgs = [
        contacts_schema(),
        record("contacts", contact("c3", qualification=None)),
        state({"s": 1}),
    ]
    assert run_inline(msgs, {"problems_file": str(problems)}, tmp_path).returncode == 0
    assert _rows(problems) == []


def test_reject_and_problems_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    rejects = tmp_path / "rejects.jsonl"
    rejects.write_text("")
    rejects.chmod(0o644)  # as an earlier version left it
    msgs = [contacts_schema(), record("contacts", contact("c1", email=None)), state({"s": 1})]
    assert run_inline(msgs, {"problems_file": str(problems)}, tmp_path).returncode == 0
    assert rejects.read_text() and problems.read_text()
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in (rejects, problems)} == {
        "rejects.jsonl": "0o600",
        "problems.jsonl": "0o600",
    }
