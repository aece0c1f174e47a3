"""Deterministic, realistic workspaces, generated fast (bulk inserts, indexes built last).

The first contacts of every seeded workspace are the awkward people, always at the same
positions, so their ids are fixed for a given seed; ``manifest`` lists them by category.

One module on purpose (over 400 lines): one generator of one workspace, whose random draws run
in a fixed order; splitting it would spread that order (and the seeded ids) over modules.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from emulators.intercom import model
from emulators.intercom.db import DATA_TABLES, INDEXES, TABLES, Database

DAY = 86400
SPAN_DAYS = 60

LATIN_FIRST = [
    "Anna",
    "Jürgen",
    "José",
    "François",
    "Zoë",
    "Łukasz",
    "Søren",
    "Ana María",
    "Chloé",
    "Björn",
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Mia",
    "Lucas",
    "Sofia",
    "Mateo",
    "Ines",
    "Hugo",
    "Maëlle",
    "Tomás",
    "Agnieszka",
    "Dvořák",
    "Eilís",
    "Siobhán",
    "Ruairí",
    "Kemal",
    "Çağla",
    "Håkon",
]
LATIN_LAST = [
    "Müller",
    "García",
    "O'Brien",
    "Nguyễn",
    "Dubois",
    "Kowalski",
    "van der Berg",
    "Smith",
    "Jensen",
    "Rossi",
    "Fernández",
    "Schäfer",
    "Lefèvre",
    "Novák",
    "Öztürk",
    "Ní Bhriain",
    "Johansson",
    "Silva",
    "Moreau",
    "Brown",
    "Wójcik",
    "Dalí",
    "Koch",
    "Ångström",
]
SCRIPT_NAMES = [
    "王伟",
    "李娜",
    "张敏",
    "山田 太郎",
    "佐藤 花子",
    "鈴木 一郎",
    "محمد الأحمد",
    "فاطمة الزهراء",
    "Анастасия Иванова",
    "Дмитрий Смирнов",
    "Γιώργος Παπαδόπουλος",
    "Ελένη Νικολάου",
    "김민준",
    "이서연",
    "राहुल शर्मा",
    "प्रिया पटेल",
    "דוד כהן",
    "สมชาย ใจดี",
]
ONE_WORD = ["Madonna", "Cher", "Ronaldinho", "Prince", "Björk", "Teller", "Zendaya"]
DOMAINS = ["example.com", "acme.io", "globex.de", "initech.fr", "umbrella.co.uk", "mail.test"]
JOB_TITLES = [
    "CTO",
    "Head of Sales",
    "Marketing Manager",
    "Software Engineer",
    "Founder",
    "VP Revenue",
    "Customer Success Lead",
    "Operations Analyst",
    "Directeur Commercial",
    "Geschäftsführerin",
]
INDUSTRIES = [
    "Software",
    "Retail",
    "Healthcare",
    "Finance",
    "Manufacturing",
    "Education",
    "Logistics",
    "Media",
]
PLANS = ["free", "starter", "pro", "enterprise"]
COUNTRIES = [
    ("Germany", "Berlin", "Berlin"),
    ("France", "Île-de-France", "Paris"),
    ("Japan", "Tokyo", "Tokyo"),
    ("United States", "California", "San Francisco"),
    ("Brazil", "São Paulo", "São Paulo"),
    ("Greece", "Attica", "Athens"),
]
TAG_NAMES = [
    "sales-qualified",
    "vip",
    "newsletter",
    "trial",
    "churn-risk",
    "enterprise",
    "beta",
    "partner",
    "support-priority",
    "webinar-2025",
    "ebook",
    "pricing-page",
    "demo-requested",
    "event-lead",
    "referral",
]
EVENT_NAMES = [
    "viewed-pricing",
    "started-trial",
    "invited-teammate",
    "exported-report",
    "booked-demo",
]
QUALIFICATIONS = ["hand_to_sales"] * 25 + ["nurture"] * 25 + ["not_qualified"] * 20 + [None] * 30
ADMINS = [
    ("Alex Support", "alex@emulated-workspace.test"),
    ("Bea Sales", "bea@emulated-workspace.test"),
    ("Chen Wei", "chen@emulated-workspace.test"),
    ("Dana Ops", "dana@emulated-workspace.test"),
    ("Eli Bot", "eli@emulated-workspace.test"),
]
TEAMS = ["Support", "Sales", "Onboarding"]
LONG_TEXT = (
    "Senior Vice President of Global Strategic Partnerships and Enterprise Customer "
    "Success for the Europe, Middle East and Africa Region, responsible for "
) * 4

# Awkward people at fixed positions: (category, overrides for the generator).
AWKWARD: list[tuple[str, dict[str, Any]]] = [
    ("name_chinese", {"name": "王伟", "email": "wang.wei@example.com"}),
    ("name_japanese", {"name": "山田 太郎", "email": "taro.yamada@example.com"}),
    ("name_arabic", {"name": "محمد الأحمد", "email": "m.alahmad@example.com"}),
    ("name_cyrillic", {"name": "Анастасия Иванова", "email": "a.ivanova@example.com"}),
    ("name_greek", {"name": "Γιώργος Παπαδόπουλος", "email": "g.papadopoulos@example.com"}),
    ("name_accented", {"name": "José Núñez-García", "email": "jose.nunez@example.com"}),
    ("name_one_word", {"name": "Madonna", "email": "madonna@example.com"}),
    ("name_missing", {"name": None, "email": "no.name@example.com"}),
    ("email_missing", {"name": "Nomail Person", "email": None}),
    ("email_malformed", {"name": "Bad Email", "email": "not-an-email"}),
    ("email_malformed", {"name": "Half Email", "email": "jane.doe@"}),
    ("email_uppercase", {"name": "John Smith", "email": "JOHN.SMITH@EXAMPLE.COM"}),
    (
        "email_duplicate",
        {"name": "Shared Inbox Lead", "email": "shared.inbox@example.com", "role": "lead"},
    ),
    (
        "email_duplicate",
        {"name": "Shared Inbox User", "email": "shared.inbox@example.com", "role": "user"},
    ),
    (
        "long_values",
        {
            "name": "Maximiliana " + "Alexandrovna-" * 24 + "Featherstonehaugh",
            "job_title": LONG_TEXT,
            "email": "long.values@example.com",
        },
    ),
    ("many_tags", {"name": "Tagged Many", "email": "many.tags@example.com", "tags": 12}),
    ("many_companies", {"name": "Company Hopper", "email": "hopper@example.com", "companies": 12}),
    (
        "hand_to_sales_lead",
        {
            "name": "Quinn Qualified",
            "email": "quinn.qualified@example.com",
            "role": "lead",
            "qualification": "hand_to_sales",
            "company_size": 250,
            "job_title": "Head of Sales",
        },
    ),
    ("name_korean", {"name": "김민준", "email": "minjun.kim@example.com"}),
    ("name_devanagari", {"name": "राहुल शर्मा", "email": "rahul.sharma@example.com"}),
]


def _ascii(text: str) -> str:
    return "".join(ch for ch in text.lower() if "a" <= ch <= "z") or "person"


def seed_workspace(
    db: Database,
    contacts: int,
    conversations: int,
    seed: int = 1,
    companies: int | None = None,
    big_conversations: int | None = None,
) -> dict[str, Any]:
    """Replace the workspace with a generated one; answers the counts."""
    n_companies = companies if companies is not None else max(5, contacts // 25)
    n_big = (
        big_conversations if big_conversations is not None else (2 if conversations >= 10 else 0)
    )
    n_big = min(n_big, conversations)
    seeder = _Seeder(db, seed)
    with db.write() as conn:
        for table in DATA_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        for stmt in TABLES.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        seeder.reference_data(conn)
        company_rows = seeder.companies(n_companies)
        contact_docs = seeder.contacts(conn, contacts, company_rows)
        n_conversations = seeder.conversations(conn, conversations, n_big, contact_docs)
        n_segments, n_logs = seeder.segments_and_logs(conn)
        for stmt in INDEXES.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        db.set_meta("counter:part", seeder.part_counter, conn)
        db.set_meta("manifest", seeder.manifest, conn)
        db.set_meta(
            "seed",
            {
                "seed": seed,
                "contacts": contacts,
                "conversations": conversations,
                "companies": n_companies,
                "big_conversations": n_big,
                "seeded_at": seeder.now,
            },
            conn,
        )
    conn.execute("ANALYZE")
    # Move the freshly written pages out of the WAL: reads through a huge WAL are slow.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {
        "contacts": contacts,
        "conversations": n_conversations,
        "companies": n_companies,
        "big_conversations": n_big,
        "parts": seeder.part_counter - FIRST_PART_ID,
        "seed": seed,
        "tags": len(seeder.tag_ids),
        "admins": len(seeder.admin_ids),
        "teams": len(seeder.team_ids),
        "segments": n_segments,
        "activity_logs": n_logs,
    }


FIRST_PART_ID = 5_000_000_000
CONTACT_ATTRIBUTES = [
    ("contact", "name", "string", False),
    ("contact", "email", "string", False),
    ("contact", "phone", "string", False),
    ("contact", "role", "string", False),
    ("contact", "created_at", "date", False),
    ("contact", "updated_at", "date", False),
    ("contact", "last_seen_at", "date", False),
    ("contact", "company_size", "integer", True),
    ("contact", "job_title", "string", True),
    ("contact", "session_count", "integer", True),
    ("contact", "qualification", "string", True),
    ("company", "name", "string", False),
    ("company", "size", "integer", False),
    ("company", "industry", "string", False),
    ("company", "account_tier", "string", True),
]
COMPANY_WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Müller",
    "Soylent",
    "Nakatomi",
    "Цифра",
]
SUBJECTS = [
    "Pricing question",
    "Cannot log in",
    "Demo request",
    "Invoice",
    "Feature idea",
    "Bug report",
    "Hallo!",
    "こんにちは",
]


class _ContactRows:
    """The rows of the contacts and of what links to them, inserted together."""

    def __init__(self) -> None:
        self.contacts: list[tuple[Any, ...]] = []
        self.tags: list[tuple[str, str, int]] = []
        self.companies: list[tuple[str, str, int]] = []
        self.events: list[tuple[str, str, int, int, int]] = []
        self.company_users: dict[str, int] = {}


class _Seeder:
    """One workspace's generator: every random draw in the order of the calls below.

    ``seed_workspace`` calls the sections in a fixed order (reference data, companies,
    contacts, conversations, segments and logs): the draws, and so the seeded ids and values,
    depend on it.
    """

    def __init__(self, db: Database, seed: int) -> None:
        self.db = db
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = db.now()
        self.app_id = str(db.settings()["app_id_code"])
        self.ns = f"seed{seed}"
        self.start = self.now - SPAN_DAYS * DAY
        self.manifest: dict[str, list[Any]] = {}
        self.part_counter = FIRST_PART_ID
        self.admin_ids: list[str] = []
        self.team_ids: list[str] = []
        self.tag_ids: list[str] = []
        self.company_ids: list[str] = []
        self.sales_tag = ""

    def note(self, category: str, value: Any) -> None:
        """List ``value`` in the manifest under ``category``."""
        self.manifest.setdefault(category, []).append(value)

    def ts_between(self, lo: int, hi: int) -> int:
        """A random timestamp from ``lo`` to ``hi`` (``lo`` when the span is empty)."""
        return lo if hi <= lo else self.rng.randint(lo, hi)

    # ------------------------------------------------------------------ reference data
    def reference_data(self, conn: Any) -> None:
        """Admins, teams, tags and data attributes (no random draws)."""
        start = self.start
        self.admin_ids = admin_ids = [str(7_000_001 + i) for i in range(len(ADMINS))]
        self.team_ids = team_ids = [str(8_000_001 + i) for i in range(len(TEAMS))]
        team_members = {
            t: [int(a) for j, a in enumerate(admin_ids) if j % len(TEAMS) == k]
            for k, t in enumerate(team_ids)
        }
        conn.executemany(
            "INSERT INTO admins VALUES (?, ?)",
            [
                (
                    aid,
                    json.dumps(
                        model.admin(aid, name, email, [int(team_ids[j % len(TEAMS)])]),
                        ensure_ascii=False,
                    ),
                )
                for j, (aid, (name, email)) in enumerate(zip(admin_ids, ADMINS, strict=True))
            ],
        )
        conn.executemany(
            "INSERT INTO teams VALUES (?, ?)",
            [
                (tid, json.dumps(model.team(tid, name, team_members[tid])))
                for tid, name in zip(team_ids, TEAMS, strict=True)
            ],
        )
        self.tag_ids = tag_ids = [str(9001 + i) for i in range(len(TAG_NAMES))]
        conn.executemany(
            "INSERT INTO tags VALUES (?, ?, ?)",
            [(t, n, start) for t, n in zip(tag_ids, TAG_NAMES, strict=True)],
        )
        self.sales_tag = tag_ids[0]
        conn.executemany(
            "INSERT INTO data_attributes VALUES (?, ?, ?, ?)",
            [
                (
                    i + 1,
                    m,
                    name,
                    json.dumps(
                        model.data_attribute(
                            i + 1,
                            m,
                            name,
                            dtype,
                            start,
                            custom=custom,
                            options=["hand_to_sales", "nurture", "not_qualified"]
                            if name == "qualification"
                            else None,
                        )
                    ),
                )
                for i, (m, name, dtype, custom) in enumerate(CONTACT_ATTRIBUTES)
            ],
        )

    # ------------------------------------------------------------------ companies
    def companies(self, n_companies: int) -> list[dict[str, Any]]:
        """The companies' documents (inserted after the contacts, who count as their users)."""
        rng, ns, now = self.rng, self.ns, self.now
        company_rows = []
        for i in range(n_companies):
            cid = model.hex_id(f"{ns}-company", i)
            created = self.ts_between(self.start - 200 * DAY, now - DAY)
            word = rng.choice(COMPANY_WORDS)
            name = f"{word} {rng.choice(['GmbH', 'Inc', 'SAS', 'Ltd', 'KK', 'AG'])} {i}"
            doc = model.new_company(
                cid,
                f"{ns}-comp-{i}",
                self.app_id,
                name=name,
                created_at=created,
                size=rng.choice([1, 5, 12, 50, 120, 250, 800, 3000, 12000]),
                industry=rng.choice(INDUSTRIES),
                website=f"https://{_ascii(word)}{i}.example.com",
                monthly_spend=rng.randint(0, 5000),
                plan=rng.choice(PLANS),
                custom_attributes={"account_tier": rng.choice(["gold", "silver", "bronze"])},
            )
            doc["updated_at"] = self.ts_between(created, now)
            company_rows.append(doc)
            self.company_ids.append(cid)
        return company_rows

    # ------------------------------------------------------------------ contacts
    def contacts(
        self, conn: Any, contacts: int, company_rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Insert the contacts (the awkward ones first) and the companies; their documents."""
        rows = _ContactRows()
        contact_docs: list[dict[str, Any]] = []
        for i in range(contacts):
            doc = self.contact(i, rows)
            contact_docs.append(doc)
            rows.contacts.append(
                (
                    doc["id"],
                    doc["role"],
                    doc["email"],
                    doc["external_id"],
                    doc["created_at"],
                    doc["updated_at"],
                    0,
                    model_dump(doc),
                )
            )
        conn.executemany(
            "INSERT INTO contacts (id, role, email, external_id, created_at, updated_at, "
            "indexed_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows.contacts,
        )
        conn.executemany("INSERT INTO contact_tags VALUES (?, ?, ?)", rows.tags)
        conn.executemany("INSERT INTO contact_companies VALUES (?, ?, ?)", rows.companies)
        conn.executemany("INSERT INTO event_summaries VALUES (?, ?, ?, ?, ?)", rows.events)
        for doc in company_rows:
            doc["user_count"] = rows.company_users.get(doc["id"], 0)
        conn.executemany(
            "INSERT INTO companies (id, company_id, name, created_at, updated_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    d["id"],
                    d["company_id"],
                    d["name"],
                    d["created_at"],
                    d["updated_at"],
                    model_dump(d),
                )
                for d in company_rows
            ],
        )
        return contact_docs

    def contact(self, i: int, rows: _ContactRows) -> dict[str, Any]:
        """The ``i``-th contact's document; its tag, company and event rows go to ``rows``."""
        rng, now = self.rng, self.now
        cid = model.hex_id(f"{self.ns}-contact", i)
        spec: dict[str, Any] = {}
        if i < len(AWKWARD):
            category, spec = AWKWARD[i]
            self.note(category, cid)
        name = self._name(spec)
        email = self._email(i, spec, name)
        role = spec.get("role") or ("lead" if rng.random() < 0.55 else "user")
        created = self.ts_between(self.start, now - 60)
        updated = self.ts_between(created, now)
        qual = (
            spec.get("qualification", rng.choice(QUALIFICATIONS))
            if ("qualification" in spec or i >= len(AWKWARD))
            else None
        )
        custom = self._custom_attributes(spec, qual)
        country, region, city = rng.choice(COUNTRIES)
        phone = None if rng.random() < 0.4 else f"+49 30 {rng.randint(1000000, 9999999)}"
        doc = model.new_contact(
            cid,
            self.app_id,
            role=role,
            created_at=created,
            updated_at=updated,
            email=email,
            name=name,
            phone=phone,
            external_id=f"ext-{self.seed}-{i}" if role == "user" and rng.random() < 0.7 else None,
            owner_id=int(rng.choice(self.admin_ids)) if rng.random() < 0.3 else None,
            custom_attributes=custom,
            location={"country": country, "region": region, "city": city},
        )
        if role == "user":
            doc["signed_up_at"] = created
        if rng.random() < 0.85:
            doc["last_seen_at"] = self.ts_between(created, updated)
            doc["browser"] = rng.choice(["chrome", "firefox", "safari"])
            doc["os"] = rng.choice(["OS X 14.1", "Windows 11", "Linux", "iOS 17"])
        self._links(doc, spec, qual, rows)
        if qual == "hand_to_sales" and i < 200:
            self.note("qualification_hand_to_sales", cid)
        if i < 50:
            self.note("leads" if role == "lead" else "users", cid)
        return doc

    def _name(self, spec: dict[str, Any]) -> str | None:
        rng = self.rng
        roll = rng.random()
        if "name" in spec:
            return spec["name"]
        if roll < 0.03:
            return None
        if roll < 0.05:
            return rng.choice(ONE_WORD)
        if roll < 0.15:
            return rng.choice(SCRIPT_NAMES)
        return f"{rng.choice(LATIN_FIRST)} {rng.choice(LATIN_LAST)}"

    def _email(self, i: int, spec: dict[str, Any], name: str | None) -> str | None:
        if "email" in spec:
            return spec["email"]
        if self.rng.random() < 0.04:
            return None
        local = _ascii(name or "anon")
        return f"{local}.{i}@{self.rng.choice(DOMAINS)}"

    def _custom_attributes(self, spec: dict[str, Any], qual: str | None) -> dict[str, Any]:
        rng = self.rng
        custom: dict[str, Any] = {"session_count": rng.randint(0, 300)}
        size = spec.get("company_size") or (
            rng.choice([3, 10, 25, 60, 150, 400, 1200, 7000]) if rng.random() < 0.7 else None
        )
        if size is not None:
            custom["company_size"] = size
        title = spec.get("job_title") or (rng.choice(JOB_TITLES) if rng.random() < 0.8 else None)
        if title is not None:
            custom["job_title"] = title
        if qual is not None:
            custom["qualification"] = qual
        return custom

    def _links(
        self, doc: dict[str, Any], spec: dict[str, Any], qual: str | None, rows: _ContactRows
    ) -> None:
        """The contact's tags, companies and events."""
        rng, tag_ids = self.rng, self.tag_ids
        cid, created = doc["id"], doc["created_at"]
        n_tags = spec.get("tags", 0 if rng.random() < 0.7 else rng.randint(1, 3))
        chosen_tags = rng.sample(tag_ids, min(n_tags, len(tag_ids)))
        if qual == "hand_to_sales" and rng.random() < 0.5 and self.sales_tag not in chosen_tags:
            chosen_tags.append(self.sales_tag)
        for k, t in enumerate(chosen_tags):
            rows.tags.append((cid, t, created + k))
        n_comp = spec.get("companies")
        if n_comp is None:
            r = rng.random()
            n_comp = 1 if r < 0.65 else 2 if r < 0.75 else 0
        chosen_comps = rng.sample(self.company_ids, min(n_comp, len(self.company_ids)))
        for k, c in enumerate(chosen_comps):
            rows.companies.append((cid, c, k))
            rows.company_users[c] = rows.company_users.get(c, 0) + 1
        doc["tags"] = model.sublist(
            cid, "tags", [model.tag_ref(t) for t in chosen_tags], len(chosen_tags)
        )
        doc["companies"] = model.sublist(
            cid, "companies", [model.company_ref(c) for c in chosen_comps], len(chosen_comps)
        )
        for ev in rng.sample(EVENT_NAMES, rng.randint(0, 3)):
            first = self.ts_between(created, self.now)
            rows.events.append(
                (cid, ev, first, self.ts_between(first, self.now), rng.randint(1, 40))
            )

    # ------------------------------------------------------------------ conversations
    def conversations(
        self, conn: Any, conversations: int, n_big: int, contact_docs: list[dict[str, Any]]
    ) -> int:
        """Insert the conversations and their parts; how many conversations."""
        conv_rows = []
        part_rows: list[tuple[str, int, str]] = []
        admin_authors = [
            model.author("admin", aid, name, email)
            for aid, (name, email) in zip(self.admin_ids, ADMINS, strict=True)
        ]
        for j in range(conversations):
            if not contact_docs:
                break
            conv = self.conversation(j, j < n_big, contact_docs, admin_authors, part_rows)
            conv_rows.append(
                (
                    conv["id"],
                    conv["created_at"],
                    conv["updated_at"],
                    model_dump(model.list_item(conv)),
                )
            )
            if len(part_rows) > 200_000:
                conn.executemany("INSERT INTO parts VALUES (?, ?, ?)", part_rows)
                part_rows = []
        conn.executemany("INSERT INTO parts VALUES (?, ?, ?)", part_rows)
        conn.executemany(
            "INSERT INTO conversations (id, created_at, updated_at, data) VALUES (?, ?, ?, ?)",
            conv_rows,
        )
        return len(conv_rows)

    def conversation(
        self,
        j: int,
        big: bool,
        contact_docs: list[dict[str, Any]],
        admin_authors: list[dict[str, Any]],
        part_rows: list[tuple[str, int, str]],
    ) -> dict[str, Any]:
        """The ``j``-th conversation, its parts appended to ``part_rows``."""
        rng, now = self.rng, self.now
        conv_id = str(100_000_001 + j)
        contact = contact_docs[rng.randrange(len(contact_docs))]
        created = self.ts_between(max(self.start, contact["created_at"]), now - 3600)
        subject = rng.choice(SUBJECTS)
        admin_id = rng.choice(self.admin_ids)
        conv = model.new_conversation(
            conv_id,
            created_at=created,
            contact=contact,
            subject=subject,
            body=f"<p>{subject}: <b>please</b> help &amp; thanks</p>",
            admin_assignee_id=int(admin_id) if rng.random() < 0.7 else None,
            team_assignee_id=int(rng.choice(self.team_ids)) if rng.random() < 0.5 else None,
        )
        if big:
            n_parts = 600 + 137 * j
            step_hi = 120
            self.note("big_conversations", conv_id)
        else:
            n_parts = rng.randint(1, 20)
            step_hi = 6 * 3600
        final = rng.random()
        final_state = "closed" if final < 0.5 else "open" if final < 0.85 else "snoozed"
        ts = created
        for k in range(n_parts):
            ts = min(now, ts + rng.randint(30, step_hi))
            kind = self._part_kind(k, n_parts, final_state, conv, subject, admin_authors)
            self.part_counter += 1
            part = model.new_part(
                str(self.part_counter),
                part_type=kind[0],
                body=kind[2],
                created_at=ts,
                author_doc=kind[1],
                assigned_to={"type": "admin", "id": admin_id} if kind[0] == "assignment" else None,
            )
            model.apply_part_to_conversation(conv, part)
            part_rows.append((conv_id, k + 1, model_dump(part)))
        self._finish(conv, final_state, ts, admin_id, contact)
        return conv

    def _part_kind(
        self,
        k: int,
        n_parts: int,
        final_state: str,
        conv: dict[str, Any],
        subject: str,
        admin_authors: list[dict[str, Any]],
    ) -> tuple[str, dict[str, Any], str | None]:
        """The ``k``-th part's type, author and body."""
        rng = self.rng
        last = k == n_parts - 1
        if last and final_state == "closed":
            return "close", rng.choice(admin_authors), None
        if last and final_state == "snoozed":
            return "snoozed", rng.choice(admin_authors), None
        if k == 0 and conv["admin_assignee_id"] and n_parts > 2:
            return "assignment", rng.choice(admin_authors), None
        if k % 2 == 0:
            body = f"<p>Reply {k + 1} from the customer &mdash; {subject}</p>"
            return "comment", conv["source"]["author"], body
        ptype, auth = (
            rng.choice(["comment", "comment", "note"]),
            rng.choice(admin_authors),
        )
        return (
            ptype,
            auth,
            f'<p>Answer {k + 1}: see <a href="https://help.example.com">docs</a></p>',
        )

    def _finish(
        self,
        conv: dict[str, Any],
        final_state: str,
        ts: int,
        admin_id: str,
        contact: dict[str, Any],
    ) -> None:
        """Snooze, tag and rate the conversation as its final state says."""
        rng = self.rng
        if final_state == "snoozed":
            conv["snoozed_until"] = self.now + rng.randint(3600, 5 * DAY)
        if rng.random() < 0.2:
            for t in rng.sample(self.tag_ids, rng.randint(1, 2)):
                tg = model.tag(t, TAG_NAMES[self.tag_ids.index(t)], applied_at=ts)
                tg["applied_by"] = {"type": "admin", "id": admin_id}
                conv["tags"]["tags"].append(tg)
        if final_state == "closed" and rng.random() < 0.3:
            conv["conversation_rating"] = {
                "rating": rng.randint(1, 5),
                "remark": "Thanks!",
                "created_at": ts,
                "updated_at": ts,
                "contact": {
                    "type": "contact",
                    "id": contact["id"],
                    "external_id": contact["external_id"],
                },
                "teammate": {"type": "admin", "id": admin_id},
            }
        conv["read"] = final_state == "closed"

    # ------------------------------------------------------------------ segments and logs
    def segments_and_logs(self, conn: Any) -> tuple[int, int]:
        """Insert the segments and activity logs; how many of each.

        They draw from their own generator, so adding them left every contact, company and
        conversation of a seed as it was.
        """
        side = random.Random(f"segments-and-logs-{self.seed}")
        segment_rows = seed_segments(self.ns, self.start, self.sales_tag)
        conn.executemany("INSERT INTO segments VALUES (?, ?, ?, ?)", segment_rows)
        log_rows = seed_activity_logs(
            side, self.admin_ids, self.start, self.now, str(self.db.settings()["app_name"])
        )
        conn.executemany(
            "INSERT INTO activity_logs (id, created_at, data) VALUES (?, ?, ?)", log_rows
        )
        self.manifest["admins"] = self.admin_ids
        self.manifest["teams"] = self.team_ids
        self.manifest["tag_sales_qualified"] = [self.sales_tag]
        self.manifest["segments"] = [r[0] for r in segment_rows if r[1] == "contact"]
        self.manifest["company_segments"] = [r[0] for r in segment_rows if r[1] == "company"]
        return len(segment_rows), len(log_rows)


# (name, person_type, kind, rule). Contact rules are search queries (`POST /contacts/search`
# syntax, evaluated when asked); company rules are one {field, operator, value} on the company.
SEGMENTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("All leads", "contact", "contact", {"field": "role", "operator": "=", "value": "lead"}),
    ("All users", "user", "contact", {"field": "role", "operator": "=", "value": "user"}),
    (
        "Leads ready for sales",
        "contact",
        "contact",
        {
            "operator": "AND",
            "value": [
                {"field": "role", "operator": "=", "value": "lead"},
                {
                    "field": "custom_attributes.qualification",
                    "operator": "=",
                    "value": "hand_to_sales",
                },
            ],
        },
    ),
    (
        "Tagged sales-qualified",
        "user",
        "contact",
        {"field": "tag_id", "operator": "=", "value": "{sales_tag}"},
    ),
    (
        "Enterprise plan",
        "user",
        "company",
        {"field": "plan.name", "operator": "=", "value": "enterprise"},
    ),
    ("Large companies", "user", "company", {"field": "size", "operator": ">=", "value": 800}),
]


