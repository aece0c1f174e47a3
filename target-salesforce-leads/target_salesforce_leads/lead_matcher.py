"""Lead/Contact routing: where a Lead record goes, one Lead per person and per email.

A record goes to the Lead holding its external id (or the Contact that Lead was converted to),
else to the Contact holding its external id or email, else adopts an open Lead of its email
without an external id, else creates a Lead; a second Lead for an email is refused. Decisions
are made from the batch's :class:`~target_salesforce_leads.lead_people.People` and what
earlier records of the batch claimed.
"""

from __future__ import annotations

import typing as t

from target_salesforce_leads.lead_people import People
from target_salesforce_leads.rows import Route, Routed, TakenOver
from target_salesforce_leads.validation import ObjectSchema, Rejection, missing_on_create

Record = dict[str, t.Any]


def missing_rejection(rec: Record, schema: ObjectSchema) -> Rejection | None:
    """REQUIRED_FIELD_MISSING for a record about to be inserted without a required field."""
    missing = missing_on_create(rec, schema)
    if missing:
        return Rejection(
            "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]"
        )
    return None


def taken_over(key: str, lead_id: str, email: str, new: str) -> Rejection:
    """LEAD_TAKEN_OVER: the Lead of this person now belongs to ``key`` = ``new``."""
    return Rejection(
        "LEAD_TAKEN_OVER",
        f"Lead {lead_id} with the email {email} now belongs to {key} = {new}, a record the "
        "source marks as holding that email (e.g. Intercom merged this person into that one). "
        "One Lead per email, so this person has none of its own; if they are two people, give "
        "one of them another email in the source.",
    )


