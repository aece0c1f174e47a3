"""The Intercom emulator's webhook admin calls: subscriptions, the delivery log, pings, bursts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulators.core.admin import AdminCall, admin_route
from emulators.core.routing import ApiRoute
from emulators.intercom import webhooks

if TYPE_CHECKING:
    from emulators.intercom.state import IntercomState


def routes(state: IntercomState) -> list[ApiRoute]:
    """The ``/_emulator/webhooks...`` routes over one emulator's state."""
    db = state.db

    def subscribe(call: AdminCall) -> Any:
        body = call.body
        return webhooks.add_subscription(
            db,
            str(body.get("url", "")),
            list(body.get("topics") or []),
            str(body.get("client_secret", "")),
            api_version=str(body.get("api_version") or "2.14"),
        )

    def subscriptions(_: AdminCall) -> Any:
        now = db.now()
        return [webhooks.public_subscription(s, now) for s in db.get_meta("webhooks", [])]

    def unsubscribe(_: AdminCall) -> Any:
        db.set_meta("webhooks", [])
        return {"ok": True}

    def deliveries(call: AdminCall) -> Any:
        query = call.query
        return webhooks.deliveries(
            db, int(query.get("limit", 1000)), query.get("status"), query.get("topic")
        )

    def attempts(call: AdminCall) -> Any:
        return webhooks.attempts(
            db, int(call.query.get("after", 0)), int(call.query.get("limit", 1000))
        )

    def ping(_: AdminCall) -> Any:
        with db.write() as conn:
            state.ws.emit(conn, "ping", {"type": "ping", "message": "Hello from the emulator"})
        return {"ok": True}

    return [
        admin_route("POST", "webhooks", subscribe),
        admin_route("GET", "webhooks", subscriptions),
        admin_route("DELETE", "webhooks", unsubscribe),
        admin_route("GET", "webhooks/deliveries", deliveries),
        admin_route("GET", "webhooks/attempts", attempts),
        admin_route("GET", "webhooks/status", lambda _: webhooks.status(db)),
        admin_route("POST", "webhooks/ping", ping),
        admin_route("POST", "webhooks/burst", lambda call: state.bursts.start(call.body)),
        admin_route("GET", "webhooks/bursts", lambda _: state.bursts.snapshot()),
        admin_route(
            "GET",
            "webhooks/bursts/{burst_id}",
            lambda call: state.bursts.snapshot(call.params["burst_id"]),
        ),
    ]
