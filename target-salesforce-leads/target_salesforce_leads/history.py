"""Run history: one row per run, with its figures, in SQLite or PostgreSQL.

Every run's report is appended at the end of the run. Where it goes (``history_database_url``):
a SQLite file by default, next to Meltano's system database; Meltano's own database when that is
PostgreSQL; or any ``postgresql://`` URL. Tables are created when missing (``CREATE TABLE IF NOT
EXISTS``); nothing else ever changes their shape, so any version can read any other's rows.

One module on purpose (over 400 lines): the table definitions and the SQL for both databases
must change together.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import typing as t
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path

OUTCOMES = ("created", "updated", "unchanged", "waiting", "rejected")
FIGURES = ("written", *OUTCOMES)
HISTORY_FILE = "run-history.db"
OFF = "off"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS run_history (
        run_id TEXT PRIMARY KEY,
        finished_at TEXT NOT NULL,
        environment TEXT,
        status TEXT NOT NULL,
        exit_code INTEGER NOT NULL,
        dry_run INTEGER NOT NULL,
        written INTEGER NOT NULL,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL,
        unchanged INTEGER NOT NULL,
        waiting INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        mapper_rejected INTEGER NOT NULL,
        waiting_now INTEGER NOT NULL,
        intercom_api_calls INTEGER,
        salesforce_api_calls INTEGER,
        open_problems INTEGER NOT NULL,
        report TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS run_history_objects (
        run_id TEXT NOT NULL,
        sobject TEXT NOT NULL,
        written INTEGER NOT NULL,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL,
        unchanged INTEGER NOT NULL,
        waiting INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        PRIMARY KEY (run_id, sobject)
    )""",
    """CREATE TABLE IF NOT EXISTS run_history_reasons (
        run_id TEXT NOT NULL,
        source TEXT NOT NULL,
        outcome TEXT NOT NULL,
        code TEXT NOT NULL,
        count INTEGER NOT NULL,
        example TEXT,
        PRIMARY KEY (run_id, source, outcome, code)
    )""",
    """CREATE TABLE IF NOT EXISTS run_history_problems (
        run_id TEXT NOT NULL,
        source TEXT NOT NULL,
        status TEXT NOT NULL,
        code TEXT NOT NULL,
        count INTEGER NOT NULL,
        example_id TEXT,
        example TEXT,
        since TEXT,
        PRIMARY KEY (run_id, source, status, code)
    )""",
    "CREATE INDEX IF NOT EXISTS run_history_finished ON run_history (finished_at)",
)
TABLES = ("run_history_objects", "run_history_reasons", "run_history_problems", "run_history")


class HistoryError(Exception):
    """The history database cannot be opened or written (the message says which and why)."""


def resolve_url(setting: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The history's database URL, or None when ``setting`` is ``off``.

    Unset: Meltano's ``database_uri`` (MELTANO_DATABASE_URI) when it is PostgreSQL, else
    ``run-history.db`` in the folder of Meltano's SQLite system database, else in
    MELTANO_SYS_DIR_ROOT (``.meltano/``), else in ``.meltano/`` of the working directory.
    """
    env = os.environ if environ is None else environ
    if setting:
        return None if setting.strip().lower() == OFF else setting
    meltano_db = env.get("MELTANO_DATABASE_URI") or ""
    if _is_postgres(meltano_db):
        return meltano_db
    if meltano_db.startswith("sqlite:///"):
        path = _sqlite_path(meltano_db)
        if path not in (None, ":memory:"):
            return str(Path(path).parent / HISTORY_FILE)
    root = env.get("MELTANO_SYS_DIR_ROOT")
    if root:
        return str(Path(root) / HISTORY_FILE)
    return str(Path(env.get("MELTANO_PROJECT_ROOT") or ".") / ".meltano" / HISTORY_FILE)


def _is_postgres(url: str) -> bool:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme.split("+", 1)[0] in ("postgresql", "postgres")


def _sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL or of a plain path.

    The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL (SQLAlchemy's form), or of a
    plain path.
    """
    if "://" not in url:
        return url
    if not url.lower().startswith("sqlite:///"):
        return None
    return urllib.parse.unquote(url[len("sqlite:///") :].split("?", 1)[0]) or None


def describe_url(url: str) -> str:
    """The URL without its password (for messages and the page)."""
    if not _is_postgres(url):
        return _sqlite_path(url) or url
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme.split('+', 1)[0]}://{user}{host}{parts.path}"


