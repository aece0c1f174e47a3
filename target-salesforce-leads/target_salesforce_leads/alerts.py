"""Alerts: a Slack-compatible webhook told when a run went wrong.

Alerts: a Slack-compatible webhook told when a run failed, rejected too much, or leaves records
waiting too long. Sending is best effort: a failing webhook never fails the run.
"""

from __future__ import annotations

import logging
import typing as t

import requests

TIMEOUT_SECONDS = 10.0


def alert_reasons(report: dict[str, t.Any], config: t.Mapping[str, t.Any]) -> list[str]:
    """Why this run deserves an alert (empty: it does not).

    ``alert_max_rejected`` bounds the number of records rejected (mapper and target),
    ``alert_max_rejected_share`` their share, ``alert_max_waiting_hours`` the age of the oldest
    waiting record.
    """
    reasons: list[str] = []
    extractor = report.get("extractor") or {}
    mapper = report.get("mapper") or {}
    if extractor.get("status") == "failed":
        error = f": {extractor['error']}" if extractor.get("error") else ""
        reasons.append(f"the extractor failed{error}")
    if mapper.get("status") == "failed":
        error = f": {mapper['error']}" if mapper.get("error") else ""
        reasons.append(f"the mapper failed{error}")
    if report.get("exit_code"):
        why = report.get("halted") or "; ".join(report.get("configuration_problems") or [])
        reasons.append(f"the target exited {report['exit_code']}" + (f" ({why})" if why else ""))
    elif report.get("status") == "failed" and not reasons:
        reasons.append("the run failed")
    rejected = report.get("rejected") or {}
    total = int(rejected.get("total") or 0)
    limit = config.get("alert_max_rejected")
    if limit is not None and total > int(limit):
        reasons.append(f"{total} records rejected (more than alert_max_rejected={int(limit)})")
    share_limit = config.get("alert_max_rejected_share")
    # Records in: those the target received and those the mapper rejected before it.
    received = int(rejected.get("received") or 0) + int(rejected.get("mapper") or 0)
    if share_limit is not None and total:
        share = total / received if received else 1.0
        if share > float(share_limit):
            reasons.append(
                f"{total} of {received} records rejected ({share:.1%}, more than "
                f"alert_max_rejected_share={float(share_limit):g})"
            )
    hours = config.get("alert_max_waiting_hours")
    oldest = (report.get("waiting") or {}).get("oldest_hours")
    if hours is not None and oldest is not None and oldest > float(hours):
        reasons.append(
            f"{report['waiting']['total']} records waiting, the oldest for "
            f"{oldest:g} h (more than alert_max_waiting_hours={float(hours):g})"
        )
    return reasons


def alert_message(
    report: dict[str, t.Any], reasons: list[str], summary_lines: list[str]
) -> dict[str, t.Any]:
    """The webhook's JSON: ``text`` (what any Slack-compatible receiver shows) and ``blocks``.

    It carries figures, reasons and file paths from the report, never a setting's value.
    """
    meltano = report.get("meltano") or {}
    env = meltano.get("environment") or "no environment"
    project = meltano.get("project_id") or "target-salesforce-leads"
    head = f"{project}: run {report.get('run_id')} ({env}) needs a look: " + "; ".join(reasons)
    where = (report.get("files") or {}).get("run_report")
    body = "\n".join(line.strip() for line in summary_lines[1:])
    text = head + (f"\nReport: {where}" if where else "")
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{head}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Report: {where or 'not written'}"}],
            },
        ],
    }


def send_alert(
    url: str, message: dict[str, t.Any], logger: logging.Logger, timeout: float = TIMEOUT_SECONDS
) -> dict[str, t.Any]:
    """POST the alert; answer what happened (``sent``, ``status``, ``error``).

    The URL is a secret (a Slack webhook URL holds its token): it is never logged, nor put in
    the answer.
    """
    try:
        resp = requests.post(url, json=message, timeout=timeout)
    except requests.RequestException as exc:
        error = _describe(exc)
    else:
        if resp.status_code < 300:
            logger.info("Alert sent to alert_webhook_url (HTTP %d).", resp.status_code)
            return {"sent": True, "status": resp.status_code, "error": None}
        error = f"the receiver answered HTTP {resp.status_code}"
    logger.warning(
        "Could not send the alert to alert_webhook_url (%s). The run itself is not affected; "
        "check that the URL is right and the receiver accepts a JSON POST (test it with curl), "
        "and read the run report meanwhile.",
        error,
    )
    return {"sent": False, "status": None, "error": error}


def _describe(exc: requests.RequestException) -> str:
    """The kind of failure, without the URL that requests puts in its messages."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return "the URL is not a valid http(s) URL"
    return type(exc).__name__
