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
    contacts: list[str] = []
    conversations: list[str] = []
    actions: dict[str, int] = {}
    admin_row = ws.db.conn().execute("SELECT id FROM admins ORDER BY id LIMIT 1").fetchone()
    admin_id = str(admin_row[0]) if admin_row else None
    tag_ids = [str(r[0]) for r in ws.db.conn().execute("SELECT id FROM tags")]
    live = "merged_into IS NULL AND archived = 0"
    for step in range(steps):
        action = rng.choices(names, weights)[0]
        try:
            if action == "contact_seen":
                cid = _pick(ws, rng, "contacts", live)
                if cid is None:
                    continue
                doc = json.loads(
                    ws.db.conn()
                    .execute("SELECT data FROM contacts WHERE id = ?", (cid,))
                    .fetchone()[0]
                )
                sessions = int(doc["custom_attributes"].get("session_count") or 0) + 1
                ws.patch_contact_raw(
                    cid,
                    {"last_seen_at": ws.now(), "custom_attributes": {"session_count": sessions}},
                )
                contacts.append(cid)
            elif action == "contact_created":
                doc = ws.create_contact(
                    {
                        "role": "lead",
                        "name": f"Simulated Lead {seed}-{step}",
                        "email": f"sim.{seed}.{step}.{rng.randrange(10**6)}@example.com",
                    }
                )
                contacts.append(doc["id"])
            elif action == "qualified":
                cid = _pick(ws, rng, "contacts", f"{live} AND role = 'lead'")
                if cid is None:
                    continue
                ws.qualify(cid)
                contacts.append(cid)
            elif action == "event":
                cid = _pick(ws, rng, "contacts", live)
                if cid is None:
                    continue
                ws.record_event(cid, rng.choice(["viewed-pricing", "booked-demo"]), ws.now())
                contacts.append(cid)
            elif action == "conversation_opened":
                cid = _pick(ws, rng, "contacts", live)
                if cid is None:
                    continue
                conv = ws.create_conversation(
                    cid, "<p>Hi, I have a question about pricing</p>", "Pricing question"
                )
                conversations.append(conv["id"])
                contacts.append(cid)
            elif action in {
                "contact_replied",
                "admin_replied",
                "conversation_closed",
                "conversation_tagged",
            }:
                conv_id = _pick(ws, rng, "conversations")
                if conv_id is None or admin_id is None:
                    continue
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
                    ws.conversation_action(
                        conv_id, "close", author_type="admin", author_id=admin_id
                    )
                elif tag_ids:
                    ws.tag_conversation(conv_id, rng.choice(tag_ids), admin_id)
                if action in {"contact_replied", "admin_replied"}:
                    contacts.extend(c["id"] for c in conv["contacts"]["contacts"])
                conversations.append(conv_id)
        except ApiError:
            continue  # e.g. the picked contact was deleted meanwhile: skip this step
        actions[action] = actions.get(action, 0) + 1
    return {
        "contacts": sorted(set(contacts)),
        "conversations": sorted(set(conversations)),
        "actions": actions,
        "now": ws.now(),
    }
