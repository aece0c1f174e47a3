"""The run history as one self-contained HTML page (inline CSS and SVG, no script, no network).

Every figure sits in an element with a stable ``id`` or ``data-*`` attributes, so the page can be
read back by a program as well as by a person.
"""

from __future__ import annotations

import datetime
import html
import typing as t
from collections.abc import Mapping
from pathlib import Path

from target_salesforce_leads.history import (
    FIGURES,
    HistoryError,
    RunHistory,
    describe_url,
    resolve_url,
)

MAX_RUNS = 100
SERIES = (  # (field, label, colour) of the charts
    ("written", "written", "#2b7a3d"),
    ("waiting", "waiting", "#c98a00"),
    ("rejected", "rejected", "#b3261e"),
)
API_SERIES = (
    ("intercom_api_calls", "Intercom API calls", "#1f5fbf"),
    ("salesforce_api_calls", "Salesforce API calls", "#00a1e0"),
)
COLUMNS = (
    *FIGURES,
    "mapper_rejected",
    "waiting_now",
    "intercom_api_calls",
    "salesforce_api_calls",
    "open_problems",
)
HEADINGS = {
    "mapper_rejected": "of which by the mapper",
    "waiting_now": "waiting in state",
    "intercom_api_calls": "Intercom calls",
    "salesforce_api_calls": "Salesforce calls",
    "open_problems": "open problems",
}

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d1d1f;
background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555;margin:0 0 16px}
table{border-collapse:collapse;margin:4px 0 12px}
th,td{border:1px solid #d0d4da;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#eef1f5}td.text,th.text{text-align:left;white-space:normal;max-width:520px}
td.nowrap{white-space:nowrap}
tr.status-failed td.status{color:#b3261e;font-weight:600}
tr.status-warning td.status{color:#9a6a00;font-weight:600}
tr.status-ok td.status{color:#2b7a3d}
.chart{border:1px solid #d0d4da;background:#fbfcfd;margin:4px 16px 8px 0}
.legend span{display:inline-block;margin-right:16px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.empty{color:#555;font-style:italic}
"""


def _e(value: t.Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _cell(field: str, value: t.Any, cls: str = "", shown: t.Any = None) -> str:
    shown = ("–" if value is None else value) if shown is None else shown
    raw = "" if value is None else value
    klass = f' class="{cls}"' if cls else ""
    return f'<td data-field="{field}" data-value="{_e(raw)}"{klass}>{_e(shown)}</td>'


def _when(stamp: t.Any) -> str:
    """An ISO time as shown: to the minute, without the T."""
    return str(stamp or "")[:16].replace("T", " ")


def _chart(
    chart_id: str, runs: list[dict[str, t.Any]], series: tuple[tuple[str, str, str], ...]
) -> str:
    """A line chart (one polyline a series, one point a run) as inline SVG."""
    width, height, left, bottom, top, right = 760, 220, 48, 24, 12, 12
    values = [r.get(f) or 0 for r in runs for f, _, _ in series]
    peak = max([*values, 1])
    n = len(runs)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - v / peak)

    parts = [
        f'<svg id="{chart_id}" class="chart" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
    ]
    for frac in (0, 0.5, 1):
        gy = y(peak * frac)
        parts.append(
            f'<line x1="{left}" y1="{gy:.1f}" x2="{width - right}" y2="{gy:.1f}" stroke="#dde1e6"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{gy + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#555">{round(peak * frac)}</text>'
        )
    for field, label, colour in series:
        points = [
            (x(i), y(r.get(field) or 0)) for i, r in enumerate(runs) if r.get(field) is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline data-series="{field}" fill="none" stroke="{colour}" '
                f'stroke-width="2.5" points="{path}"/>'
            )
        for i, r in enumerate(runs):
            if r.get(field) is None:
                continue
            parts.append(
                f'<circle data-series="{field}" data-run-id="{_e(r["run_id"])}" '
                f'data-value="{r[field]}" cx="{x(i):.1f}" cy="{y(r[field]):.1f}" r="4" '
                f'fill="{colour}"><title>{_e(label)} {r[field]} ({_e(r["finished_at"])})'
                "</title></circle>"
            )
    if n:
        for i in (0, n - 1) if n > 1 else (0,):
            anchor = "start" if i == 0 and n > 1 else "end" if n > 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 6}" font-size="11" '
                f'text-anchor="{anchor}" fill="#555">'
                f"{_e(_when(runs[i]['finished_at']))}</text>"
            )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{c}"></i>{_e(label)}</span>' for _, label, c in series
    )
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def render(history: RunHistory, limit: int = MAX_RUNS, now: datetime.datetime | None = None) -> str:
    """The page, as a string."""
    runs = history.runs(limit)
    total = history.count()
    latest = runs[-1] if runs else None
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        "<title>Run history: Intercom to Salesforce</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Run history: Intercom to Salesforce</h1>",
        f'<p class="meta">Generated <time id="generated-at">{_e(stamp)}</time> from '
        f'<code id="history-database">{_e(describe_url(history.url))}</code>: '
        f'<span id="runs-shown" data-value="{len(runs)}">{len(runs)}</span> latest of '
        f'<span id="runs-total" data-value="{total}">{total}</span> runs.</p>',
    ]
    if not runs:
        out.append(
            '<p class="empty" id="no-runs">No run recorded yet: the history gets a row '
            "at the end of every run of target-salesforce-leads.</p></body></html>"
        )
        return "\n".join(out)

    out.append("<h2>Records per run</h2>")
    out.append(_chart("chart-records", runs, SERIES))
    out.append("<h2>API calls per run</h2>")
    out.append(_chart("chart-api-calls", runs, API_SERIES))

    out.append(
        '<h2>Runs</h2><table id="runs"><thead><tr><th class="text">finished</th>'
        '<th class="text">run id</th><th class="text">status</th><th>exit</th>'
        + "".join(f"<th>{_e(HEADINGS.get(c, c))}</th>" for c in COLUMNS)
        + "</tr></thead><tbody>"
    )
    for r in reversed(runs):  # newest first
        cells = [
            _cell("finished_at", r["finished_at"], "text nowrap", _when(r["finished_at"])),
            _cell("run_id", r["run_id"], "text nowrap"),
            _cell("status", r["status"] + (" (dry run)" if r["dry_run"] else ""), "text status"),
            _cell("exit_code", r["exit_code"]),
        ]
        cells += [_cell(c, r[c]) for c in COLUMNS]
        out.append(
            f'<tr id="run-{_e(r["run_id"])}" data-run-id="{_e(r["run_id"])}" '
            f'class="status-{_e(r["status"])}">{"".join(cells)}</tr>'
        )
    out.append("</tbody></table>")

    assert latest is not None
    lid = latest["run_id"]
    out.append(f'<h2>Latest run by object (<span id="latest-run-id">{_e(lid)}</span>)</h2>')
    objects = history.objects(lid)
    if objects:
        out.append(
            '<table id="latest-objects"><thead><tr><th class="text">object</th>'
            + "".join(f"<th>{f}</th>" for f in FIGURES)
            + "</tr></thead><tbody>"
        )
        for o in objects:
            out.append(
                f'<tr data-sobject="{_e(o["sobject"])}">'
                f"{_cell('sobject', o['sobject'], 'text')}"
                + "".join(_cell(f, o[f]) for f in FIGURES)
                + "</tr>"
            )
        out.append("</tbody></table>")
    else:
        out.append('<p class="empty">No records in the latest run.</p>')

    out.append(_reasons_table(history, runs))
    out.append(_problems_table(history, lid, latest["open_problems"]))
    out.append("</body></html>")
    return "\n".join(out)


def _reasons_table(history: RunHistory, runs: list[dict[str, t.Any]]) -> str:
    """Why records waited or were rejected, summed over the runs on the page."""
    merged: dict[tuple[str, str, str], dict[str, t.Any]] = {}
    for r in runs:  # oldest first: the latest example wins
        for reason in history.reasons(r["run_id"]):
            key = (reason["source"], reason["outcome"], reason["code"])
            slot = merged.setdefault(key, {**reason, "count": 0, "runs": 0})
            slot["count"] += reason["count"]
            slot["runs"] += 1
            slot["example"] = reason["example"] or slot["example"]
    head = f"<h2>Reasons (over the {len(runs)} runs shown)</h2>"
    if not merged:
        return head + '<p class="empty" id="reasons-none">No record waited or was rejected.</p>'
    rows = sorted(merged.values(), key=lambda m: (-m["count"], m["code"]))
    body = "".join(
        f'<tr data-source="{_e(m["source"])}" data-outcome="{_e(m["outcome"])}" '
        f'data-code="{_e(m["code"])}">{_cell("source", m["source"], "text")}'
        f"{_cell('outcome', m['outcome'], 'text')}{_cell('code', m['code'], 'text')}"
        f"{_cell('count', m['count'])}{_cell('runs', m['runs'])}"
        f"{_cell('example', m['example'], 'text')}</tr>"
        for m in rows
    )
    return (
        head + '<table id="reasons"><thead><tr><th class="text">from</th>'
        '<th class="text">outcome</th><th class="text">reason</th><th>records</th>'
        '<th>runs</th><th class="text">example</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _problems_table(history: RunHistory, run_id: str, total: int) -> str:
    """Open problems after the latest run: records waiting, or rejected and not written since."""
    head = (
        f'<h2>Open problems after the latest run: <span id="open-problems-total" '
        f'data-value="{total}">{total}</span> records</h2>'
    )
    rows = history.problems(run_id)
    if not rows:
        return head + '<p class="empty" id="open-problems-none">None.</p>'
    body = "".join(
        f'<tr data-source="{_e(p["source"])}" data-status="{_e(p["status"])}" '
        f'data-code="{_e(p["code"])}">{_cell("source", p["source"], "text")}'
        f"{_cell('status', p['status'], 'text')}{_cell('code', p['code'], 'text')}"
        f"{_cell('count', p['count'])}{_cell('since', p['since'], 'text')}"
        f"{_cell('example_id', p['example_id'], 'text')}"
        f"{_cell('example', p['example'], 'text')}</tr>"
        for p in rows
    )
    return (
        head + '<table id="open-problems"><thead><tr><th class="text">from</th>'
        '<th class="text">status</th><th class="text">reason</th><th>records</th>'
        '<th class="text">oldest</th><th class="text">example record</th>'
        '<th class="text">example message</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def write_page(history: RunHistory, path: str | Path, limit: int = MAX_RUNS) -> Path:
    """Write the page to ``path`` (atomically) and return it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(render(history, limit), encoding="utf-8")
    tmp.replace(out)
    return out


def run_history_page(config: Mapping[str, t.Any], path: str | Path) -> tuple[int, str]:
    """The --history-page command: write the page; the exit code and what to tell the user."""
    url = resolve_url(config.get("history_database_url"))
    if url is None:
        return 2, (
            "history_database_url is 'off', so no run history is kept and there is "
            "nothing to show; set it to a SQLite path or a postgresql:// URL."
        )
    try:
        with RunHistory(url) as history:
            out = write_page(history, path)
            total = history.count()
    except HistoryError as exc:
        return 1, f"No history page was written: {exc}."
    except Exception as exc:  # a query on a database that went away
        return 1, (
            f"No history page was written: the run history at {describe_url(url)} "
            f"could not be read ({exc})."
        )
    return 0, (
        f"Wrote {out}: the latest {min(total, MAX_RUNS)} of {total} runs in the run "
        f"history at {describe_url(url)}. Open it in a browser."
    )