# -- what a run report holds ------------------------------------------------------------------


def _int(value: t.Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _part(report: Mapping[str, t.Any], name: str) -> Mapping[str, t.Any]:
    part = report.get(name)
    return part if isinstance(part, Mapping) else {}


def _reasons(report: Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """(source, outcome, code, count, example) of each reason a report counts.

    (source, outcome, code, count, example) of the run report's ``rejected.by_reason`` and
    ``waiting.by_reason``, or of the target summary's ``rejected_by_reason`` and
    ``waiting_by_reason``.
    """
    out = []
    for outcome in ("rejected", "waiting"):
        rows = _part(report, outcome).get("by_reason")
        if not isinstance(rows, list):
            rows = report.get(f"{outcome}_by_reason") or []
        for r in rows:
            if isinstance(r, Mapping) and r.get("code"):
                out.append(
                    {
                        "source": str(r.get("source") or "target"),
                        "outcome": outcome,
                        "code": str(r["code"]),
                        "count": _int(r.get("count")) or 0,
                        "example": _text(r.get("example")),
                    }
                )
    # One row per (source, outcome, code): the same reason may come for several objects.
    merged: dict[tuple[t.Any, ...], dict[str, t.Any]] = {}
    for r in out:
        key = (r["source"], r["outcome"], r["code"])
        if key in merged:
            merged[key]["count"] += r["count"]
        else:
            merged[key] = r
    return list(merged.values())


def figures(report: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The figures a history row keeps.

    Read from the run report (run_report.py) or from the target's own summary (the same keys where
    they overlap).
    """
    objects: dict[str, dict[str, int]] = {}
    for sobject, counts in (report.get("objects") or {}).items():
        row = {k: _int(counts.get(k)) or 0 for k in OUTCOMES}
        row["written"] = row["created"] + row["updated"]
        objects[str(sobject)] = row
    totals = {k: sum(o[k] for o in objects.values()) for k in FIGURES}
    waiting_now = _int(report.get("waiting_now"))
    if waiting_now is None:
        waiting_now = _int(_part(report, "waiting").get("total"))
    salesforce = _api_calls(_part(report, "salesforce"))
    # The run report counts the mapper's rejects too (Intercom records that make no Lead/Task).
    mapper_rejected = _int(_part(report, "rejected").get("mapper")) or 0
    totals["rejected"] += mapper_rejected
    return {
        "run_id": str(report.get("run_id") or ""),
        "environment": _part(report, "meltano").get("environment")
        or os.environ.get("MELTANO_ENVIRONMENT"),
        "status": str(report.get("status") or "unknown"),
        "exit_code": _int(report.get("exit_code")) or 0,
        "dry_run": bool(report.get("dry_run", False)),
        **totals,
        "mapper_rejected": mapper_rejected,
        "waiting_now": waiting_now or 0,
        "intercom_api_calls": _api_calls(_part(report, "extractor")),
        "salesforce_api_calls": _api_calls(report) if salesforce is None else salesforce,
        "objects": objects,
        "reasons": _reasons(report),
    }


def _api_calls(part: Mapping[str, t.Any]) -> int | None:
    """API calls a part of the report names: ``api_calls`` as a number or ``{"total": n}``."""
    calls = part.get("api_calls")
    if isinstance(calls, Mapping):
        calls = calls.get("total")
    return _int(calls)


def _text(value: t.Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def problem_files(report: Mapping[str, t.Any]) -> list[tuple[str, Path]]:
    """(source, path) of each open-problems file the report names.

    ``files.problems`` is one path (the target's summary) or ``{source: path}`` (the run report).
    """
    named = _part(report, "files").get("problems")
    if isinstance(named, str):
        named = {"target": named}
    if not isinstance(named, Mapping):
        return []
    return [
        (str(source), Path(path))
        for source, path in named.items()
        if isinstance(path, str) and path
    ]


def open_problems(files: Iterable[tuple[str, Path]]) -> list[dict[str, t.Any]]:
    """Open problems by (source, status, reason): count, one example, the oldest time."""
    groups: dict[tuple[str, str, str], dict[str, t.Any]] = {}
    for source, path in files:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            status = str(row.get("status") or row.get("kind") or "rejected")
            code = str(row.get("error_code") or row.get("code") or row.get("reason") or "UNKNOWN")
            key = (source, status, code)
            since = row.get("time") or row.get("first_seen")
            group = groups.get(key)
            if group is None:
                groups[key] = {
                    "source": source,
                    "status": status,
                    "code": code,
                    "count": 1,
                    "example_id": _text(row.get("external_id", row.get("key"))),
                    "example": _text(row.get("message") or row.get("reason")),
                    "since": since,
                }
                continue
            group["count"] += 1
            if since and (not group["since"] or str(since) < str(group["since"])):
                group["since"] = since
    return sorted(groups.values(), key=lambda g: (-g["count"], g["source"], g["code"]))


# -- the store --------------------------------------------------------------------------------


class RunHistory:
    """The history database: ``record`` a run, read runs back for the page."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = _is_postgres(url)
        try:
            if self.postgres:
                self._conn: t.Any = _connect_postgres(url)
            else:
                path = _sqlite_path(url)
                if not path:
                    raise HistoryError(
                        f"history_database_url {url!r} is neither a SQLite path nor a "
                        "postgresql:// URL; set one of them, or 'off'."
                    )
                if path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                    # Readable by its owner only (it lists people's ids in its reasons).
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
                    os.chmod(path, 0o600)
                self._conn = sqlite3.connect(path, timeout=30)
            for statement in SCHEMA:
                self._conn.execute(statement)
            self._conn.commit()
        except HistoryError:
            raise
        except Exception as exc:
            raise HistoryError(
                f"the run history at {describe_url(url)} cannot be opened ({exc})"
            ) from exc

    def __enter__(self) -> RunHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def _rows(self, statement: str, params: t.Sequence[t.Any] = ()) -> list[dict[str, t.Any]]:
        cur = self._conn.execute(self._sql(statement), params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def record(
        self,
        report: Mapping[str, t.Any],
        problems: Iterable[Mapping[str, t.Any]] | None = None,
        finished_at: str | None = None,
    ) -> dict[str, t.Any]:
        """Append one run (replacing an earlier row of the same run id); returns its figures.

        ``problems`` defaults to the open problems read from the files the report names.
        """
        fig = figures(report)
        if not fig["run_id"]:
            raise HistoryError("the run report has no run_id, so the run cannot be recorded")
        rows = list(open_problems(problem_files(report)) if problems is None else problems)
        fig["open_problems"] = sum(int(p["count"]) for p in rows)
        finished = (
            finished_at
            or str(report.get("finished_at") or "")
            or (datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        )
        run_id = fig["run_id"]
        try:
            for table in TABLES:
                self._conn.execute(self._sql(f"DELETE FROM {table} WHERE run_id = ?"), (run_id,))
            self._conn.execute(
                self._sql(
                    "INSERT INTO run_history (run_id, finished_at, environment, status, exit_code, "
                    "dry_run, written, created, updated, unchanged, waiting, rejected, "
                    "mapper_rejected, waiting_now, intercom_api_calls, salesforce_api_calls, "
                    "open_problems, report) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    run_id,
                    finished,
                    fig["environment"],
                    fig["status"],
                    fig["exit_code"],
                    int(fig["dry_run"]),
                    *(fig[k] for k in FIGURES),
                    fig["mapper_rejected"],
                    fig["waiting_now"],
                    fig["intercom_api_calls"],
                    fig["salesforce_api_calls"],
                    fig["open_problems"],
                    json.dumps(report, default=str),
                ),
            )
            for sobject, counts in fig["objects"].items():
                self._conn.execute(
                    self._sql(
                        "INSERT INTO run_history_objects (run_id, sobject, written, created, "
                        "updated, unchanged, waiting, rejected) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    (run_id, sobject, *(counts[k] for k in FIGURES)),
                )
            for r in fig["reasons"]:
                self._conn.execute(
                    self._sql(
                        "INSERT INTO run_history_reasons (run_id, source, outcome, code, count, "
                        "example) VALUES (?, ?, ?, ?, ?, ?)"
                    ),
                    (run_id, r["source"], r["outcome"], r["code"], r["count"], r["example"]),
                )
            for p in rows:
                self._conn.execute(
                    self._sql(
                        "INSERT INTO run_history_problems (run_id, source, status, code, count, "
                        "example_id, example, since) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    (
                        run_id,
                        p["source"],
                        p["status"],
                        p["code"],
                        int(p["count"]),
                        p.get("example_id"),
                        p.get("example"),
                        None if p.get("since") is None else str(p["since"]),
                    ),
                )
            self._conn.commit()
        except Exception:
            self._conn.rollback()
            raise
        return fig

    def runs(self, limit: int = 100) -> list[dict[str, t.Any]]:
        """The latest ``limit`` runs, oldest first, without their report JSON."""
        rows = self._rows(
            "SELECT run_id, finished_at, environment, status, exit_code, dry_run, written, "
            "created, updated, unchanged, waiting, rejected, mapper_rejected, waiting_now, "
            "intercom_api_calls, "
            "salesforce_api_calls, open_problems FROM run_history "
            "ORDER BY finished_at DESC, run_id DESC LIMIT ?",
            (int(limit),),
        )
        return rows[::-1]

    def count(self) -> int:
        """How many runs the history holds."""
        return int(self._rows("SELECT COUNT(*) AS n FROM run_history")[0]["n"])

    def report(self, run_id: str) -> dict[str, t.Any] | None:
        """The run report of ``run_id``, or None."""
        rows = self._rows("SELECT report FROM run_history WHERE run_id = ?", (run_id,))
        return json.loads(rows[0]["report"]) if rows else None

    def objects(self, run_id: str) -> list[dict[str, t.Any]]:
        """The per-sObject figures of ``run_id``."""
        return self._rows(
            "SELECT sobject, written, created, updated, unchanged, waiting, rejected "
            "FROM run_history_objects WHERE run_id = ? ORDER BY sobject",
            (run_id,),
        )

    def reasons(self, run_id: str) -> list[dict[str, t.Any]]:
        """The reject and waiting reasons of ``run_id``."""
        return self._rows(
            "SELECT source, outcome, code, count, example FROM run_history_reasons "
            "WHERE run_id = ? ORDER BY count DESC, source, outcome, code",
            (run_id,),
        )

    def problems(self, run_id: str) -> list[dict[str, t.Any]]:
        """The open problems of ``run_id``."""
        return self._rows(
            "SELECT source, status, code, count, example_id, example, since "
            "FROM run_history_problems WHERE run_id = ? ORDER BY count DESC, source, code",
            (run_id,),
        )


def _connect_postgres(url: str) -> t.Any:
    try:
        import psycopg  # noqa: PLC0415 - only PostgreSQL users need the driver
    except ImportError as exc:
        raise HistoryError(
            "a postgresql:// history needs the psycopg driver, which is not installed; install "
            "the target with its postgres extra (target-salesforce-leads[postgres]) or set "
            "history_database_url to a SQLite path"
        ) from exc
    scheme, rest = url.split("://", 1)
    return psycopg.connect(scheme.split("+", 1)[0] + "://" + rest, connect_timeout=15)


def record_run(config: Mapping[str, t.Any], report: Mapping[str, t.Any]) -> str | None:
    """Append this run to the configured history.

    Returns where (no password), or None when the history is off. Raises HistoryError when it
    cannot.
    """
    url = resolve_url(config.get("history_database_url"))
    if url is None:
        return None
    try:
        with RunHistory(url) as history:
            history.record(report)
    except HistoryError:
        raise
    except Exception as exc:
        raise HistoryError(
            f"the run could not be added to the history at {describe_url(url)} ({exc})"
        ) from exc
    return describe_url(url)
