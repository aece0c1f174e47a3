"""The Intercom emulator's own ``/_emulator/`` calls: seeding, clock, settings, tokens, raw edits.

The calls both emulators share (health, stats, requests, faults, reset) are in
:mod:`emulators.core.admin`; webhook calls are in :mod:`emulators.intercom.admin_webhooks`.
Handlers run in worker threads (they write SQLite).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from emulators.core.admin import AdminCall, admin_route
from emulators.core.routing import ApiRoute
from emulators.intercom.db import DEFAULT_SETTINGS
from emulators.intercom.seed import seed_workspace
from emulators.intercom.simulate import simulate

if TYPE_CHECKING:
    from emulators.intercom.state import IntercomState

SETTINGS = {
    "rate_limit_per_minute",
    "timezone",
    "search_delay_seconds",
    "app_name",
    *(k for k in DEFAULT_SETTINGS if k.startswith("webhook_")),
}


def check_config(body: dict[str, Any]) -> None:
    """Raise ValueError naming what is wrong with a ``POST config`` body."""
    unknown = set(body) - SETTINGS
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(SETTINGS)}")
    for key, value in body.items():
        if key.startswith("webhook_") and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise ValueError(f"{key} must be a number")
    for key in ("webhook_duplicate_rate", "webhook_reorder_rate"):
        if key in body and not 0 <= body[key] <= 1:
            raise ValueError(f"{key} must be between 0 and 1")
    if "timezone" in body:
        ZoneInfo(str(body["timezone"]))


def routes(state: IntercomState) -> list[ApiRoute]:
    """The Intercom-only admin routes over one emulator's state."""
    db, ws = state.db, state.ws

    def seed(call: AdminCall) -> Any:
        body = call.body
        counts = seed_workspace(
            db,
            int(body.get("contacts", 200)),
            int(body.get("conversations", 50)),
            int(body.get("seed", 1)),
            companies=body.get("companies"),
            big_conversations=body.get("big_conversations"),
        )
        state.forget_scroll()
        db.snapshot()
        return counts

    def config(call: AdminCall) -> Any:
        body = call.body if call.method == "POST" else {}
        check_config(body)
        if "rate_limit_per_minute" in body:
            state.limiter.per_minute = int(body["rate_limit_per_minute"])
        settings = db.update_settings(body) if body else db.settings()
        return {k: settings[k] for k in sorted(SETTINGS)}

    def tokens(call: AdminCall) -> Any:
        token = call.body.get("token")
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string")
        if call.body.get("revoke"):
            state.revoke(token)
        else:
            state.allow(token)
        return {"ok": True, "active_tokens": len(state.tokens["active"])}

    def parts(call: AdminCall) -> Any:
        body = call.body
        conv = ws.append_parts_admin(
            call.params["id"], int(body.get("count", 1)), str(body.get("part_type", "comment"))
        )
        return {
            "id": conv["id"],
            "updated_at": conv["updated_at"],
            "count_conversation_parts": conv["statistics"]["count_conversation_parts"],
        }

    def events(call: AdminCall) -> Any:
        body = call.body
        ws.record_event(
            call.params["id"],
            str(body["event_name"]),
            body.get("created_at"),
            body.get("metadata"),
            count=int(body.get("count", 1)),
        )
        return {"ok": True}

    return [
        admin_route("POST", "seed", seed),
        admin_route(
            "GET",
            "seed/manifest",
            lambda _: {"seed": db.get_meta("seed"), "manifest": db.get_meta("manifest", {})},
        ),
        admin_route("POST", "clock", lambda call: db.set_clock(call.body)),
        admin_route(
            "GET", "clock", lambda _: {"now": db.now(), "real": db.clock_state().get("real", True)}
        ),
        admin_route("POST", "config", config),
        admin_route("GET", "config", config),
        admin_route("POST", "tokens", tokens),
        admin_route(
            "POST",
            "simulate",
            lambda call: simulate(
                ws, int(call.body.get("steps", 10)), int(call.body.get("seed", 1))
            ),
        ),
        admin_route(
            "PATCH",
            "contacts/{id}",
            lambda call: ws.patch_contact_raw(call.params["id"], call.body),
        ),
        admin_route(
            "PATCH",
            "conversations/{id}",
            lambda call: ws.patch_conversation_raw(call.params["id"], call.body),
        ),
        admin_route("POST", "conversations/{id}/parts", parts),
        admin_route("POST", "contacts/{id}/events", events),
        admin_route("POST", "contacts/{id}/qualify", lambda call: ws.qualify(call.params["id"])),
    ]
