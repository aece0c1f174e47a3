"""Preflight: check that a run can work before sending it records.

Run with ``target-salesforce-leads --config config.json --preflight``. It logs in, reads the API
limits, and checks every sObject and every field the streams write, always from a FRESH describe
(the between-runs describe cache is bypassed and refreshed), printing the Setup step that fixes
each problem.

Which fields: the streams' Singer SCHEMA messages, read from ``--input FILE`` or from standard
input when it is not a terminal (``map-intercom-salesforce --schemas | target-salesforce-leads
--config c.json --preflight``); other messages on that input are skipped. Without them only the
sObjects and external id fields of ``stream_settings`` (or Lead and Task with their Intercom
external ids) are checked, and a NOTE line says how to give the field list.

Output: one line per finding, starting with ``OK``, ``FAIL``, ``WARN`` or ``NOTE``; each FAIL or
WARN about a field is followed by an indented ``fix:`` line; the last line starts with ``READY``
or ``NOT READY``. Exit code 0: ready (warnings allowed); 2: not ready (credentials, access,
budget or the org's objects and fields); 1: Salesforce's service failed, so readiness is unknown.
"""

from __future__ import annotations

import json
import os
import select
import sys
import typing as t

from salesforce_client.auth import AuthError
from salesforce_client.budget import BudgetExhausted
from salesforce_client.client import SalesforceClient
from salesforce_client.errors import RetriesExhausted, SalesforceError

from target_salesforce_leads.checks import (
    Problem,
    check_stream,
    missing_object,
    properties_of,
    stream_target,
)
from target_salesforce_leads.validation import ObjectSchema

if t.TYPE_CHECKING:
    from target_salesforce_leads.connector import SalesforceConnector

# What the Intercom project sends by default; other projects list theirs in stream_settings.
DEFAULT_OBJECTS = {"Lead": "Intercom_Contact_ID__c", "Task": "Intercom_Conversation_ID__c"}
# How long to wait for the first byte on a piped standard input that stays silent (an inherited,
# never-closed pipe must not hang the check).
STDIN_WAIT_SECONDS = float(os.environ.get("TARGET_SALESFORCE_LEADS_PREFLIGHT_STDIN_WAIT", "30"))

READY, NOT_READY, UNKNOWN = 0, 2, 1
_HOW_TO_GIVE_FIELDS = (
    "pipe the streams' SCHEMA messages in, e.g. `map-intercom-salesforce --schemas | "
    "target-salesforce-leads --config config.json --preflight`, or pass --input FILE holding "
    "them"
)


class Stream(t.NamedTuple):
    """One stream to check: where it writes and, when known, its JSON schema properties."""

    name: str
    sobject: str
    key: str | None
    properties: dict[str, t.Any] | None


def read_schemas(lines: t.Iterable[str]) -> dict[str, tuple[dict[str, t.Any], list[str]]]:
    """The SCHEMA messages among Singer messages: ``{stream: (schema, key_properties)}``.

    Other messages (RECORD, STATE, ...) and lines that are not JSON are skipped; a stream's last
    SCHEMA wins, as in a run.
    """
    schemas: dict[str, tuple[dict[str, t.Any], list[str]]] = {}
    for line in lines:
        if '"SCHEMA"' not in line:
            continue  # cheap skip of records when a whole tap output is piped in
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not isinstance(msg, dict) or msg.get("type") != "SCHEMA" or not msg.get("stream"):
            continue
        raw = msg.get("schema")
        schema = raw if isinstance(raw, dict) else {}
        keys = [str(k) for k in msg.get("key_properties") or []]
        schemas[str(msg["stream"])] = (schema, keys)
    return schemas


def streams_to_check(
    config: t.Mapping[str, t.Any],
    schemas: t.Mapping[str, tuple[dict[str, t.Any], list[str]]] | None,
) -> list[Stream]:
    """Every stream the preflight checks.

    Those with SCHEMA messages (fields known) first, then the ``stream_settings`` entries (or the
    default objects) without one (fields unknown).
    """
    streams: list[Stream] = []
    for name, (schema, keys) in (schemas or {}).items():
        sobject, key = stream_target(name, keys, config)
        streams.append(Stream(name, sobject, key, properties_of(schema)))
    settings = config.get("stream_settings") or {}
    seen = {s.name for s in streams}
    if settings:
        for name, s in settings.items():
            if name not in seen:
                s = s or {}
                streams.append(
                    Stream(
                        name,
                        str(s.get("sobject") or name),
                        s.get("external_id_field") or None,
                        None,
                    )
                )
    elif not streams:
        streams = [Stream(obj, obj, ext, None) for obj, ext in DEFAULT_OBJECTS.items()]
    return streams