class LeadMatcher:
    """Decides where each Lead record of a batch goes: its Lead, a Contact, an adopted Lead, new."""

    def __init__(
        self,
        people: People,
        lead_schema: ObjectSchema,
        contact_schema: t.Callable[[], ObjectSchema | None],
        batch_exts: t.Iterable[str],
    ) -> None:
        """Route against ``people``; ``batch_exts`` are the batch's external ids.

        ``contact_schema`` gives the Contact describe when a record first goes to a Contact.
        """
        self.people = people
        self.key = people.key
        self.lead_schema = lead_schema
        self.contact_schema = contact_schema
        self.claimed: dict[str, str] = {}  # Lead or Contact Id -> lower external id using it
        self.new_emails: dict[str, str] = {}  # email -> external id creating a Lead with it
        self._batch_exts = {x.lower() for x in batch_exts}
        # Leads taken over from a person not in this batch.
        self.taken_over: list[TakenOver] = []
        # Records of this batch whose Lead another record of it takes over (rejected).
        self.taken_in_batch: list[str] = []

    def route(self, rec: Record, ext: str) -> Routed:
        """Where ``rec`` (external id ``ext``) goes, with the fields to send, or why not."""
        e = ext.lower()
        people = self.people
        lead = people.leads_by_ext.get(e)
        if lead is not None:
            return self._own_lead(rec, ext, lead)
        contact = people.contacts_by_ext.get(e)
        if contact is not None:
            return self._to_contact(rec, contact["Id"], ext, f"holding {self.key} = {ext}")
        email = str(rec.get("Email") or "").lower()
        if email:
            routed = self._by_email(rec, ext, email)
            if routed is not None:
                return routed
        rej = missing_rejection(rec, self.lead_schema)
        if rej:
            return Routed.refused(rec, rej)
        if email:
            first = self.new_emails.setdefault(email, e)
            if first != e:
                return Routed.refused(
                    rec,
                    Rejection(
                        "DUPLICATES_DETECTED",
                        f"The record with {self.key} = {first} in this batch creates a Lead "
                        f"with the email {email}; a second Lead would be a duplicate. Merge the "
                        "two people in the source.",
                    ),
                )
        return Routed(Route("Lead", "upsert", self.key, True), rec, None)

    def _by_email(self, rec: Record, ext: str, email: str) -> Routed | None:
        """A record without a Lead or Contact of its own, by its email; None: a new Lead."""
        e = ext.lower()
        contacts = self.people.contacts_by_email.get(email, [])
        for c in contacts:
            other = c.get(self.key)
            if not other or str(other).lower() == e:
                return self._to_contact(rec, c["Id"], ext, f"email {email}")
        candidates = self.people.leads_by_email.get(email, [])
        open_leads = [x for x in candidates if not x.get("IsConverted")]
        routed = self._owned_elsewhere(rec, ext, email, open_leads) or self._adopt(
            rec, e, open_leads
        )
        if routed is not None:
            return routed
        for lead in candidates:
            if lead.get("IsConverted") and lead.get("ConvertedContactId"):
                return self._to_contact(
                    rec,
                    lead["ConvertedContactId"],
                    ext,
                    f"converted Lead {lead['Id']} with email {email}",
                )
        if contacts:  # each holds another person's external id
            c = contacts[0]
            return Routed.refused(
                rec,
                Rejection(
                    "DUPLICATES_DETECTED",
                    f"Contact {c['Id']} already holds the email {email} for {self.key} = "
                    f"{c.get(self.key)}; a Lead would duplicate that person. Merge the two "
                    "people in the source or clear the Contact's external id.",
                ),
            )
        return None

    def _owned_elsewhere(
        self, rec: Record, ext: str, email: str, open_leads: list[Record]
    ) -> Routed | None:
        """The first open Lead of the email holding another external id.

        Taken over when the source says this record holds the email (``_adopt_by_email``), else a
        duplicate.
        """
        e = ext.lower()
        for lead in open_leads:
            other = lead.get(self.key)
            if not other or str(other).lower() == e:
                continue
            owner = self.claimed.get(lead["Id"])
            if rec.get("_adopt_by_email") is True and owner in (None, e):
                # The source says this record holds its email (e.g. Intercom merged the other
                # person into this one): take that Lead over.
                self.claimed[lead["Id"]] = e
                if str(other).lower() not in self._batch_exts:
                    self.taken_over.append(TakenOver(str(other), lead["Id"], email, ext))
                return Routed(Route("Lead", "update", "Id", False), {**rec, "Id": lead["Id"]}, None)
            return Routed.refused(
                rec,
                Rejection(
                    "DUPLICATES_DETECTED",
                    f"Lead {lead['Id']} already holds the email {email} for {self.key} = "
                    f"{other}; a second Lead would be a duplicate. Merge the two people in "
                    "the source, or clear that Lead's external id to let this record adopt it.",
                ),
            )
        return None

    def _adopt(self, rec: Record, e: str, open_leads: list[Record]) -> Routed | None:
        """Adopt the first open Lead of the email that has no external id.

        The first open Lead of the email without an external id (and not claimed by another record
        of the batch) is adopted.
        """
        for lead in open_leads:
            if lead.get(self.key):
                continue
            owner = self.claimed.get(lead["Id"])
            if owner is not None and owner != e:
                continue
            self.claimed[lead["Id"]] = e
            return Routed(Route("Lead", "update", "Id", False), {**rec, "Id": lead["Id"]}, None)
        return None

    def _to_contact(self, rec: Record, contact_id: str, ext: str, why: str) -> Routed:
        cs = self.contact_schema()
        if cs is None:
            return Routed.refused(
                rec, Rejection("INVALID_TYPE", "The Contact object is not available.")
            )
        owner = self.claimed.get(contact_id)
        if owner is not None and owner != ext.lower():
            return Routed.refused(
                rec,
                Rejection(
                    "DUPLICATE_VALUE",
                    f"Contact {contact_id} ({why}) is already updated in this batch by the "
                    f"record with {self.key} = {owner}; two people cannot share one Contact.",
                ),
            )
        self.claimed[contact_id] = ext.lower()
        fields = {
            k: v
            for k, v in rec.items()
            if cs.has_field(k) and cs.fields[k].get("updateable") and k != "Id"
        }
        fields["Id"] = contact_id
        return Routed(Route("Contact", "update", "Id", False), fields, None)

    def _own_lead(self, rec: Record, ext: str, lead: Record) -> Routed:
        """Route a record to the Lead holding its external id (or that Lead's Contact)."""
        e = ext.lower()
        if lead.get("IsConverted"):
            if lead.get("ConvertedContactId"):
                return self._to_contact(
                    rec, lead["ConvertedContactId"], ext, f"converted from Lead {lead['Id']}"
                )
            return Routed.refused(
                rec,
                Rejection(
                    "CANNOT_UPDATE_CONVERTED_LEAD",
                    f"Lead {lead['Id']} was converted without a Contact; update it in Salesforce.",
                ),
            )
        owner = self.claimed.get(lead["Id"])
        if owner is not None and owner != e:
            # A record earlier in this batch takes this Lead over by email: upserting this one
            # by its external id would find no Lead (it now holds the other's) and create a
            # second Lead with the email.
            self.taken_in_batch.append(e)
            email = str(lead.get("Email") or rec.get("Email") or "")
            return Routed.refused(rec, taken_over(self.key, lead["Id"], email, owner))
        self.claimed[lead["Id"]] = e
        return Routed(Route("Lead", "upsert", self.key, False), rec, None)
