"""The run report: one JSON document and a few printed lines covering the whole pipeline.

The target finishes last (it reads until end of input, after the tap and the mapper have exited),
so it merges the summaries they left (``tap_summary_file``, ``mapper_summary_file``) with its own
into one report, written to ``run_report_file`` and printed as a short human summary.

A summary from another plugin is used only when it belongs to this pipeline: its ``pipeline``
key (``MELTANO_RUN_ID`` when the caller set it, else the parent process, the ``meltano`` process
that started all three plugins) equals the target's own. A file left by an earlier run is named in
``problems`` and its figures are not used.

One module on purpose (over 400 lines): the report's JSON and its printed lines are built
together, so they cannot say different things.
"""

from __future__ import annotations

import datetime
import json
import os
import typing as t
from pathlib import Path

from singer_kit.summary import pipeline_key, write_summary

from target_salesforce_leads.alerts import alert_message, alert_reasons, send_alert

if t.TYPE_CHECKING:
    import logging

    from salesforce_client.client import SalesforceClient

REPORT_VERSION = 1
#: Top reasons shown in the printed summary (the JSON holds them all).
TOP_REASONS = 3


def now_iso() -> str:
    """Now, to the millisecond: two runs in one second still sort in the order they ran."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def load_plugin_summary(path: str | None, key: str, what: str) -> tuple[dict | None, str | None]:
    """Read the summary another plugin of this pipeline wrote.

    Args:
        path: Its file (None or "" when not configured).
        key: This pipeline's :func:`pipeline_key`.
        what: The plugin, for messages ("the extractor", "the mapper").

    Returns:
        ``(summary, None)`` when the file belongs to this run, else ``(None, problem)`` with
        what a person should know (``(None, None)`` when no file is configured).
    """
    if not path:
        return None, None
    file = Path(path)
    if not file.exists():
        return None, (
            f"{what} left no summary in {path} (it failed before the end, or it does "
            "not write one); its figures are missing from this report"
        )
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"{what}'s summary {path} could not be read ({type(exc).__name__})"
    if not isinstance(summary, dict) or summary.get("pipeline") != key:
        return None, (
            f"{what}'s summary {path} is from another run (it did not finish this "
            "time, or runs overlap); its figures are missing from this report"
        )
    return summary, None


def _hours_since(stamp: str | None, now: datetime.datetime) -> float | None:
    if not stamp:
        return None
    try:
        then = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=datetime.timezone.utc)
    return round((now - then).total_seconds() / 3600, 4)


def _mapper_reasons(mapper: dict | None) -> list[dict[str, t.Any]]:
    rows = []
    for r in (mapper or {}).get("rejected_by_reason") or []:
        rows.append(
            {
                "source": "mapper",
                "object": r.get("stream"),
                "code": r.get("reason"),
                "count": int(r.get("count") or 0),
                "example": r.get("example"),
            }
        )
    return rows


def build_run_report(
    target: dict[str, t.Any],
    *,
    tap: dict[str, t.Any] | None = None,
    mapper: dict[str, t.Any] | None = None,
    salesforce: dict[str, t.Any] | None = None,
    waiting_first_seen: list[str] | None = None,
    started_at: str | None = None,
    finished_at: str | None = None,
    files: dict[str, t.Any] | None = None,
    problems: list[str] | None = None,
    environment: str | None = None,
) -> dict[str, t.Any]:
    """The run report of the whole pipeline, as a JSON-ready dict.

    Args:
        target: The target's own summary (``RunReport.summary``).
        tap: The extractor's summary of this run, or None when missing.
        mapper: The mapper's summary of this run, or None when missing.
        salesforce: The Salesforce API use: ``api_calls``, ``by_kind`` and the budget's
            ``daily_max``, ``daily_remaining``, ``share``, ``allowance``, ``spent``.
        waiting_first_seen: ``first_seen`` of every record waiting now (for the oldest's age).
        started_at: When the target started (ISO 8601).
        finished_at: When it finished (ISO 8601); now when None.
        files: Paths of the files a person reads (``run_report``, ``rejects``, ...).
        problems: What is missing from the report, and why.
        environment: The Meltano environment (``MELTANO_ENVIRONMENT`` when None).
    """
    finished_at = finished_at or now_iso()
    now = datetime.datetime.fromisoformat(finished_at)
    duration = None
    if started_at:
        duration = round((now - datetime.datetime.fromisoformat(started_at)).total_seconds(), 1)
    tap_status = (tap or {}).get("status") or "unknown"
    mapper_status = (mapper or {}).get("status") or "unknown"
    status = target.get("status") or "ok"
    if "failed" in (tap_status, mapper_status):
        status = "failed"
    ages = [h for h in (_hours_since(s, now) for s in waiting_first_seen or ()) if h is not None]
    target_rejects = [
        {"source": "target", "object": None, **r} for r in target.get("rejected_by_reason") or []
    ]
    reasons = sorted(target_rejects + _mapper_reasons(mapper), key=lambda r: -r["count"])
    totals = dict(target.get("totals") or {})
    mapper_rejected = int((mapper or {}).get("rejected") or 0)
    sf = dict(salesforce or {})
    sf.setdefault("api_calls", target.get("api_calls", 0))
    sf.setdefault("by_kind", target.get("api_calls_by_kind") or {})
    return {
        "report_version": REPORT_VERSION,
        "run_id": target.get("run_id"),
        "meltano": {
            "environment": environment
            if environment is not None
            else os.environ.get("MELTANO_ENVIRONMENT"),
            "project_id": os.environ.get("MELTANO_PROJECT_ID"),
            "run_id": os.environ.get("MELTANO_RUN_ID"),
            "trigger": os.environ.get("MELTANO_JOB_TRIGGER"),
        },
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_seconds": duration,
        "status": status,
        "exit_code": target.get("exit_code", 0),
        "dry_run": bool(target.get("dry_run")),
        "state_emitted": target.get("state_emitted"),
        "halted": target.get("halted"),
        "objects": target.get("objects") or {},
        "totals": totals,
        "rejected": {
            "total": int(totals.get("rejected", 0)) + mapper_rejected,
            "target": int(totals.get("rejected", 0)),
            "mapper": mapper_rejected,
            "received": int(totals.get("received", 0)),
            "by_reason": reasons,
        },
        "waiting": {
            "this_run": int(totals.get("waiting", 0)),
            "total": int(target.get("waiting_now", 0)),
            "oldest_hours": max(ages) if ages else None,
            "by_reason": target.get("waiting_by_reason") or [],
            "total_by_reason": (target.get("waiting") or {}).get("by_reason") or {},
        },
        "configuration_problems": target.get("configuration_problems") or [],
        "extractor": _extractor(tap, tap_status),
        "mapper": _mapper(mapper, mapper_status),
        "salesforce": sf,
        "files": files or {},
        "problems": list(problems or []),
    }


def _extractor(tap: dict | None, status: str) -> dict[str, t.Any]:
    if tap is None:
        return {"status": status}
    keys = (
        "name",
        "api",
        "status",
        "error",
        "api_calls",
        "throttled",
        "rate_limit",
        "streams",
        "started_at",
        "finished_at",
    )
    return {k: tap.get(k) for k in keys}


def _mapper(mapper: dict | None, status: str) -> dict[str, t.Any]:
    if mapper is None:
        return {"status": status}
    keys = (
        "status",
        "error",
        "records_in",
        "records_out",
        "rejected",
        "filtered",
        "rejected_by_reason",
    )
    return {k: mapper.get(k) for k in keys}


def _short(text: t.Any, limit: int = 90) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reasons_line(rows: list[dict[str, t.Any]]) -> str:
    parts = []
    for r in rows[:TOP_REASONS]:
        where = f"{r['source']} " if r.get("source") else ""
        obj = f"{r['object']} " if r.get("object") else ""
        parts.append(
            f"{where}{obj}{_short(r.get('code'), 60)} {r['count']} "
            f"(e.g. {_short(r.get('example'))})"
        )
    more = len(rows) - TOP_REASONS
    return "; ".join(parts) + (f"; {more} more reasons in the report" if more > 0 else "")


def _extractor_line(ic: dict[str, t.Any]) -> str:
    """The extractor's line of the human summary."""
    read = ", ".join(
        f"{name} {s.get('records', 0)}" for name, s in ic["streams"].items() if s.get("records")
    )
    rate = ic.get("rate_limit") or {}
    peak = rate.get("peak_share_used")
    peak_text = f", peak {peak:.0%} of the rate limit" if isinstance(peak, int | float) else ""
    side = ic.get("api") or ic.get("name")
    return (
        f"  {side}: {ic['status']}; read {read or 'nothing'}; "
        f"{ic.get('api_calls', 0)} API calls, {ic.get('throttled', 0)} answered "
        f"429{peak_text}" + (f"; error: {_short(ic['error'], 200)}" if ic.get("error") else "")
    )


def _waiting_line(wt: dict[str, t.Any]) -> str:
    """The waiting records' line of the human summary."""
    oldest = f", oldest {wt['oldest_hours']:g} h" if wt.get("oldest_hours") is not None else ""
    rows = [
        {"code": r["code"], "count": r["count"], "example": r.get("example")}
        for r in wt["by_reason"]
    ]
    if not rows:  # none new this run: the reasons of those kept in the state
        rows = [
            {"code": code, "count": n, "example": "in the waiting file"}
            for code, n in (wt.get("total_by_reason") or {}).items()
        ]
    return f"  Waiting {wt['total']} (retried every run{oldest})" + (
        f": {_reasons_line(rows)}" if rows else ""
    )


def _mapper_line(mp: dict[str, t.Any]) -> str:
    """The mapper's line of the human summary."""
    out = ", ".join(f"{n} {s}" for s, n in (mp["records_out"] or {}).items()) or "nothing"
    return (
        f"  Mapper: {mp['status']}; emitted {out}; {mp.get('filtered', 0)} "
        f"filtered out, {mp.get('rejected', 0)} rejected"
    )


def _salesforce_line(sf: dict[str, t.Any]) -> str:
    """The Salesforce API use line of the human summary."""
    budget = ""
    if sf.get("allowance") is not None:
        budget = (
            f", {sf.get('spent', 0)} of the {sf['allowance']} this run may spend "
            f"(api_budget {sf.get('share', 0):g})"
        )
    daily = ""
    if sf.get("daily_max"):
        used = sf["daily_max"] - (sf.get("daily_remaining") or 0)
        daily = f"; org: {used} of {sf['daily_max']} daily requests used"
    return f"  Salesforce: {sf.get('api_calls', 0)} API calls{budget}{daily}"


def human_summary(report: dict[str, t.Any]) -> list[str]:
    """The few lines a person reads at the end of ``meltano run``."""
    env = report["meltano"].get("environment") or "no environment"
    took = (
        f", {report['duration_seconds']:g} s" if report.get("duration_seconds") is not None else ""
    )
    dry = " (dry run: nothing written)" if report.get("dry_run") else ""
    lines = [
        f"Run report: {report['status']}, exit code {report['exit_code']}, run "
        f"{report['run_id']}, {env}{took}{dry}"
    ]
    ic = report["extractor"]
    if ic.get("streams") is not None:
        lines.append(_extractor_line(ic))
    mp = report["mapper"]
    if mp.get("records_out") is not None:
        lines.append(_mapper_line(mp))
    for name, c in report["objects"].items():
        lines.append(
            f"  {name}: {c.get('created', 0)} created, {c.get('updated', 0)} updated, "
            f"{c.get('unchanged', 0)} unchanged, {c.get('waiting', 0)} waiting, "
            f"{c.get('rejected', 0)} rejected"
        )
    if not report["objects"]:
        lines.append("  Salesforce: no records this run")
    rej = report["rejected"]
    if rej["by_reason"]:
        lines.append(f"  Rejected {rej['total']}: {_reasons_line(rej['by_reason'])}")
    wt = report["waiting"]
    if wt["total"] or wt["this_run"]:
        lines.append(_waiting_line(wt))
    lines.append(_salesforce_line(report["salesforce"]))
    files = report.get("files") or {}
    shown = []
    for key in ("run_report", "rejects", "waiting", "problems"):
        value = files.get(key)
        paths = ", ".join(value.values()) if isinstance(value, dict) else value
        if paths:
            shown.append(f"{key.replace('_', ' ')} {paths}")
    if shown:
        lines.append("  Files: " + "; ".join(shown))
    for p in report.get("problems") or []:
        lines.append(f"  Note: {p}")
    return lines


def salesforce_use(client: SalesforceClient | None) -> dict[str, t.Any]:
    """The run's Salesforce API calls and the daily budget, as the target saw them."""
    if client is None:
        return {"api_calls": 0, "by_kind": {}}
    budget = client.budget
    return {
        "api_calls": client.api_calls,
        "by_kind": dict(client.calls_by_kind),
        "share": budget.share,
        "allowance": budget.allowance,
        "spent": budget.spent,
        "daily_max": budget.maximum,
        "daily_remaining": budget.remaining,
    }


def _files_named_in(path: str | None) -> dict[str, t.Any]:
    """The ``files`` a plugin's summary names, even one of an earlier run.

    Paths do not change from run to run; a target that stops early finishes before the mapper.
    """
    try:
        files = json.loads(Path(path).read_text(encoding="utf-8")).get("files") if path else {}
    except (OSError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def output_files(config: t.Mapping[str, t.Any], mapper: dict | None) -> dict[str, t.Any]:
    """The files a person reads after a run, those that exist (the report itself included)."""
    mapper_files = (mapper or {}).get("files") or _files_named_in(config.get("mapper_summary_file"))
    candidates: dict[str, t.Any] = {
        "run_report": config.get("run_report_file"),
        "rejects": {"mapper": mapper_files.get("rejects"), "target": config.get("reject_file")},
        "waiting": config.get("waiting_file"),
        "problems": {"mapper": mapper_files.get("problems"), "target": config.get("problems_file")},
        "summaries": {
            "extractor": config.get("tap_summary_file"),
            "mapper": config.get("mapper_summary_file"),
            "target": config.get("summary_file"),
        },
    }
    files: dict[str, t.Any] = {}
    for key, value in candidates.items():
        if isinstance(value, dict):
            present = {k: v for k, v in value.items() if v and Path(v).exists()}
            if present:
                files[key] = present
        elif value and (key == "run_report" or Path(value).exists()):
            files[key] = value
    return files


def finish_run_report(
    config: t.Mapping[str, t.Any],
    summary: dict[str, t.Any],
    *,
    client: SalesforceClient | None,
    waiting_first_seen: list[str],
    started_at: str,
    logger: logging.Logger,
    after_write: t.Callable[[dict[str, t.Any]], None] | None = None,
) -> dict:
    """Build, alert on, write, record and print the run report.

    Build the run report from the target's summary and the other plugins', alert when it calls for
    it, write it to ``run_report_file``, hand it to ``after_write`` (the run history) and print it;
    answer the report.
    """
    key = pipeline_key()
    problems: list[str] = []
    tap, problem = load_plugin_summary(config.get("tap_summary_file"), key, "The extractor")
    problems += [problem] if problem else []
    mapper, problem = load_plugin_summary(config.get("mapper_summary_file"), key, "The mapper")
    problems += [problem] if problem else []
    report = build_run_report(
        summary,
        tap=tap,
        mapper=mapper,
        salesforce=salesforce_use(client),
        waiting_first_seen=waiting_first_seen,
        started_at=started_at,
        files=output_files(config, mapper),
        problems=problems,
    )
    reasons = alert_reasons(report, config)
    report["alert"] = {"reasons": reasons, "sent": False, "error": None}
    lines = human_summary(report)
    url = config.get("alert_webhook_url")
    if reasons and url:
        result = send_alert(url, alert_message(report, reasons, lines), logger)
        report["alert"].update(sent=result["sent"], error=result["error"])
    try:
        write_summary(config.get("run_report_file"), report)
    except OSError as exc:
        logger.warning(
            "Could not write the run report to %s (%s); it is printed below.",
            config.get("run_report_file"),
            exc,
        )
    if after_write is not None:
        after_write(report)
    for line in lines:
        logger.info("%s", line)
    return report
