"""Every change to the workspace goes through here: the API, the admin calls and `simulate`.

Each change also queues the webhook notifications its topic subscribers expect (see
``webhooks.py``; delivery happens in the server process).

One module (over 400 lines): the one door for every change, so that each change and its
notifications are written in the same transaction, whoever makes it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from emulators.intercom import model
from emulators.intercom.db import Database
from emulators.intercom.errors import ApiError, invalid, not_found

CONTACT_WRITABLE = {
    "role",
    "external_id",
    "email",
    "phone",
    "name",
    "avatar",
    "signed_up_at",
    "last_seen_at",
    "owner_id",
    "unsubscribed_from_emails",
    "custom_attributes",
    "language_override",
}
PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "float": (int, float),
    "boolean": (bool,),
    "date": (int,),
}


def dumps(obj: Any) -> str:
    """Compact JSON (non-ASCII kept), as documents are stored."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Workspace:
    """Operations on the stored workspace (each runs in its own write transaction)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- helpers
    def now(self) -> int:
        """The emulator clock's now."""
        return self.db.now()

    @property
    def app_id(self) -> str:
        """The workspace's app id code."""
        return str(self.db.settings()["app_id_code"])

    def load_contact(self, conn: sqlite3.Connection, cid: str) -> dict[str, Any]:
        """A stored contact (``not_found`` when there is none)."""
        row = conn.execute(
            "SELECT data FROM contacts WHERE id = ? AND merged_into IS NULL", (cid,)
        ).fetchone()
        if row is None:
            raise not_found("User")
        return json.loads(row[0])

    def save_contact(self, conn: sqlite3.Connection, doc: dict[str, Any]) -> None:
        """Store a contact document and its search columns."""
        conn.execute(
            "UPDATE contacts SET role = ?, email = ?, external_id = ?, created_at = ?, "
            "updated_at = ?, data = ? WHERE id = ?",
            (
                doc["role"],
                doc["email"],
                doc["external_id"],
                doc["created_at"],
                doc["updated_at"],
                dumps(doc),
                doc["id"],
            ),
        )

    def insert_contact(
        self, conn: sqlite3.Connection, doc: dict[str, Any], indexed_at: int
    ) -> None:
        """Store a new contact."""
        conn.execute(
            "INSERT INTO contacts (id, role, email, external_id, created_at, updated_at, "
            "indexed_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc["id"],
                doc["role"],
                doc["email"],
                doc["external_id"],
                doc["created_at"],
                doc["updated_at"],
                indexed_at,
                dumps(doc),
            ),
        )

    def refresh_lists(self, conn: sqlite3.Connection, doc: dict[str, Any]) -> None:
        """Re-render the embedded `tags` and `companies` references of a contact."""
        cid = doc["id"]
        tags = [
            r[0]
            for r in conn.execute(
                "SELECT tag_id FROM contact_tags WHERE contact_id = ? ORDER BY applied_at, tag_id",
                (cid,),
            )
        ]
        doc["tags"] = model.sublist(cid, "tags", [model.tag_ref(t) for t in tags], len(tags))
        comps = [
            r[0]
            for r in conn.execute(
                "SELECT company_id FROM contact_companies WHERE contact_id = ? "
                "ORDER BY pos, company_id",
                (cid,),
            )
        ]
        doc["companies"] = model.sublist(
            cid, "companies", [model.company_ref(c) for c in comps], len(comps)
        )

    def touch_contact(self, conn: sqlite3.Connection, cid: str, **fields: Any) -> None:
        """Record activity on a contact (replies, events): sets the fields and `updated_at`."""
        row = conn.execute("SELECT data FROM contacts WHERE id = ?", (cid,)).fetchone()
        if row is None:
            return
        doc = json.loads(row[0])
        now = self.now()
        for key, value in fields.items():
            doc[key] = value
        doc["updated_at"] = max(now, doc["updated_at"])
        self.save_contact(conn, doc)

    def emit(self, conn: sqlite3.Connection, topic: str, item: dict[str, Any]) -> None:
        """Queue a notification for every subscription that listens to ``topic``.

        A suspended subscription gets none; the outbox still records them (status
        `suspended`), so the admin views tell what Intercom would never have sent.
        """
        subs = self.db.get_meta("webhooks", [])
        for sub in subs:
            if topic in sub["topics"] or topic == "ping":
                active = sub.get("active", True)
                conn.execute(
                    "INSERT INTO outbox (notif_id, subscription, topic, item, created_at, "
                    "next_attempt, status, last_error) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                    (
                        f"notif_{uuid.uuid4()}",
                        sub["id"],
                        topic,
                        dumps(item),
                        self.now(),
                        "pending" if active else "suspended",
                        None if active else "subscription suspended",
                    ),
                )

    def data_attribute_types(self, conn: sqlite3.Connection, model_name: str) -> dict[str, str]:
        """The custom data attributes of a model and their types."""
        out = {}
        for name, data in conn.execute(
            "SELECT name, data FROM data_attributes WHERE model = ?", (model_name,)
        ):
            doc = json.loads(data)
            if doc.get("custom"):
                out[name] = doc["data_type"]
        return out

    def check_custom_attributes(
        self, conn: sqlite3.Connection, model_name: str, values: Any
    ) -> dict[str, Any]:
        """Raise ``parameter_invalid`` for unknown or mistyped custom attributes."""
        if values is None:
            return {}
        if not isinstance(values, dict):
            raise invalid("custom_attributes must be an object", "custom_attributes")
        types = self.data_attribute_types(conn, model_name)
        for key, value in values.items():
            if key not in types:
                raise ApiError(
                    400,
                    "parameter_not_found",
                    f"Custom attribute '{key}' does not exist; create it with "
                    "POST /data_attributes first",
                    f"custom_attributes.{key}",
                )
            expected = PY_TYPES[types[key]]
            ok = value is None or (
                isinstance(value, expected)
                and not (isinstance(value, bool) and types[key] != "boolean")
            )
            if not ok:
                raise invalid(
                    f"Custom attribute '{key}' must be a {types[key]}", f"custom_attributes.{key}"
                )
        return values

    # ----------------------------------------------------------------- contacts
    def create_contact(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /contacts``: a new user or lead."""
        role = body.get("role") or "user"
        if role not in {"user", "lead"}:
            raise invalid("role must be 'user' or 'lead'", "role")
        if not any(body.get(k) for k in ("email", "external_id", "role")):
            raise invalid("give at least one of email, external_id or role")
        with self.db.write() as conn:
            custom = self.check_custom_attributes(conn, "contact", body.get("custom_attributes"))
            self._check_unique(conn, None, role, body.get("email"), body.get("external_id"))
            now = self.now()
            n = self.db.next_counter("contact", conn)
            cid = model.hex_id("api-contact", n)
            doc = model.new_contact(
                cid,
                self.app_id,
                role=role,
                created_at=now,
                email=body.get("email"),
                name=body.get("name"),
                phone=body.get("phone"),
                external_id=body.get("external_id"),
                owner_id=body.get("owner_id"),
                custom_attributes=custom,
            )
            for key in (
                "signed_up_at",
                "last_seen_at",
                "unsubscribed_from_emails",
                "language_override",
            ):
                if body.get(key) is not None:
                    doc[key] = body[key]
            if body.get("avatar"):
                doc["avatar"] = {"type": "avatar", "image_url": body["avatar"]}
            if role == "user" and doc["signed_up_at"] is None:
                doc["signed_up_at"] = now
            self.insert_contact(conn, doc, now)
            self.emit(conn, f"contact.{role}.created", doc)
        return doc

    def _check_unique(
        self, conn: sqlite3.Connection, cid: str | None, role: str, email: Any, external_id: Any
    ) -> None:
        if external_id:
            row = conn.execute(
                "SELECT id FROM contacts WHERE external_id = ? AND merged_into IS NULL "
                "AND id IS NOT ?",
                (external_id, cid),
            ).fetchone()
            if row:
                raise ApiError(
                    409,
                    "conflict",
                    f"A contact matching those details already exists with id={row[0]}",
                )
        if email and role == "user":
            row = conn.execute(
                "SELECT id FROM contacts WHERE email = ? COLLATE NOCASE AND role = 'user' "
                "AND merged_into IS NULL AND id IS NOT ?",
                (email, cid),
            ).fetchone()
            if row:
                raise ApiError(
                    409,
                    "conflict",
                    f"A contact matching those details already exists with id={row[0]}",
                )

    def update_contact(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /contacts/{id}``: change a contact's fields."""
        unknown = set(body) - CONTACT_WRITABLE
        if unknown:
            raise invalid(f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
        with self.db.write() as conn:
            doc = self.load_contact(conn, cid)
            old = dict(doc)
            role = body.get("role", doc["role"])
            if role not in {"user", "lead"}:
                raise invalid("role must be 'user' or 'lead'", "role")
            self._check_unique(conn, cid, role, body.get("email"), body.get("external_id"))
            if "custom_attributes" in body:
                custom = self.check_custom_attributes(conn, "contact", body["custom_attributes"])
                doc["custom_attributes"] = {**doc["custom_attributes"], **custom}
            for key in CONTACT_WRITABLE - {"custom_attributes", "avatar"}:
                if key in body:
                    doc[key] = body[key]
            if "email" in body:
                doc["email"] = body["email"] or ""
                doc["email_domain"] = model.email_domain(doc["email"])
            if "avatar" in body:
                doc["avatar"] = {"type": "avatar", "image_url": body["avatar"]}
            doc["updated_at"] = max(self.now(), doc["updated_at"])
            self.save_contact(conn, doc)
            self._emit_contact_change(conn, old, doc)
        return doc

    def _emit_contact_change(
        self, conn: sqlite3.Connection, old: dict[str, Any], doc: dict[str, Any]
    ) -> None:
        if old["role"] == "lead" and doc["role"] == "user":
            self.emit(conn, "contact.lead.signed_up", doc)
        if (old.get("email") or "") != (doc.get("email") or ""):
            self.emit(conn, "contact.email.updated", doc)
            if doc["role"] == "lead" and not old.get("email"):
                self.emit(conn, "contact.lead.added_email", doc)
        self.emit(conn, f"contact.{doc['role']}.updated", doc)

    def patch_contact_raw(self, cid: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Admin: set raw fields without validation; `updated_at` defaults to now."""
        with self.db.write() as conn:
            row = conn.execute("SELECT data FROM contacts WHERE id = ?", (cid,)).fetchone()
            if row is None:
                raise not_found("User")
            doc = json.loads(row[0])
            old = dict(doc)
            for key, value in fields.items():
                if key == "custom_attributes" and isinstance(value, dict):
                    doc["custom_attributes"] = {**doc["custom_attributes"], **value}
                    doc["custom_attributes"] = {
                        k: v for k, v in doc["custom_attributes"].items() if v is not None
                    }
                elif key != "id":
                    doc[key] = value
            if "email" in fields:
                doc["email"] = fields["email"] or ""
                doc["email_domain"] = model.email_domain(doc["email"])
            if "updated_at" not in fields:
                doc["updated_at"] = self.now()
            self.save_contact(conn, doc)
            self._emit_contact_change(conn, old, doc)
        return doc

    def qualify(self, cid: str) -> dict[str, Any]:
        """Bot qualification outcome: hand-to-sales."""
        with self.db.write() as conn:
            doc = self.load_contact(conn, cid)
            doc["custom_attributes"]["qualification"] = "hand_to_sales"
            doc["updated_at"] = max(self.now(), doc["updated_at"])
            self.save_contact(conn, doc)
            self.emit(conn, f"contact.{doc['role']}.updated", doc)
        return doc

    def delete_contact(self, cid: str) -> dict[str, Any]:
        """Delete a contact."""
        with self.db.write() as conn:
            doc = self.load_contact(conn, cid)
            for table in ("contact_tags", "contact_companies", "event_summaries", "events"):
                conn.execute(f"DELETE FROM {table} WHERE contact_id = ?", (cid,))
            conn.execute("DELETE FROM contacts WHERE id = ?", (cid,))
            ref = {"type": "contact", "id": cid, "external_id": doc["external_id"]}
            self.emit(conn, "contact.deleted", ref)
        return {**ref, "deleted": True}

    def archive_contact(self, cid: str, archived: bool) -> dict[str, Any]:
        """Archive or unarchive a contact."""
        with self.db.write() as conn:
            doc = self.load_contact(conn, cid)
            conn.execute("UPDATE contacts SET archived = ? WHERE id = ?", (int(archived), cid))
            ref = {"type": "contact", "id": cid, "external_id": doc["external_id"]}
            if archived:
                self.emit(conn, "contact.archived", ref)
        return {**ref, "archived": archived}

    def merge_contacts(self, from_id: str, into_id: str) -> dict[str, Any]:
        """Merge a lead into a user."""
        with self.db.write() as conn:
            lead = self.load_contact(conn, from_id)
            user = self.load_contact(conn, into_id)
            if lead["role"] != "lead" or user["role"] != "user":
                raise invalid("merge a lead ('from') into a user ('into')")
            conn.execute("UPDATE contacts SET merged_into = ? WHERE id = ?", (into_id, from_id))
            conn.execute(
                "INSERT OR IGNORE INTO contact_tags SELECT ?, tag_id, applied_at FROM contact_tags "
                "WHERE contact_id = ?",
                (into_id, from_id),
            )
            user["custom_attributes"] = {**lead["custom_attributes"], **user["custom_attributes"]}
            user["updated_at"] = max(self.now(), user["updated_at"])
            self.refresh_lists(conn, user)
            self.save_contact(conn, user)
            self.emit(conn, "contact.user.updated", user)
        return user

    def tag_contact(self, cid: str, tag_id: str, *, remove: bool = False) -> dict[str, Any]:
        """Tag (or untag) a contact."""
        with self.db.write() as conn:
            doc = self.load_contact(conn, cid)
            row = conn.execute("SELECT id, name FROM tags WHERE id = ?", (str(tag_id),)).fetchone()
            if row is None:
                raise not_found("Tag")
            now = self.now()
            if remove:
                conn.execute(
                    "DELETE FROM contact_tags WHERE contact_id = ? AND tag_id = ?", (cid, row[0])
                )
            else:
                conn.execute(
                    "INSERT OR IGNORE INTO contact_tags VALUES (?, ?, ?)", (cid, row[0], now)
                )
            self.refresh_lists(conn, doc)
            doc["updated_at"] = max(now, doc["updated_at"])
            self.save_contact(conn, doc)
            tag = model.tag(row[0], row[1])
            self.emit(
                conn,
                f"contact.{doc['role']}.tag.{'deleted' if remove else 'created'}",
                {"type": "contact_tag", "created_at": now, "contact": doc, "tag": tag},
            )
        return tag

    def attach_company(self, cid: str, company_id: str, *, remove: bool = False) -> dict[str, Any]:
        """Attach (or detach) a company to a contact."""
        with self.db.write() as conn:
            doc = self.load_contact(conn, cid)
            row = conn.execute("SELECT data FROM companies WHERE id = ?", (company_id,)).fetchone()
            if row is None:
                raise not_found("Company")
            if remove:
                conn.execute(
                    "DELETE FROM contact_companies WHERE contact_id = ? AND company_id = ?",
                    (cid, company_id),
                )
            else:
                conn.execute(
                    "INSERT OR IGNORE INTO contact_companies VALUES (?, ?, ?)",
                    (cid, company_id, self.now()),
                )
            self.refresh_lists(conn, doc)
            doc["updated_at"] = max(self.now(), doc["updated_at"])
            self.save_contact(conn, doc)
            self._recount_company(conn, company_id)
        return json.loads(row[0])

    def _recount_company(self, conn: sqlite3.Connection, company_id: str) -> None:
        count = conn.execute(
            "SELECT count(*) FROM contact_companies WHERE company_id = ?", (company_id,)
        ).fetchone()[0]
        doc = json.loads(
            conn.execute("SELECT data FROM companies WHERE id = ?", (company_id,)).fetchone()[0]
        )
        doc["user_count"] = count
        conn.execute("UPDATE companies SET data = ? WHERE id = ?", (dumps(doc), company_id))

    def record_event(
        self,
        cid: str,
        name: str,
        created_at: int | None = None,
        metadata: dict[str, Any] | None = None,
        count: int = 1,
    ) -> None:
        """Record data events for a contact."""
        with self.db.write() as conn:
            self.load_contact(conn, cid)
            ts = created_at or self.now()
            conn.executemany(
                "INSERT INTO events (contact_id, event_name, created_at, metadata) "
                "VALUES (?, ?, ?, ?)",
                [(cid, name, ts, dumps(metadata or {}))] * count,
            )
            conn.execute(
                "INSERT INTO event_summaries VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (contact_id, name) DO UPDATE SET "
                "first = min(first, excluded.first), last = max(last, excluded.last), "
                "count = count + excluded.count",
                (cid, name, ts, ts, count),
            )
            self.touch_contact(conn, cid)

    # ----------------------------------------------------------------- companies
    def upsert_company(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create or update a company by its ``company_id``."""
        company_id = body.get("company_id")
        if not company_id and not body.get("name"):
            raise invalid("give company_id (your id for the company) or name", "company_id")
        with self.db.write() as conn:
            custom = self.check_custom_attributes(conn, "company", body.get("custom_attributes"))
            now = self.now()
            row = None
            if company_id:
                row = conn.execute(
                    "SELECT data FROM companies WHERE company_id = ?", (company_id,)
                ).fetchone()
            if row is None:
                n = self.db.next_counter("company", conn)
                doc = model.new_company(
                    model.hex_id("api-company", n),
                    company_id or model.hex_id("api-cid", n),
                    self.app_id,
                    name=body.get("name") or "",
                    created_at=now,
                    custom_attributes=custom,
                )
                topic = "company.created"
            else:
                doc = json.loads(row[0])
                doc["custom_attributes"].update(custom)
                topic = "company.updated"
            for key in ("name", "size", "website", "industry", "monthly_spend"):
                if body.get(key) is not None:
                    doc[key] = body[key]
            if body.get("plan"):
                doc["plan"] = {"type": "plan", "id": "1", "name": body["plan"]}
            if body.get("remote_created_at"):
                doc["remote_created_at"] = body["remote_created_at"]
            doc["updated_at"] = now
            conn.execute(
                "INSERT INTO companies (id, company_id, name, created_at, updated_at, data) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "updated_at = excluded.updated_at, data = excluded.data",
                (doc["id"], doc["company_id"], doc["name"], doc["created_at"], now, dumps(doc)),
            )
            self.emit(conn, topic, doc)
        return doc

    # ----------------------------------------------------------------- tags
    def upsert_tag(self, name: object, tag_id: str | None = None) -> dict[str, Any]:
        """Create a tag, or rename the one with ``tag_id``."""
        if not isinstance(name, str) or not name.strip():
            raise invalid("name is required", "name")
        with self.db.write() as conn:
            if tag_id:
                if conn.execute("SELECT 1 FROM tags WHERE id = ?", (tag_id,)).fetchone() is None:
                    raise not_found("Tag")
                conn.execute("UPDATE tags SET name = ? WHERE id = ?", (name, tag_id))
                return model.tag(tag_id, name)
            row = conn.execute("SELECT id FROM tags WHERE name = ?", (name,)).fetchone()
            if row:
                return model.tag(row[0], name)
            new_id = str(self.db.next_counter("tag", conn, start=9000))
            conn.execute("INSERT INTO tags VALUES (?, ?, ?)", (new_id, name, self.now()))
        return model.tag(new_id, name)

    def delete_tag(self, tag_id: str) -> None:
        """Delete a tag."""
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM tags WHERE id = ?", (tag_id,)).fetchone() is None:
                raise not_found("Tag")
            if conn.execute(
                "SELECT 1 FROM contact_tags WHERE tag_id = ? LIMIT 1", (tag_id,)
            ).fetchone():
                raise ApiError(
                    400,
                    "tag_has_dependent_objects",
                    "Unable to delete Tag with dependent objects; untag them first",
                )
            conn.execute("DELETE FROM tags WHERE id = ?", (tag_id,))

    # ----------------------------------------------------------------- conversations
    def load_conversation(self, conn: sqlite3.Connection, conv_id: str) -> dict[str, Any]:
        """A stored conversation (``not_found`` when there is none)."""
        row = conn.execute("SELECT data FROM conversations WHERE id = ?", (str(conv_id),))
        row = row.fetchone()
        if row is None:
            raise not_found("Conversation")
        return json.loads(row[0])

    def save_conversation(self, conn: sqlite3.Connection, conv: dict[str, Any]) -> None:
        """Store a conversation document and its search columns."""
        conn.execute(
            "UPDATE conversations SET updated_at = ?, created_at = ?, data = ? WHERE id = ?",
            (conv["updated_at"], conv["created_at"], dumps(model.list_item(conv)), conv["id"]),
        )

    def _author(self, conn: sqlite3.Connection, kind: str, aid: str) -> dict[str, Any]:
        if kind == "admin":
            row = conn.execute("SELECT data FROM admins WHERE id = ?", (str(aid),)).fetchone()
            if row is None:
                raise not_found("Admin")
            adm = json.loads(row[0])
            return model.author("admin", adm["id"], adm["name"], adm["email"])
        contact = self.load_contact(conn, aid)
        return model.author(contact["role"], contact["id"], contact["name"], contact["email"])

    def add_parts(
        self, conn: sqlite3.Connection, conv: dict[str, Any], parts: list[dict[str, Any]]
    ) -> None:
        """Append parts to a stored conversation, updating its statistics and timestamps."""
        start = conn.execute(
            "SELECT coalesce(max(pos), 0) FROM parts WHERE conversation_id = ?", (conv["id"],)
        ).fetchone()[0]
        rows = []
        for i, part in enumerate(parts, start=1):
            model.apply_part_to_conversation(conv, part)
            rows.append((conv["id"], start + i, dumps(part)))
        conn.executemany("INSERT INTO parts VALUES (?, ?, ?)", rows)

    def new_part_id(self, conn: sqlite3.Connection, count: int = 1) -> list[str]:
        """``count`` new conversation part ids."""
        first = self.db.next_counter("part", conn, start=5_000_000_000)
        if count > 1:
            self.db.set_meta("counter:part", first + count - 1, conn)
        return [str(first + i) for i in range(count)]

    def create_conversation(self, contact_id: str, body: str, subject: str = "") -> dict[str, Any]:
        """A new conversation started by a contact."""
        with self.db.write() as conn:
            contact = self.load_contact(conn, contact_id)
            now = self.now()
            conv_id = str(self.db.next_counter("conversation", conn, start=900_000_001))
            conv = model.new_conversation(
                conv_id,
                created_at=now,
                contact=contact,
                subject=subject,
                body=body,
                admin_assignee_id=None,
                team_assignee_id=None,
            )
            conn.execute(
                "INSERT INTO conversations (id, created_at, updated_at, data) VALUES (?, ?, ?, ?)",
                (conv_id, now, now, dumps(model.list_item(conv))),
            )
            self.touch_contact(conn, contact_id, last_replied_at=now)
            self.emit(conn, "conversation.user.created", conv)
        return conv

    def conversation_action(
        self,
        conv_id: str,
        action: str,
        *,
        author_type: str,
        author_id: str,
        body: str | None = None,
        assignee_id: str | None = None,
        snoozed_until: int | None = None,
        count: int = 1,
        created_at: int | None = None,
    ) -> dict[str, Any]:
        """Reply, note, close, open, snooze or assign; answers the conversation with its parts."""
        topics = {
            ("admin", "comment"): "conversation.admin.replied",
            ("admin", "note"): "conversation.admin.noted",
            ("admin", "close"): "conversation.admin.closed",
            ("admin", "open"): "conversation.admin.opened",
            ("admin", "snoozed"): "conversation.admin.snoozed",
            ("admin", "assignment"): "conversation.admin.assigned",
            ("contact", "comment"): "conversation.user.replied",
        }
        kind = "admin" if author_type == "admin" else "contact"
        if (kind, action) not in topics:
            raise invalid(f"{author_type} cannot {action} a conversation", "message_type")
        with self.db.write() as conn:
            conv = self.load_conversation(conn, conv_id)
            auth = self._author(conn, "admin" if kind == "admin" else "contact", author_id)
            now = created_at or self.now()
            ids = self.new_part_id(conn, count)
            assigned = None
            if action == "assignment":
                assigned = {"type": "admin", "id": str(assignee_id or author_id)}
                conv["admin_assignee_id"] = int(assigned["id"])
            if action == "snoozed":
                conv["snoozed_until"] = snoozed_until or now + 3600
            parts = [
                model.new_part(
                    pid,
                    part_type=action,
                    body=body,
                    created_at=now,
                    author_doc=auth,
                    assigned_to=assigned,
                )
                for pid in ids
            ]
            self.add_parts(conn, conv, parts)
            conv["updated_at"] = max(conv["updated_at"], now)
            self.save_conversation(conn, conv)
            if action == "comment":
                # A contact's reply or an admin's message is activity on the contact too.
                field = "last_contacted_at" if kind == "admin" else "last_replied_at"
                for ref in conv["contacts"]["contacts"]:
                    self.touch_contact(conn, ref["id"], **{field: now})
            event = dict(conv)
            event["conversation_parts"] = {
                "type": "conversation_part.list",
                "conversation_parts": parts[-1:],
                "total_count": conv["statistics"]["count_conversation_parts"],
            }
            self.emit(conn, topics[(kind, action)], event)
        return conv

    def tag_conversation(
        self, conv_id: str, tag_id: str, admin_id: str, *, remove: bool = False
    ) -> dict[str, Any]:
        """Tag (or untag) a conversation."""
        with self.db.write() as conn:
            conv = self.load_conversation(conn, conv_id)
            row = conn.execute("SELECT id, name FROM tags WHERE id = ?", (str(tag_id),)).fetchone()
            if row is None:
                raise not_found("Tag")
            self._author(conn, "admin", admin_id)
            now = self.now()
            tags = [t for t in conv["tags"]["tags"] if t["id"] != row[0]]
            tag = model.tag(row[0], row[1], applied_at=now)
            tag["applied_by"] = {"type": "admin", "id": str(admin_id)}
            if not remove:
                tags.append(tag)
            conv["tags"]["tags"] = tags
            conv["updated_at"] = max(conv["updated_at"], now)
            self.save_conversation(conn, conv)
            if not remove:
                # Partial, as Intercom sends it: the conversation, the tag added, no parts.
                event = {
                    **conv,
                    "tags_added": {"type": "tag.list", "tags": [tag]},
                    "conversation_parts": {
                        "type": "conversation_part.list",
                        "conversation_parts": [],
                        "total_count": conv["statistics"]["count_conversation_parts"],
                    },
                }
                self.emit(conn, "conversation_part.tag.created", event)
        return model.tag(row[0], row[1])

    def update_conversation(self, conv_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change a conversation's fields."""
        with self.db.write() as conn:
            conv = self.load_conversation(conn, conv_id)
            if "read" in body:
                conv["read"] = bool(body["read"])
            if "title" in body:
                conv["title"] = body["title"]
            if isinstance(body.get("custom_attributes"), dict):
                conv["custom_attributes"].update(body["custom_attributes"])
            conv["updated_at"] = max(conv["updated_at"], self.now())
            self.save_conversation(conn, conv)
        return conv

    def patch_conversation_raw(self, conv_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set raw conversation fields without the API's rules (admin)."""
        with self.db.write() as conn:
            conv = self.load_conversation(conn, conv_id)
            for key, value in fields.items():
                if key != "id":
                    conv[key] = value
            if "state" in fields and "open" not in fields:
                conv["open"] = fields["state"] != "closed"
            if "updated_at" not in fields:
                conv["updated_at"] = self.now()
            self.save_conversation(conn, conv)
        return conv

    def delete_conversation(self, conv_id: str) -> dict[str, Any]:
        """Delete a conversation."""
        with self.db.write() as conn:
            self.load_conversation(conn, conv_id)
            conn.execute("DELETE FROM parts WHERE conversation_id = ?", (str(conv_id),))
            conn.execute("DELETE FROM conversations WHERE id = ?", (str(conv_id),))
            self.emit(conn, "conversation.deleted", {"type": "conversation", "id": str(conv_id)})
        return {"id": str(conv_id), "object": "conversation", "deleted": True}

    def append_parts_admin(self, conv_id: str, count: int, part_type: str) -> dict[str, Any]:
        """Admin: append ``count`` parts quickly (alternating authors for comments)."""
        with self.db.write() as conn:
            conv = self.load_conversation(conn, conv_id)
            contact_ref = conv["contacts"]["contacts"][0]
            contact_author = conv["source"]["author"]
            admin_row = conn.execute("SELECT data FROM admins ORDER BY id LIMIT 1").fetchone()
            adm = (
                json.loads(admin_row[0])
                if admin_row
                else {"id": "1", "name": "Admin", "email": "admin@example.com"}
            )
            admin_author = model.author("admin", adm["id"], adm["name"], adm["email"])
            now = self.now()
            ids = self.new_part_id(conn, count)
            parts = []
            for i, pid in enumerate(ids):
                by_contact = part_type == "comment" and i % 2 == 0
                parts.append(
                    model.new_part(
                        pid,
                        part_type=part_type,
                        created_at=now,
                        body=f"<p>Message {i + 1} about {contact_ref['id']}</p>",
                        author_doc=contact_author if by_contact else admin_author,
                    )
                )
            self.add_parts(conn, conv, parts)
            self.save_conversation(conn, conv)
        return conv