def _input_lines(
    input_file: t.IO[str] | None, stdin: t.IO[str] | None, out: t.Callable[[str], None]
) -> tuple[list[str] | None, str]:
    """Lines to read SCHEMA messages from, and where they came from (None: no input)."""
    if input_file is not None:
        return list(input_file), f"--input {getattr(input_file, 'name', 'FILE')}"
    stream = sys.stdin if stdin is None else stdin
    if stream is None or stream.closed:
        return None, ""
    try:
        if stream.isatty():
            return None, ""
        fd = stream.fileno()
    except (OSError, ValueError):
        fd = None
    if fd is not None:
        try:
            ready, _, _ = select.select([fd], [], [], STDIN_WAIT_SECONDS)
        except (OSError, ValueError):
            ready = [fd]  # select cannot watch it (e.g. Windows pipes): just read
        if not ready:
            out(
                f"NOTE  nothing arrived on standard input within {STDIN_WAIT_SECONDS:g} s; "
                "not reading it."
            )
            return None, ""
    return list(stream), "standard input"


class _Describes:
    """Fresh describes, fetched once per preflight (and refreshing the between-runs cache)."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.schemas: dict[str, ObjectSchema | Problem] = {}

    def get(self, sobject: str) -> ObjectSchema | Problem:
        if sobject not in self.schemas:
            try:
                body, _ = self.client.describe(sobject, fresh=True)
                self.schemas[sobject] = ObjectSchema.from_describe(body)
            except SalesforceError as exc:
                if exc.status not in (400, 403, 404):
                    raise
                self.schemas[sobject] = missing_object(sobject, exc.code)
        return self.schemas[sobject]

    def lookup(self, sobject: str) -> ObjectSchema | None:
        found = self.get(sobject)
        return found if isinstance(found, ObjectSchema) else None


def run_preflight(
    config: t.Mapping[str, t.Any],
    connector: SalesforceConnector,
    out: t.Callable[[str], None] = print,
    *,
    input_file: t.IO[str] | None = None,
    stdin: t.IO[str] | None = None,
) -> int:
    """Run every check, print the findings, and return the exit code.

    Args:
        config: The target's settings.
        connector: The target's connector (its client is used; nothing is written).
        out: Where lines go.
        input_file: The SDK's ``--input FILE`` (Singer messages), when given.
        stdin: Standard input (``sys.stdin`` by default); read when not a terminal and no
            ``input_file`` is given.

    Returns:
        0 when ready, 2 when something must be fixed first, 1 when Salesforce failed.
    """
    client = connector.client
    try:
        client.auth.token()
        org = client.auth.org_id
        org_text = (
            f"org {org}"
            if org
            else f"no org id in the token answer; per-org state is keyed by {client.auth.org_key}"
        )
        out(
            f"OK    logged in with the {client.auth.grant} grant at {client.auth.instance_url} "
            f"({org_text})"
        )
        limits = client.limits()
    except AuthError as exc:
        out(f"FAIL  login: {exc}")
        return UNKNOWN if exc.transient else NOT_READY
    except RetriesExhausted as exc:
        out(
            f"FAIL  API access: Salesforce kept failing ({exc}); this is not a configuration "
            "problem, retry later."
        )
        return UNKNOWN
    except (SalesforceError, BudgetExhausted) as exc:
        out(
            f"FAIL  API access: {exc}. Check that the user has the 'API Enabled' permission "
            "and the Connected App the 'api' scope."
        )
        return NOT_READY
    errors = warnings = 0
    daily = limits.get("DailyApiRequests") or {}
    budget = client.budget
    out(
        f"OK    API access; daily requests remaining {daily.get('Remaining')} of "
        f"{daily.get('Max')}; this run may spend {budget.left()} (api_budget="
        f"{budget.share:g})"
    )
    if not budget.left():
        errors += 1
        out(
            "FAIL  no API budget left for a run; raise api_budget or wait for the daily limit "
            "to reset."
        )

    streams = _streams(config, input_file, stdin, out)

    describes = _Describes(client)
    printed: set[tuple[str, str, str]] = set()
    try:
        for stream in streams:
            e, w = _check_one(stream, describes, printed, out)
            errors, warnings = errors + e, warnings + w
        if config.get("match_contacts_by_email", True):
            warnings += _check_contact(streams, describes, out)
    except RetriesExhausted as exc:
        out(f"FAIL  describe: Salesforce kept failing ({exc}); retry later.")
        return UNKNOWN
    except (SalesforceError, BudgetExhausted) as exc:
        out(f"FAIL  describe: {exc}")
        return NOT_READY
    spent = f"{client.api_calls} API calls spent by this check"
    if errors:
        out(
            f"NOT READY: {errors} problem(s) to fix before a run can write, {warnings} "
            f"warning(s); {spent}."
        )
        return NOT_READY
    out(f"READY: nothing blocks writing ({warnings} warning(s)); {spent}.")
    return READY


def _streams(
    config: t.Mapping[str, t.Any],
    input_file: t.IO[str] | None,
    stdin: t.IO[str] | None,
    out: t.Callable[[str], None],
) -> list[Stream]:
    """The streams to check, with the fields of the SCHEMA messages given (saying which)."""
    lines, source = _input_lines(input_file, stdin, out)
    schemas = read_schemas(lines) if lines is not None else {}
    if schemas:
        out(
            f"NOTE  fields from {len(schemas)} SCHEMA message(s) on {source}: streams "
            f"{', '.join(schemas)}"
        )
    elif lines is not None:
        out(f"NOTE  no SCHEMA message on {source}; the fields the streams write are unknown.")
    streams = streams_to_check(config, schemas)
    if any(s.properties is None for s in streams):
        names = ", ".join(s.name for s in streams if s.properties is None)
        out(
            f"NOTE  field list unknown for {names}: only the sObject and its external id are "
            f"checked. To check every field, {_HOW_TO_GIVE_FIELDS}."
        )
    return streams


def _check_one(
    stream: Stream,
    describes: _Describes,
    printed: set[tuple[str, str, str]],
    out: t.Callable[[str], None],
) -> tuple[int, int]:
    """Print one stream's object line and its problems; return (errors, warnings)."""
    label = (
        stream.sobject
        if stream.name == stream.sobject
        else f"{stream.sobject} (stream {stream.name})"
    )
    schema = describes.get(stream.sobject)
    if isinstance(schema, Problem):
        out(f"FAIL  {label}: {schema.message} [{schema.code}]")
        out(f"      fix: {schema.fix}")
        return 1, 0
    problems: list[Problem] = []
    if not stream.key:
        problems.append(
            Problem(
                stream.sobject,
                "",
                "MISSING_EXTERNAL_ID",
                f"stream {stream.name} has no single key property and no external_id_field, so "
                "its records cannot be upserted",
                f"Set stream_settings.{stream.name}.external_id_field to an External ID field of "
                f"{stream.sobject}.",
            )
        )
    problems.extend(
        check_stream(stream.sobject, stream.properties, stream.key, schema, lookup=describes.lookup)
    )
    errors = [p for p in problems if p.blocking]
    warnings = [p for p in problems if not p.blocking]
    if errors:
        out(f"FAIL  {label}: {len(errors)} problem(s) block writing")
    else:
        written = (
            f"{len([n for n in stream.properties if not n.startswith('_')])} fields writable"
            if stream.properties is not None
            else "exists"
        )
        key_ok = f"; {stream.sobject}.{stream.key} is an External ID" if stream.key else ""
        more = f"; {len(warnings)} warning(s)" if warnings else ""
        out(f"OK    {label}: {written}{key_ok}{more}")
    for p in [*errors, *warnings]:
        ident = (p.sobject, p.field, p.code)
        if ident in printed:
            continue
        printed.add(ident)
        out(f"{'FAIL' if p.blocking else 'WARN'}  {p.line()}")
        out(f"      fix: {p.fix}")
    return len(errors), len(warnings)


def _check_contact(
    streams: list[Stream], describes: _Describes, out: t.Callable[[str], None]
) -> int:
    """Lead smarts write matched people to Contacts: the Contact needs the Lead's key too."""
    keys = {s.key for s in streams if s.sobject == "Lead" and s.key}
    if not keys:
        return 0
    contact = describes.lookup("Contact")
    if contact is None:
        return 0
    count = 0
    for key in sorted(keys):
        f = contact.fields.get(key)
        if f is not None and f.get("externalId"):
            continue
        count += 1
        out(
            f"WARN  Contact.{key}: Leads matched to Contacts by email cannot carry {key}, so "
            "records pointing at them by it (Tasks) do not link [INVALID_FIELD]"
        )
        where = "Setup > Object Manager > Contact > Fields & Relationships >"
        if f is None:
            out(
                f"      fix: {where} New: Text(255) '{key}' (Field Name "
                f"{key.removesuffix('__c')}), tick 'Unique' and 'External ID'."
            )
        else:
            out(
                f"      fix: {where} {f.get('label') or key} > Edit: tick 'External ID' and "
                "'Unique'."
            )
    return count
