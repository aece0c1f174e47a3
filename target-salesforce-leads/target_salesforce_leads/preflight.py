"""Preflight: check that a run can work before sending it records.

Run with ``target-salesforce-leads --config config.json --preflight``. It logs in, reads the
API limits, and checks each configured sObject and its external id field, printing what to create
in Salesforce Setup for anything missing. The exit code is non-zero when a problem was found.
"""

from __future__ import annotations

import typing as t

from target_salesforce_leads.auth import AuthError
from target_salesforce_leads.client import RetriesExhausted, SalesforceError
from target_salesforce_leads.validation import ObjectSchema

if t.TYPE_CHECKING:
    from target_salesforce_leads.target import TargetSalesforceLeads

# What the Intercom project sends by default; other projects list theirs in stream_settings.
DEFAULT_OBJECTS = {"Lead": "Intercom_Contact_ID__c", "Task": "Intercom_Conversation_ID__c"}


def _objects(config: t.Mapping[str, t.Any]) -> dict[str, str]:
    settings = config.get("stream_settings") or {}
    if not settings:
        return dict(DEFAULT_OBJECTS)
    objects: dict[str, str] = {}
    for stream, s in settings.items():
        objects[str(s.get("sobject") or stream)] = str(s.get("external_id_field") or "")
    return objects


def run_preflight(target: TargetSalesforceLeads, out: t.Callable[[str], None] = print) -> int:
    """Run every check, print the findings, and return the exit code (0: ready)."""
    problems: list[str] = []
    client = target.client
    try:
        client.auth.access_token()
        out(f"OK    logged in with the {client.auth.grant} grant at {client.auth.instance_url}")
        limits = client.limits()
    except AuthError as exc:
        out(f"FAIL  login: {exc}")
        return 2
    except (SalesforceError, RetriesExhausted) as exc:
        out(f"FAIL  API access: {exc}. Check that the user has the 'API Enabled' permission "
            "and the Connected App the 'api' scope.")
        return 2
    daily = limits.get("DailyApiRequests") or {}
    budget = client.budget
    out(f"OK    API access; daily requests remaining {daily.get('Remaining')} of "
        f"{daily.get('Max')}; this run may spend {budget.left()} (api_budget="
        f"{budget.share:g})")
    if not budget.left():
        problems.append("API budget")
        out("FAIL  no API budget left for a run; raise api_budget or wait for the daily limit "
            "to reset.")
    for sobject, ext in _objects(target.config).items():
        schema = target.object_schema(sobject)
        if not isinstance(schema, ObjectSchema):
            problems.append(sobject)
            out(f"FAIL  sObject {sobject}: {schema.message}")
            out(f"      Setup > Object Manager > Create > Custom Object, or correct "
                f"stream_settings (sobject) if {sobject} is a typo.")
            continue
        out(f"OK    sObject {sobject} exists")
        if not ext:
            out(f"WARN  {sobject}: no external_id_field configured; the stream's single key "
                "property is used.")
            continue
        f = schema.fields.get(ext)
        where = ("Activity" if sobject in ("Task", "Event") else sobject)
        create_hint = (f"Setup > Object Manager > {where} > Fields & Relationships > New: "
                       f"Text(255) named {ext.removesuffix('__c')} (API name {ext}), tick "
                       "'Unique' and 'External ID', and give the integration user edit access.")
        if f is None:
            problems.append(f"{sobject}.{ext}")
            out(f"FAIL  {sobject}.{ext} does not exist. {create_hint}")
            continue
        if not f.get("externalId"):
            problems.append(f"{sobject}.{ext}")
            out(f"FAIL  {sobject}.{ext} is not marked External ID. Setup > Object Manager > "
                f"{where} > Fields & Relationships > {ext} > Edit: tick 'External ID' and "
                "'Unique'.")
            continue
        if not f.get("unique"):
            out(f"WARN  {sobject}.{ext} is External ID but not Unique; upserts fail with "
                "DUPLICATE_EXTERNAL_ID if two records share a value. Tick 'Unique' on the field.")
        if not (f.get("createable") and f.get("updateable")):
            problems.append(f"{sobject}.{ext}")
            out(f"FAIL  {sobject}.{ext} is not writable by this user; grant edit access in "
                "its field-level security.")
            continue
        out(f"OK    {sobject}.{ext} is an External ID")
    if "Lead" in _objects(target.config) and target.config.get("match_contacts_by_email", True):
        contact = target.object_schema("Contact")
        ext = _objects(target.config)["Lead"]
        if isinstance(contact, ObjectSchema) and ext and not contact.has_field(ext):
            out(f"WARN  Contact has no {ext}; Leads matched to Contacts cannot carry the "
                "Intercom id, so Tasks will not link to them. Create the same field on Contact.")
    out(f"{len(problems)} problem(s); {client.api_calls} API calls spent by this check.")
    return 1 if problems else 0