def seed_segments(ns: str, start: int, sales_tag: str) -> list[tuple[str, str, str, str]]:
    """Rows (id, kind, rule, data) of the seeded segments; members are computed when asked."""
    rows = []
    for k, (name, person_type, kind, rule) in enumerate(SEGMENTS):
        seg_id = model.hex_id(f"{ns}-segment", k)
        rule_text = json.dumps(rule).replace("{sales_tag}", sales_tag)
        created = start - (len(SEGMENTS) - k) * DAY
        doc = model.segment(seg_id, name, person_type, created, created + 3600)
        rows.append((seg_id, kind, rule_text, model_dump(doc)))
    return rows


AWAY_REASONS = ["☕ On a break", "🏝 On vacation", "🤒 Out sick", "🏠 Done for the day"]


def seed_activity_logs(
    rng: random.Random, admin_ids: list[str], start: int, now: int, app_name: str
) -> list[tuple[str, int, str]]:
    """Rows (id, created_at, data) of 30 admin activities spread over the seeded span."""
    admins = [(aid, name, email) for aid, (name, email) in zip(admin_ids, ADMINS, strict=True)]
    rows = []
    stamps = sorted(rng.randint(start, now - 60) for _ in range(30))
    for k, created in enumerate(stamps):
        aid, name, email = admins[rng.randrange(len(admins))]
        kind = rng.choice(
            [
                "admin_login_success",
                "admin_login_success",
                "admin_logout",
                "admin_away_mode_change",
                "admin_conversation_assignment_limit_change",
                "app_name_change",
            ]
        )
        metadata: dict[str, Any] | None
        if kind == "admin_login_success":
            metadata = {"sign_in_method": rng.choice(["email_password", "google_sso"])}
            text = f"{name} successfully logged in."
        elif kind == "admin_logout":
            metadata = None
            text = f"{name} logged out."
        elif kind == "admin_away_mode_change":
            away = rng.random() < 0.6
            metadata = {
                "away_mode": away,
                "away_status_reason": rng.choice(AWAY_REASONS) if away else None,
                "reassign_conversations": rng.random() < 0.5,
                "source": f"admin update from web - Admin id: {aid}",
                "auto_changed": "false",
                "update_by": int(aid),
                "update_by_name": name,
            }
            text = f"{name} changed their status to {'away' if away else 'active'}."
        elif kind == "admin_conversation_assignment_limit_change":
            limit = rng.choice([5, 10, 15, 25])
            metadata = {"conversation_assignment_limit": limit}
            text = f"{name} changed the conversation assignment limit to {limit}."
        else:
            metadata = {"before": {"name": f"{app_name} (draft)"}, "after": {"name": app_name}}
            text = f"{name} changed your app name from {app_name} (draft) to {app_name}."
        log_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        doc = model.activity_log(
            log_id,
            {"id": aid, "email": email},
            f"198.51.100.{k + 10}",
            kind,
            text,
            created,
            metadata,
        )
        rows.append((log_id, created, model_dump(doc)))
    return rows


def model_dump(doc: dict[str, Any]) -> str:
    """A document as its stored JSON."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
