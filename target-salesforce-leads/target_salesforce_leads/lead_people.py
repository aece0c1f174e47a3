"""The Leads and Contacts a batch of Lead records may be: looked up by external id or email.

One Composite call when every query fits in one (at most 5); else per object one query, a paged
scan when cheaper, or (a big object) chunked queries by external id and then by email only for
the people not found that way (in steady state most records are updates).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from salesforce_client.client import COMPOSITE_HEAVY
from salesforce_client.errors import SalesforceError

from target_salesforce_leads.lookups import merge_results, plan_queries, scan_if_cheaper
from target_salesforce_leads.validation import ObjectSchema

if t.TYPE_CHECKING:
    from target_salesforce_leads.connector import SalesforceConnector

Records = list[dict[str, t.Any]]


def _index(records: Records, key: str) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    by_ext: dict[str, dict[str, t.Any]] = {}
    by_email: dict[str, list[dict[str, t.Any]]] = {}
    for rec in records:
        if rec.get(key):
            by_ext[str(rec[key]).lower()] = rec
        if rec.get("Email"):
            by_email.setdefault(str(rec["Email"]).lower(), []).append(rec)
    return by_ext, by_email


@dataclass
class People:
    """The batch's Leads and Contacts, by lower-cased external id and by lower-cased email."""

    key: str
    leads_by_ext: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    leads_by_email: dict[str, list[dict[str, t.Any]]] = field(default_factory=dict)
    contacts_by_ext: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    contacts_by_email: dict[str, list[dict[str, t.Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, key: str, leads: Records, contacts: Records) -> People:
        """Index ``leads`` and ``contacts`` by ``key`` (the external id field) and Email."""
        leads_by_ext, leads_by_email = _index(leads, key)
        contacts_by_ext, contacts_by_email = _index(contacts, key)
        return cls(key, leads_by_ext, leads_by_email, contacts_by_ext, contacts_by_email)


class PeopleLookup:
    """Looks up one batch's people (``exts`` external ids, ``email_of`` ext -> email)."""

    def __init__(self, connector: SalesforceConnector, key: str, schema: ObjectSchema) -> None:
        """``schema`` is the Lead describe; ``key`` the external id field."""
        self.connector = connector
        self.key = key
        lead_fields = [key, "Email", "IsConverted", "ConvertedContactId"]
        self.lead_fields = [f for f in lead_fields if schema.has_field(f)]
        # Query plans by (sobject, fields, criteria fields): the values are this batch's.
        self._plans: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[str]] = {}

    def people(self, exts: list[str], email_of: dict[str, str]) -> People:
        """The Leads and Contacts holding one of ``exts`` or one of ``email_of``'s emails."""
        emails = set(email_of.values())
        together = self._together(exts, emails)
        if together is not None:
            return People.of(self.key, *together)
        leads, leads_complete = self._stage("Lead", self.lead_fields, exts, emails)
        try:
            contacts, contacts_complete = self._stage("Contact", ["Email", self.key], exts, emails)
        except SalesforceError as exc:
            # Contact lacks the external id field: match Contacts by email only.
            if exc.code != "INVALID_FIELD":
                raise
            contacts, contacts_complete = self._stage("Contact", ["Email"], [], emails)
        if not (leads_complete and contacts_complete):
            found = {str(r.get(self.key)).lower() for r in (*leads, *contacts) if r.get(self.key)}
            rest = {e for x, e in email_of.items() if x not in found}
            if rest and not leads_complete:
                leads += self._more("Lead", self.lead_fields, rest, leads)
            if rest and not contacts_complete:
                contacts += self._more("Contact", ["Email"], rest, contacts)
        return People.of(self.key, leads, contacts)

    def _more(self, sobject: str, fields: list[str], emails: set[str], have: Records) -> Records:
        """The records of ``sobject`` holding one of ``emails``, other than those in ``have``."""
        seen = {r["Id"] for r in have}
        return [r for r in self._find(sobject, fields, {"Email": emails}) if r["Id"] not in seen]

    def _together(self, exts: list[str], emails: set[str]) -> tuple[Records, Records] | None:
        """Leads and Contacts by external id or email in ONE Composite call.

        When their queries fit in one (at most 5); else None, for the staged lookups.
        """
        client = self.connector.client
        if not client.use_composite:
            return None
        both: dict[str, t.Iterable[str]] = {"Email": emails, self.key: exts}
        lead_q = self._plan("Lead", self.lead_fields, both)
        contact_q = self._plan("Contact", ["Email", self.key], both)
        if not lead_q or not contact_q or len(lead_q) + len(contact_q) > COMPOSITE_HEAVY:
            return None
        results = client.query_many(lead_q + contact_q)
        leads = merge_results(results[: len(lead_q)])
        try:
            contacts = merge_results(results[len(lead_q) :])
        except SalesforceError as exc:
            # Contact lacks the external id field: match Contacts by email only.
            if exc.code != "INVALID_FIELD":
                raise
            contacts, _ = self._stage("Contact", ["Email"], [], emails)
        return leads, contacts

    def _plan(
        self, sobject: str, fields: list[str], criteria: dict[str, t.Iterable[str]]
    ) -> list[str]:
        """``plan_queries`` for this batch's values, worked out once per shape."""
        key = (sobject, tuple(fields), tuple(criteria))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_queries(
                sobject, fields, criteria, self.connector.soql_max_length
            )
        return plan

    def _find(
        self, sobject: str, fields: list[str], criteria: dict[str, t.Iterable[str]]
    ) -> Records:
        return self.connector.find(sobject, fields, criteria, allow_scan=False)

    def _stage(
        self, sobject: str, fields: list[str], exts: list[str], emails: set[str]
    ) -> tuple[Records, bool]:
        """Records matching by external id or email, and whether email was covered too.

        One query when both fit; else a paged scan when cheaper; else (a big object) chunked
        queries by external id only, leaving emails to a second, smaller stage.
        """
        client = self.connector.client
        both: dict[str, t.Iterable[str]] = {"Email": emails}
        if exts:
            both[self.key] = exts
        calls = client.composite_calls(len(self._plan(sobject, fields, both)))
        if calls <= 1:
            return self._find(sobject, fields, both), True
        scanned = scan_if_cheaper(client, sobject, fields, both, calls)
        if scanned is not None:
            return scanned, True
        if not exts:
            return self._find(sobject, fields, both), True
        return self._find(sobject, fields, {self.key: exts}), False
