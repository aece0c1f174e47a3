"""target-salesforce-leads: upsert Singer records into Salesforce by external id."""

from __future__ import annotations

import sys
import typing as t

import click
from singer_sdk import typing as th
from singer_sdk.target_base import Target

from target_salesforce_leads.auth import AuthError
from target_salesforce_leads.budget import BudgetExhausted
from target_salesforce_leads.client import (
    COMPOSITE_HEAVY,
    RetriesExhausted,
    SalesforceClient,
    SalesforceError,
)
from target_salesforce_leads.hashes import HashStore
from target_salesforce_leads.lookups import find_records, merge_results, plan_queries
from target_salesforce_leads.report import RunReport
from target_salesforce_leads.sinks import SalesforceSink, _ordered
from target_salesforce_leads.validation import ObjectSchema, Rejection

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override


ID_CACHE_SIZE = 50_000


class TargetSalesforceLeads(Target):
    """Upserts each stream into an sObject by external id, with Lead/Contact matching."""

    name = "target-salesforce-leads"
    default_sink_class = SalesforceSink

    config_jsonschema = th.PropertiesList(
        th.Property("instance_url", th.StringType,
                    description="The org's API base URL (e.g. https://acme.my.salesforce.com). "
                    "Defaults to the instance_url the token endpoint answers."),
        th.Property("login_url", th.StringType, default="https://login.salesforce.com",
                    description="OAuth host: https://login.salesforce.com (production), "
                    "https://test.salesforce.com (sandbox) or the org's My Domain URL."),
        th.Property("auth_flow", th.StringType,
                    allowed_values=["refresh_token", "jwt", "client_credentials", "password"],
                    description="OAuth grant to use; inferred from the credentials given when "
                    "unset (refresh token, then JWT, then password, then client credentials)."),
        th.Property("client_id", th.StringType,
                    description="Connected App consumer key."),
        th.Property("client_secret", th.StringType, secret=True,
                    description="Connected App consumer secret."),
        th.Property("refresh_token", th.StringType, secret=True,
                    description="OAuth refresh token (scopes api, refresh_token, offline_access)."),
        th.Property("username", th.StringType,
                    description="Salesforce username, for the JWT bearer and password grants."),
        th.Property("password", th.StringType, secret=True,
                    description="Password for the password grant."),
        th.Property("security_token", th.StringType, secret=True,
                    description="Security token appended to the password (password grant)."),
        th.Property("private_key", th.StringType, secret=True,
                    description="PEM RSA private key for the JWT bearer grant."),
        th.Property("private_key_path", th.StringType,
                    description="Path to the PEM RSA private key for the JWT bearer grant."),
        th.Property("api_version", th.StringType, default="62.0",
                    description="Salesforce REST API version, e.g. 62.0."),
        th.Property("ca_bundle", th.StringType,
                    description="CA certificate file to trust (for a local emulator or a "
                    "TLS-inspecting proxy); the system store is used when unset."),
        th.Property(
            "stream_settings",
            th.ObjectType(additional_properties=th.ObjectType(
                th.Property("sobject", th.StringType,
                            description="sObject to write (default: the stream name)."),
                th.Property("external_id_field", th.StringType,
                            description="External ID field to upsert by (default: the stream's "
                            "single key property)."),
            )),
            description="Per-stream overrides: {STREAM: {sobject, external_id_field}}.",
        ),
        th.Property("transport", th.StringType, default="auto",
                    allowed_values=["auto", "bulk", "rest"],
                    description="auto: sObject Collections below bulk_threshold records per batch, "
                    "Bulk API 2.0 from it; bulk or rest force one."),
        th.Property("bulk_threshold", th.IntegerType, default=2000,
                    description="Records in one write (per sObject and operation) from which "
                    "transport=auto uses Bulk API 2.0."),
        th.Property("batch_size", th.IntegerType, default=100_000,
                    description="Records spooled per stream before a batch is written; larger "
                    "batches mean fewer lookup and Bulk calls."),
        th.Property("api_budget", th.NumberType, default=0.5,
                    description="Share (0-1) of the org's remaining daily API requests this run "
                    "may spend; the run stops cleanly before exceeding it."),
        th.Property("reject_file", th.StringType,
                    default="output/rejects/target-salesforce-leads.jsonl",
                    description="JSON Lines file that receives every rejected record with "
                    "Salesforce's error code and message."),
        th.Property("summary_file", th.StringType,
                    description="File that receives the run summary as JSON (also logged)."),
        th.Property("state_path", th.StringType,
                    default=".target-salesforce-leads/hashes.sqlite",
                    description="SQLite file holding content hashes of written records "
                    "(skip_unchanged)."),
        th.Property("dry_run", th.BooleanType, default=False,
                    description="Validate and match (read-only lookups) and report what would be "
                    "created/updated/unchanged/rejected, writing nothing."),
        th.Property("match_contacts_by_email", th.BooleanType, default=True,
                    description="For the Lead sObject: update the Contact that holds the email, "
                    "follow converted Leads, adopt Leads without an external id and refuse "
                    "duplicate Leads."),
        th.Property("skip_unchanged", th.BooleanType, default=True,
                    description="Skip records whose content is unchanged since their last "
                    "confirmed write (no API call)."),
        th.Property("allow_duplicate_save", th.BooleanType, default=False,
                    description="Send Sforce-Duplicate-Rule-Header: allowSave=true so duplicate "
                    "rules alert instead of blocking."),
        th.Property("request_timeout", th.NumberType, default=120,
                    description="Seconds to wait for one HTTP answer."),
        th.Property("max_retries", th.IntegerType, default=5,
                    description="Retries for 5xx answers, UNABLE_TO_LOCK_ROW and connection "
                    "errors, with exponential backoff."),
        th.Property("retry_backoff_seconds", th.NumberType, default=1.0,
                    description="First backoff delay; doubles on each retry (max 30 s)."),
        th.Property("use_composite", th.BooleanType, default=True,
                    description="Use the Composite API: a batch's lookups (up to 5 queries) and "
                    "up to 5 Collections writes of 200 records go in one request, which Salesforce "
                    "bills as ONE API call. Falls back to separate calls by itself when the "
                    "server has no /composite (404)."),
        th.Property("soql_max_length", th.IntegerType, default=15000,
                    description="Longest URL-encoded SOQL sent in one lookup request."),
        th.Property("bulk_max_bytes", th.IntegerType, default=90_000_000,
                    description="Bytes of CSV per Bulk job before another job is started."),
        th.Property("describe_cache_seconds", th.IntegerType, default=86400,
                    description="Seconds a describe is reused between runs (kept next to "
                    "state_path); a record that looks invalid only by a cached describe makes it "
                    "re-fetched. 0 fetches every run."),
        th.Property("bulk_poll_max_seconds", th.NumberType, default=3600,
                    description="Longest wait for one Bulk job to finish."),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # Sinks are drained one at a time, in arrival order, so parents land before children.
        self.max_parallelism = 1
        cfg = self.config
        self.dry_run = bool(cfg.get("dry_run", False))
        self.skip_unchanged = bool(cfg.get("skip_unchanged", True))
        self.soql_max_length = int(cfg.get("soql_max_length") or 15000)
        self.bulk_max_bytes = int(cfg.get("bulk_max_bytes") or 90_000_000)
        self.bulk_poll_max_seconds = float(cfg.get("bulk_poll_max_seconds") or 3600)
        self.report = RunReport(cfg.get("reject_file"), cfg.get("summary_file"))
        self.hashes = HashStore(cfg.get("state_path") or ".target-salesforce-leads/hashes.sqlite")
        self._client: SalesforceClient | None = None
        self._schemas: dict[str, ObjectSchema | Rejection] = {}
        self._cached_schemas: set[str] = set()
        self._ids: dict[tuple[str, str, str], str] = {}
        self.halted: str | None = None
        self.halt_is_error = False
        self._state_withheld = False

    # -- shared resources -------------------------------------------------------------------

    @property
    def client(self) -> SalesforceClient:
        if self._client is None:
            self._client = SalesforceClient(self.config, self.logger)
        return self._client

    def object_schema(self, sobject: str, fresh: bool = False) -> ObjectSchema | Rejection:
        """The sObject's describe (once per run, cached between runs), or why it cannot be
        written. ``fresh`` re-fetches a describe that came from the cache."""
        if fresh and sobject in self._cached_schemas:
            self._cached_schemas.discard(sobject)
            self._schemas.pop(sobject, None)
        else:
            fresh = False
        if sobject not in self._schemas:
            try:
                body, cached = self.client.describe(sobject, fresh=fresh)
                if cached:
                    self._cached_schemas.add(sobject)
                self._schemas[sobject] = ObjectSchema.from_describe(body)
            except SalesforceError as exc:
                if exc.status not in (400, 404):
                    raise
                self._schemas[sobject] = Rejection(
                    "INVALID_TYPE",
                    f"sObject type '{sobject}' does not exist or is not accessible ({exc.code}); "
                    "create it or grant access, or map the stream with stream_settings.")
        return self._schemas[sobject]

    @property
    def cached_schemas(self) -> set[str]:
        """sObjects whose describe this run came from the between-runs cache."""
        return self._cached_schemas

    def use_bulk(self, count: int) -> bool:
        transport = self.config.get("transport") or "auto"
        if transport == "bulk":
            return True
        if transport == "rest":
            return False
        return count >= int(self.config.get("bulk_threshold") or 2000)

    def remember_id(self, sobject: str, field: str, value: str, record_id: str) -> None:
        """Keep the Id of a record just written, so children in this run skip a lookup.

        Bounded: the oldest entries go first, and a miss only costs a batched lookup.
        """
        key = (sobject, field.lower(), str(value).lower())
        self._ids.pop(key, None)
        self._ids[key] = record_id
        if len(self._ids) > ID_CACHE_SIZE:
            del self._ids[next(iter(self._ids))]

    def resolve_references(self, schema: ObjectSchema, relationship: str, field: str,
                           typ: str | None, values: set[str]) -> dict[str, str | None]:
        """Map each external id value of a relationship to the Id to link (batched lookups).

        A Lead that was converted resolves to its ConvertedContactId.
        """
        ref = schema.relationships[relationship]
        candidates = [typ] if typ else _ordered(ref)
        result: dict[str, str | None] = {}
        todo = {v.lower(): v for v in values}
        if len(candidates) > 1 and self.client.use_composite:
            together = self._resolve_together(candidates, field, todo)
            if together is not None:
                return together
        for cand in candidates:
            if not todo:
                break
            cs = self.object_schema(cand)
            if isinstance(cs, Rejection) or not cs.has_field(field):
                continue
            for low in list(todo):
                cached = self._ids.get((cand, field.lower(), low))
                if cached:
                    result[low] = cached
                    del todo[low]
            if not todo:
                break
            select = [field]
            follow = cand == "Lead" and cs.has_field("ConvertedContactId")
            if follow:
                select += ["IsConverted", "ConvertedContactId"]
            records = find_records(self.client, cand, select, {field: list(todo.values())},
                                   self.soql_max_length)
            _take_ids(records, field, follow, todo, result)
        return result

    def _resolve_together(self, candidates: list[str], field: str,
                          todo: dict[str, str]) -> dict[str, str | None] | None:
        """Look a polymorphic reference up in every candidate object at once (one Composite
        call), keeping the first candidate that holds each value; None when that does not fit
        one call."""
        usable: list[tuple[str, list[str], bool]] = []
        for cand in candidates:
            cs = self.object_schema(cand)
            if isinstance(cs, Rejection) or not cs.has_field(field):
                continue
            follow = cand == "Lead" and cs.has_field("ConvertedContactId")
            usable.append((cand, [field, "IsConverted", "ConvertedContactId"] if follow
                           else [field], follow))
        result: dict[str, str | None] = {}
        for cand, _, _ in usable:
            for low in list(todo):
                cached = self._ids.get((cand, field.lower(), low))
                if cached:
                    result[low] = cached
                    del todo[low]
        if not todo:
            return result
        plans = [plan_queries(cand, select, {field: list(todo.values())},
                              self.soql_max_length) for cand, select, _ in usable]
        if sum(len(p) for p in plans) > COMPOSITE_HEAVY:
            return None
        answers = self.client.query_many([q for p in plans for q in p])
        start = 0
        for (_cand, _, follow), plan in zip(usable, plans, strict=True):
            records = merge_results(answers[start:start + len(plan)])
            start += len(plan)
            _take_ids(records, field, follow, todo, result)
        return result

    def drain_dependencies(self, sink: SalesforceSink) -> None:
        """Write pending parents (e.g. Leads and Contacts) before a child (e.g. Tasks)."""
        others = [o for o in self._sinks_active.values()
                  if o is not sink and isinstance(o, SalesforceSink) and o.has_pending]
        if not others:
            return  # nothing to order: spare the describe call
        schema = self.object_schema(sink.sobject)
        if isinstance(schema, Rejection):
            return
        props = set((sink.schema.get("properties") or {}).keys())
        refs: set[str] = set()
        for name, f in schema.relationships.items():
            if name in props:
                refs.update(f.get("referenceTo") or [])
        if not refs:
            return
        if "Contact" in refs:
            refs.add("Lead")  # Lead records may be written to Contacts
        for other in others:
            if other.has_pending and other.sobject in refs:
                self.logger.info("Writing pending %s records before %s.", other.stream_name,
                                 sink.stream_name)
                self.drain_one(other)

    def halt(self, exc: Exception, left: int) -> None:
        """Stop writing: the rest of the run is deferred and no further state is emitted."""
        if isinstance(exc, BudgetExhausted):
            reason = f"Stopped writing because {exc}"
            self.halt_is_error = self.halt_is_error or False
        elif isinstance(exc, AuthError):
            reason = f"Stopped writing because the login failed: {exc}"
            self.halt_is_error = True
        else:
            reason = f"Stopped writing because Salesforce kept failing: {exc}"
            self.halt_is_error = True
        if self.halted is None:
            self.halted = reason
        self.logger.error(
            "%s. %d records were neither written nor rejected; they are deferred to the next "
            "run, and no further state is emitted so the tap sends them again. %s",
            reason, left,
            "Raise api_budget or wait for the daily limit to reset."
            if isinstance(exc, BudgetExhausted) else "Check Salesforce's status and run again.",
        )

    # -- SDK hooks --------------------------------------------------------------------------

    @override
    def _write_state_message(self, state: dict) -> None:
        if self.halted:
            if not self._state_withheld:
                self.logger.warning("State withheld: some records were deferred (%s).",
                                    self.halted)
            self._state_withheld = True
            return
        super()._write_state_message(state)

    @override
    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()
        finally:
            self._finish()
        if self.halt_is_error:
            sys.exit(1)

    def _finish(self) -> None:
        client = self._client
        summary = self.report.summary(
            api_calls=client.api_calls if client else 0,
            dry_run=self.dry_run,
            api_calls_by_kind=client.calls_by_kind if client else {},
            halted=self.halted,
            bulk_wait_seconds=round(client.bulk_wait_seconds, 2) if client else 0.0,
        )
        self.report.write_summary(summary)
        self.report.close()
        self.hashes.close()
        self.logger.info("Run summary: %s", _summary_line(summary))

    # -- CLI --------------------------------------------------------------------------------

    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        command.params.append(
            click.Option(
                ["--preflight"], is_flag=True, default=False,
                help="Check credentials, API access, budget, sObjects and external id fields, "
                "print what to fix in Salesforce Setup, and exit (non-zero on problems).",
            )
        )
        return command

    @classmethod
    def invoke(cls, *, preflight: bool = False, **kwargs: t.Any) -> None:  # type: ignore[override]
        if preflight and not kwargs.get("about"):
            from target_salesforce_leads.preflight import run_preflight

            config = kwargs.get("config")
            target = cls(config=config.config if config else None,
                         parse_env_config=bool(config and config.parse_env),
                         validate_config=True)
            sys.exit(run_preflight(target))
        super().invoke(**kwargs)


def _summary_line(summary: dict[str, t.Any]) -> str:
    parts = [
        f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
        for name, counts in summary["objects"].items()
    ]
    text = "; ".join(parts) or "no records"
    suffix = " (dry run)" if summary["dry_run"] else ""
    return f"{text}; {summary['api_calls']} API calls{suffix}"


__all__ = ["TargetSalesforceLeads", "AuthError", "RetriesExhausted"]


def _take_ids(records: list[dict[str, t.Any]], field: str, follow: bool,
              todo: dict[str, str], result: dict[str, str | None]) -> None:
    """Move each looked-up value from ``todo`` to ``result`` with the Id it resolves to.

    A converted Lead (``follow``) resolves to its Contact; one converted without a Contact
    resolves to nothing, so the next candidate object is tried.
    """
    for rec in records:
        low = str(rec.get(field)).lower()
        if low not in todo:
            continue
        if follow and rec.get("IsConverted"):
            if not rec.get("ConvertedContactId"):
                continue
            result[low] = rec["ConvertedContactId"]
        else:
            result[low] = rec["Id"]
        del todo[low]
