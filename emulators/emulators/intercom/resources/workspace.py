"""The workspace endpoints: ``/me``, admins (and their activity logs) and teams."""

from __future__ import annotations

import json

from emulators.core.routing import RouteTable
from emulators.intercom import model
from emulators.intercom.api import Api, Call, Reply, per_page_of
from emulators.intercom.errors import invalid, not_found

routes = RouteTable()


@routes("GET", "/me")
def get_me(api: Api, call: Call) -> Reply:
    """Answer ``GET /me``."""
    settings = api.db.settings()
    row = api.conn().execute("SELECT data FROM admins ORDER BY id LIMIT 1").fetchone()
    adm = (
        json.loads(row[0])
        if row
        else model.admin("7000001", "Emulator Admin", "admin@emulated-workspace.test", [])
    )
    seeded = api.db.get_meta("seed", {}) or {}
    me = {
        "type": "admin",
        "id": adm["id"],
        "name": adm["name"],
        "email": adm["email"],
        "job_title": adm.get("job_title", ""),
        "away_mode_enabled": False,
        "away_mode_reassign": False,
        "has_inbox_seat": True,
        "team_ids": adm["team_ids"],
        "avatar": {"type": "avatar", "image_url": None},
        "email_verified": True,
        "app": {
            "type": "app",
            "id_code": settings["app_id_code"],
            "name": settings["app_name"],
            "created_at": int(seeded.get("seeded_at", 1_700_000_000)) - 400 * 86400,
            "secure": False,
            "identity_verification": False,
            "timezone": settings["timezone"],
            "region": "US",
        },
    }
    return Reply(body=me)


@routes("GET", "/admins")
def list_admins(api: Api, call: Call) -> Reply:
    """Answer ``GET /admins``."""
    rows = [r[0] for r in api.conn().execute("SELECT data FROM admins ORDER BY id")]
    return Reply(body='{"type":"admin.list","admins":[' + ",".join(rows) + "]}")


def _unix_param(call: Call, name: str, required: bool) -> int | None:
    raw = call.query.get(name)
    if raw in (None, ""):
        if required:
            raise invalid(
                f"{name} is required: the start of the period as unix seconds "
                f"(e.g. {name}=1677253093)",
                name,
            )
        return None
    try:
        return int(float(str(raw)))
    except ValueError as exc:
        raise invalid(f"{name} must be unix seconds (e.g. 1677253093), not {raw!r}", name) from exc


# Registered before /admins/{admin_id}, which would otherwise take "activity_logs" for an id.
@routes("GET", "/admins/activity_logs")
def list_activity_logs(api: Api, call: Call) -> Reply:
    """Answer ``GET /admins/activity_logs``."""
    after = _unix_param(call, "created_at_after", required=True)
    before = _unix_param(call, "created_at_before", required=False)
    where, params = "a.created_at >= ?", [after]
    if before is not None:
        where += " AND a.created_at <= ?"
        params.append(before)
    text = api.page(
        table="activity_logs",
        alias="a",
        where=where,
        params=params,
        sort_expr="a.created_at",
        descending=True,
        per_page=per_page_of(call.query.get("per_page"), 20),
        starting_after=call.query.get("starting_after"),
        data_key="activity_logs",
        list_type="activity_log.list",
        with_total=False,
    )
    return Reply(body=text)


@routes("GET", "/admins/{admin_id}")
def get_admin(api: Api, call: Call) -> Reply:
    """Answer ``GET /admins/{admin_id}``."""
    row = (
        api.conn()
        .execute("SELECT data FROM admins WHERE id = ?", (call.params["admin_id"],))
        .fetchone()
    )
    if row is None:
        raise not_found("Admin")
    return Reply(body=row[0])


@routes("GET", "/teams")
def list_teams(api: Api, call: Call) -> Reply:
    """Answer ``GET /teams``."""
    rows = [r[0] for r in api.conn().execute("SELECT data FROM teams ORDER BY id")]
    return Reply(body='{"type":"team.list","teams":[' + ",".join(rows) + "]}")


@routes("GET", "/teams/{team_id}")
def get_team(api: Api, call: Call) -> Reply:
    """Answer ``GET /teams/{team_id}``."""
    row = (
        api.conn()
        .execute("SELECT data FROM teams WHERE id = ?", (call.params["team_id"],))
        .fetchone()
    )
    if row is None:
        raise not_found("Team")
    return Reply(body=row[0])
