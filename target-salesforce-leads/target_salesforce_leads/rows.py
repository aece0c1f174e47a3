"""Typed rows and outcomes of a batch: what the sink plans, routes and writes."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from target_salesforce_leads.validation import Rejection

#: Pending keys of records without an external id start with this (they are rejected).
MISSING = "\x00missing:"


@dataclass(slots=True)
class Item:
    """One surviving record of a batch; its canonical JSON stays in the batch's spool."""

    line: int  # the spool handle of its canonical JSON
    ext: str
    digest: str
    done: bool = False
    route_sobject: str = ""
    plain: bool = False  # bulk_plain(line): no value needs Bulk CSV's per-value check


class Route(t.NamedTuple):
    """Where a record goes: which sObject, by which operation and key."""

    sobject: str
    operation: str  # upsert | update
    key_field: str
    created: bool | None  # known outcome for dry runs; None when unknown


class Routed(t.NamedTuple):
    """A routing decision: the route and the fields to send, or why the record cannot go."""

    route: Route | None
    record: dict[str, t.Any]
    rejection: Rejection | None

    @classmethod
    def refused(cls, record: dict[str, t.Any], rejection: Rejection) -> Routed:
        """The record goes nowhere, for ``rejection``."""
        return cls(None, record, rejection)


class RefKey(t.NamedTuple):
    """A relationship value's shape: ``{"Who": {"attributes": {"type": T}, FIELD: value}}``."""

    relationship: str
    field: str
    type: str | None


class Row(t.NamedTuple):
    """A routed record: its item's index, where its JSON is, and its known outcome."""

    idx: int
    ref: int  # a routed-spool handle, or a batch-spool handle with spool.SAME set
    created: bool | None


class GroupKey(t.NamedTuple):
    """Records written together: same sObject, operation and key; Bulk-safe or not."""

    sobject: str
    operation: str
    key_field: str
    rest_only: bool


class Group(t.NamedTuple):
    """One write: the rows going to one sObject by one operation and key."""

    sobject: str
    operation: str
    key_field: str
    rows: list[Row]


class Result(t.NamedTuple):
    """The outcome Salesforce gave one record (``ok``) or why it was not written."""

    idx: int
    ok: bool
    created: bool
    record_id: str | None
    code: str
    message: str


class TakenOver(t.NamedTuple):
    """A Lead another record of the batch took over by email (the old owner loses it)."""

    old: str
    lead_id: str
    email: str
    new: str


@dataclass
class Plan:
    """What pass 1 found: the records to route and what the look-ups need."""

    items: list[Item] = field(default_factory=list)
    references: dict[RefKey, set[str]] = field(default_factory=dict)
    email_of: dict[str, str] = field(default_factory=dict)  # lower external id -> lower email
    unknown_create: list[str] = field(default_factory=list)  # may be inserts: look them up


@dataclass
class Routing:
    """What pass 2 made: the rows per write and the columns each write carries."""

    groups: dict[GroupKey, list[Row]] = field(default_factory=dict)
    columns: dict[GroupKey, set[str]] = field(default_factory=dict)

    def add(self, key: GroupKey, row: Row, record: t.Mapping[str, t.Any]) -> None:
        """Put ``row`` (whose fields are ``record``'s) in the write ``key``."""
        self.groups.setdefault(key, []).append(row)
        self.columns.setdefault(key, set()).update(record)
