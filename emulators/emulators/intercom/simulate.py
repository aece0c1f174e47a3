"""Random but reproducible activity: what a live workspace does between two syncs."""

from __future__ import annotations

import json
import random
from typing import Any

from emulators.intercom.errors import ApiError
from emulators.intercom.workspace import Workspace

ACTIONS = [
    ("contact_seen", 4),
    ("contact_created", 2),
    ("qualified", 2),
    ("event", 2),
    ("conversation_opened", 2),
    ("contact_replied", 3),
    ("admin_replied", 3),
    ("conversation_tagged", 1),
    ("conversation_closed", 2),
]


def _pick(ws: Workspace, rng: random.Random, table: str, where: str = "1") -> str | None:
    conn = ws.db.conn()
    count = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
    if not count:
        return None
    row = conn.execute(
        f"SELECT id FROM {table} WHERE {where} LIMIT 1 OFFSET ?", (rng.randrange(count),)
    ).fetchone()
    return str(row[0])


def simulate(ws: Workspace, steps: int, seed: int = 1) -> dict[str, Any]:
    """Apply ``steps`` random changes; answers the ids of the contacts and conversations touched.

    Every change goes through the same operations as the API, so it moves `updated_at` to the
    emulator's clock and queues the matching webhook notifications.
    """
    rng = random.Random(seed)
    names = [a for a, _ in ACTIONS]
    weights = [w for _, w in ACTIONS]
    sim = _Simulation(ws, rng, seed)
    actions: dict[str, int] = {}
    for step in range(steps):
        action = rng.choices(names, weights)[0]
        try:
            done = sim.apply(action, step)
        except ApiError:
            continue  # e.g. the picked contact was deleted meanwhile: skip this step
        if done:
            actions[action] = actions.get(action, 0) + 1
    return {
        "contacts": sorted(set(sim.contacts)),
        "conversations": sorted(set(sim.conversations)),
        "actions": actions,
        "now": ws.now(),
    }


class _Simulation:
    """The actions of one simulation and the contacts and conversations they touched."""

    LIVE = "merged_into IS NULL AND archived = 0"

    def __init__(self, ws: Workspace, rng: random.Random, seed: int) -> None:
        self.ws = ws
        self.rng = rng
        self.seed = seed
        self.contacts: list[str] = []
        self.conversations: list[str] = []
        admin_row = ws.db.conn().execute("SELECT id FROM admins ORDER BY id LIMIT 1").fetchone()
        self.admin_id = str(admin_row[0]) if admin_row else None
        self.tag_ids = [str(r[0]) for r in ws.db.conn().execute("SELECT id FROM tags")]

    def apply(self, action: str, step: int) -> bool:
        """Apply one action; False when there was nothing to apply it to."""
        if action in {
            "contact_replied",
            "admin_replied",
            "conversation_closed",
            "conversation_tagged",
        }:
            return self.conversation_action(action)
        handler = {
            "contact_seen": self.contact_seen,
            "contact_created": self.contact_created,
            "qualified": self.qualified,
            "event": self.event,
            "conversation_opened": self.conversation_opened,
        }[action]
        return handler(step)

    def _live_contact(self, where: str = "") -> str | None:
        return _pick(self.ws, self.rng, "contacts", self.LIVE + where)

    def contact_seen(self, step: int) -> bool:
        """A contact comes back: one more session, seen now."""
        ws = self.ws
        cid = self._live_contact()
        if cid is None:
            return False
        doc = json.loads(
            ws.db.conn().execute("SELECT data FROM contacts WHERE id = ?", (cid,)).fetchone()[0]
        )
        sessions = int(doc["custom_attributes"].get("session_count") or 0) + 1
        ws.patch_contact_raw(
            cid, {"last_seen_at": ws.now(), "custom_attributes": {"session_count": sessions}}
        )
        self.contacts.append(cid)
        return True

    def contact_created(self, step: int) -> bool:
        """A new Lead."""
        doc = self.ws.create_contact(
            {
                "role": "lead",
                "name": f"Simulated Lead {self.seed}-{step}",
                "email": f"sim.{self.seed}.{step}.{self.rng.randrange(10**6)}@example.com",
            }
        )
        self.contacts.append(doc["id"])
        return True

    def qualified(self, step: int) -> bool:
        """A Lead becomes qualified."""
        cid = self._live_contact(" AND role = 'lead'")
        if cid is None:
            return False
        self.ws.qualify(cid)
        self.contacts.append(cid)
        return True

    def event(self, step: int) -> bool:
        """A contact does something the app records as an event."""
        cid = self._live_contact()
        if cid is None:
            return False
        self.ws.record_event(cid, self.rng.choice(["viewed-pricing", "booked-demo"]), self.ws.now())
        self.contacts.append(cid)
        return True

    def conversation_opened(self, step: int) -> bool:
        """A contact asks a question."""
        cid = self._live_contact()
        if cid is None:
            return False
        conv = self.ws.create_conversation(
            cid, "<p>Hi, I have a question about pricing</p>", "Pricing question"
        )
        self.conversations.append(conv["id"])
        self.contacts.append(cid)
        return True

    def conversation_action(self, action: str) -> bool:
        """A reply (contact or admin), a close or a tag on a conversation."""
        ws, admin_id = self.ws, self.admin_id
        conv_id = _pick(ws, self.rng, "conversations")
        if conv_id is None or admin_id is None:
            return False
        if action == "contact_replied":
            conv = ws.load_conversation(ws.db.conn(), conv_id)
            conv = ws.conversation_action(
                conv_id,
                "comment",
                author_type="contact",
                author_id=conv["contacts"]["contacts"][0]["id"],
                body="<p>Any news on this?</p>",
            )
        elif action == "admin_replied":
            conv = ws.conversation_action(
                conv_id,
                "comment",
                author_type="admin",
                author_id=admin_id,
                body="<p>Looking into it.</p>",
            )
        elif action == "conversation_closed":
            ws.conversation_action(conv_id, "close", author_type="admin", author_id=admin_id)
        elif self.tag_ids:
            ws.tag_conversation(conv_id, self.rng.choice(self.tag_ids), admin_id)
        if action in {"contact_replied", "admin_replied"}:
            self.contacts.extend(c["id"] for c in conv["contacts"]["contacts"])
        self.conversations.append(conv_id)
        return True
