"""Admin bursts: N real workspace changes at a given rate, each firing its webhook topic.

A burst makes the change the topic names (creates a lead, updates a contact, adds a reply, ...)
through the same `Workspace` operations as the API, so re-reading the item by id answers its new
state, and the notifications go through the normal outbox and delivery loop. It runs in a thread
of the server; `snapshot` tells how far each burst got and which items it changed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from emulators.intercom.db import Database
from emulators.intercom.workspace import Workspace

CONTACT_UPDATE = {"custom_attributes": {"qualification": "hand_to_sales"}}
MAX_COUNT = 100_000
CONTACT_TOPICS = {
    "contact.lead.created",
    "contact.user.created",
    "contact.lead.updated",
    "contact.user.updated",
}
#: Each conversation topic a burst fires by an action: (author type, action).
CONVERSATION_ACTIONS = {
    "conversation.user.replied": ("contact", "comment"),
    "conversation.admin.replied": ("admin", "comment"),
    "conversation.admin.noted": ("admin", "note"),
    "conversation.admin.closed": ("admin", "close"),
    "conversation.admin.opened": ("admin", "open"),
    "conversation.admin.assigned": ("admin", "assignment"),
    "conversation.admin.snoozed": ("admin", "snoozed"),
}


class Bursts:
    """Bursts started by `POST /_emulator/webhooks/burst`, kept in memory for their views."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.lock = threading.Lock()
        self.runs: dict[str, dict[str, Any]] = {}
        self.stop = threading.Event()

    @property
    def db(self) -> Database:
        """The workspace's database."""
        return self.ws.db

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a burst of changes at a rate in a thread; answer its view."""
        topic = str(body.get("topic") or "contact.lead.created")
        count = int(body.get("count", 100))
        rate = float(body.get("rate_per_s", 100))
        if not 1 <= count <= MAX_COUNT:
            raise ValueError(f"count must be between 1 and {MAX_COUNT}")
        if rate <= 0:
            raise ValueError("rate_per_s must be above 0")
        change = self._change(topic, body)
        run: dict[str, Any] = {
            "id": f"burst_{uuid.uuid4().hex[:10]}",
            "topic": topic,
            "count": count,
            "rate_per_s": rate,
            "fired": 0,
            "errors": [],
            "items": [],
            "started_at": time.time(),
            "finished_at": None,
            "clock": self.db.now(),
        }
        with self.lock:
            self.runs[run["id"]] = run
        threading.Thread(target=self._run, args=(run, change), daemon=True, name=run["id"]).start()
        return self._public(run)

    def snapshot(self, burst_id: str | None = None) -> Any:
        """Every burst's view, or one burst's with the ids it changed."""
        with self.lock:
            if burst_id is not None:
                if burst_id not in self.runs:
                    raise KeyError(f"no burst {burst_id}")
                return self._public(self.runs[burst_id], items=True)
            return [self._public(r) for r in self.runs.values()]

    @staticmethod
    def _public(run: dict[str, Any], items: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in run.items() if k != "items"}
        out["errors"] = list(run["errors"][:20])
        out["done"] = run["finished_at"] is not None
        if items:
            out["items"] = list(run["items"])
        return out

    def halt(self) -> None:
        """Stop every running burst and forget them all."""
        stop, self.stop = self.stop, threading.Event()
        stop.set()
        with self.lock:
            self.runs.clear()

    def _run(self, run: dict[str, Any], change: Callable[[int], str]) -> None:
        start = time.perf_counter()
        stop = self.stop
        for i in range(run["count"]):
            delay = start + i / run["rate_per_s"] - time.perf_counter()
            if stop.is_set() or (delay > 0 and stop.wait(delay)):
                break
            try:
                item = change(i)
            except Exception as exc:  # noqa: BLE001 - recorded in the burst's view
                with self.lock:
                    run["errors"].append(f"change {i}: {type(exc).__name__}: {exc}")
                continue
            with self.lock:
                run["fired"] += 1
                run["items"].append(item)
        with self.lock:
            run["finished_at"] = time.time()

    # ------------------------------------------------------------------ one change per topic
    def _change(self, topic: str, body: dict[str, Any]) -> Callable[[int], str]:
        kind, _, action = topic.partition(".")
        if topic == "ping":
            ws = self.ws

            def ping(i: int) -> str:
                with self.db.write() as c:
                    ws.emit(c, "ping", {"type": "ping", "message": f"Burst ping {i}"})
                return f"ping-{i}"

            return ping
        if kind == "contact" and topic in CONTACT_TOPICS:
            return self._contact_change(topic, body)
        if topic in CONVERSATION_ACTIONS or topic in {
            "conversation.user.created",
            "conversation_part.tag.created",
        }:
            return self._conversation_change(topic)
        raise ValueError(
            f"a burst cannot fire {topic!r} ({kind} {action}); it fires ping, "
            "contact.lead.created, contact.user.created, contact.lead.updated, "
            "contact.user.updated, conversation.user.created, "
            "conversation_part.tag.created and "
            f"{', '.join(sorted(CONVERSATION_ACTIONS))}"
        )

    def _contact_change(self, topic: str, body: dict[str, Any]) -> Callable[[int], str]:
        """Create or update contacts of the topic's role."""
        ws, conn = self.ws, self.db.conn()
        tag = str(uuid.uuid4().hex[:6])
        if topic in {"contact.lead.created", "contact.user.created"}:
            role = topic.split(".")[1]
            extra = body.get("custom_attributes")

            def create(i: int) -> str:
                fields: dict[str, Any] = {
                    "role": role,
                    "name": f"Burst {tag} {i}",
                    "email": f"burst-{tag}-{i}@example.com",
                }
                if extra:
                    fields["custom_attributes"] = extra
                return str(ws.create_contact(fields)["id"])

            return create
        if topic in {"contact.lead.updated", "contact.user.updated"}:
            role = topic.split(".")[1]
            ids = self._ids(
                conn,
                "SELECT id FROM contacts WHERE role = ? AND merged_into IS NULL ORDER BY id",
                (role,),
                f"{role}s",
            )
            changes = body.get("changes") or CONTACT_UPDATE

            def update(i: int) -> str:
                cid = ids[i % len(ids)]
                ws.update_contact(cid, {**changes, "last_seen_at": ws.now()})
                return cid

            return update
        raise ValueError(f"not a contact topic: {topic!r}")

    def _conversation_change(self, topic: str) -> Callable[[int], str]:
        """Open, tag or act on conversations (reply, note, close, open, assign, snooze)."""
        ws, conn = self.ws, self.db.conn()
        admin = self._ids(conn, "SELECT id FROM admins ORDER BY id", (), "admins")[0]
        if topic == "conversation.user.created":
            contacts = self._ids(
                conn,
                "SELECT id FROM contacts WHERE merged_into IS NULL ORDER BY id",
                (),
                "contacts",
            )

            def open_conv(i: int) -> str:
                return str(
                    ws.create_conversation(
                        contacts[i % len(contacts)], f"<p>Burst question {i}</p>", "Burst"
                    )["id"]
                )

            return open_conv
        convs = self._ids(conn, "SELECT id FROM conversations ORDER BY id", (), "conversations")
        if topic == "conversation_part.tag.created":
            tag_id = self._ids(conn, "SELECT id FROM tags ORDER BY id", (), "tags")[0]

            def tag_conv(i: int) -> str:
                ws.tag_conversation(convs[i % len(convs)], tag_id, admin)
                return convs[i % len(convs)]

            return tag_conv
        author_type, verb = CONVERSATION_ACTIONS[topic]

        def act(i: int) -> str:
            conv_id = convs[i % len(convs)]
            author = admin
            if author_type == "contact":
                conv = ws.load_conversation(self.db.conn(), conv_id)
                author = conv["contacts"]["contacts"][0]["id"]
            ws.conversation_action(
                conv_id,
                verb,
                author_type=author_type,
                author_id=author,
                body=f"<p>Burst {verb} {i}</p>",
                assignee_id=admin if verb == "assignment" else None,
            )
            return conv_id

        return act

    @staticmethod
    def _ids(conn: Any, sql: str, args: tuple[Any, ...], what: str) -> list[str]:
        ids = [str(r[0]) for r in conn.execute(sql, args)]
        if not ids:
            raise ValueError(f"the workspace has no {what} to change; seed it first")
        return ids
