"""target-salesforce-leads: upsert Singer records into Salesforce by external id."""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import os
import secrets
import sys
import typing as t
from pathlib import Path

import click
from salesforce_client.auth import AuthError
from salesforce_client.budget import BudgetExhausted
from salesforce_client.client import COMPOSITE_HEAVY, SalesforceClient
from salesforce_client.errors import RetriesExhausted, SalesforceError
from singer_kit.env_config import numbers_parsed
from singer_kit.fatal import last_word
from singer_kit.progress import DEFAULT_INTERVAL
from singer_sdk import typing as th
from singer_sdk.helpers._classproperty import classproperty
from singer_sdk.target_base import Target

from target_salesforce_leads.checks import (
    Problem,
    blocking,
    check_stream,
    missing_object,
    properties_of,
)
from target_salesforce_leads.encoding import MessageReader
from target_salesforce_leads.fatal import KEPT, paragraph
from target_salesforce_leads.hashes import HashStore
from target_salesforce_leads.lookups import find_records, merge_results, plan_queries
from target_salesforce_leads.orglock import OrgLock
from target_salesforce_leads.progress import Progress
from target_salesforce_leads.report import RunReport
from target_salesforce_leads.run_report import finish_run_report, now_iso
from target_salesforce_leads.runfiles import (
    make_private,
    meltano_run_dir,
    meltano_system_db_files,
    secure_run_dir,
)
from target_salesforce_leads.runlock import EXIT_LIVE_RUN, RunLock, RunLockHeld, lock_path
from target_salesforce_leads.runstate import RunState
from target_salesforce_leads.sinks import SalesforceSink, _ordered
from target_salesforce_leads.validation import ObjectSchema, Rejection
from target_salesforce_leads.waiting import (
    CONFIGURATION_CODES,
    MAX_BLOB_BYTES,
    WAITING_CODES,
    Entry,
    StreamInfo,
    WaitingList,
)

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override


ID_CACHE_SIZE = 50_000
DEFAULT_STATE_PATH = ".target-salesforce-leads/hashes.sqlite"


class TargetSalesforceLeads(Target):
    """Upserts each stream into an sObject by external id, with Lead/Contact matching."""

    name = "target-salesforce-leads"
    default_sink_class = SalesforceSink
    message_reader_class = MessageReader

    config_jsonschema = th.PropertiesList(
        th.Property(
            "instance_url",
            th.StringType,
            description="The org's API base URL (e.g. https://acme.my.salesforce.com). "
            "Defaults to the instance_url the token endpoint answers.",
        ),
        th.Property(
            "login_url",
            th.StringType,
            default="https://login.salesforce.com",
            description="OAuth host: https://login.salesforce.com (production), "
            "https://test.salesforce.com (sandbox) or the org's My Domain URL.",
        ),
        th.Property(
            "auth_flow",
            th.StringType,
            allowed_values=["refresh_token", "jwt", "client_credentials", "password"],
            description="OAuth grant to use; inferred from the credentials given when "
            "unset (refresh token, then JWT, then password, then client credentials).",
        ),
        th.Property("client_id", th.StringType, description="Connected App consumer key."),
        th.Property(
            "client_secret",
            th.StringType,
            secret=True,
            description="Connected App consumer secret.",
        ),
        th.Property(
            "refresh_token",
            th.StringType,
            secret=True,
            description="OAuth refresh token (scopes api, refresh_token, offline_access).",
        ),
        th.Property(
            "username",
            th.StringType,
            description="Salesforce username, for the JWT bearer and password grants.",
        ),
        th.Property(
            "password", th.StringType, secret=True, description="Password for the password grant."
        ),
        th.Property(
            "security_token",
            th.StringType,
            secret=True,
            description="Security token appended to the password (password grant).",
        ),
        th.Property(
            "private_key",
            th.StringType,
            secret=True,
            description="PEM RSA private key for the JWT bearer grant.",
        ),
        th.Property(
            "private_key_path",
            th.StringType,
            description="Path to the PEM RSA private key for the JWT bearer grant.",
        ),
        th.Property(
            "api_version",
            th.StringType,
            default="62.0",
            description="Salesforce REST API version, e.g. 62.0.",
        ),
        th.Property(
            "ca_bundle",
            th.StringType,
            description="CA certificate file to trust (for a local emulator or a "
            "TLS-inspecting proxy); the system store is used when unset.",
        ),
        th.Property(
            "stream_settings",
            th.ObjectType(
                additional_properties=th.ObjectType(
                    th.Property(
                        "sobject",
                        th.StringType,
                        description="sObject to write (default: the stream name).",
                    ),
                    th.Property(
                        "external_id_field",
                        th.StringType,
                        description="External ID field to upsert by (default: the stream's "
                        "single key property).",
                    ),
                )
            ),
            description="Per-stream overrides: {STREAM: {sobject, external_id_field}}.",
        ),
        th.Property(
            "transport",
            th.StringType,
            default="auto",
            allowed_values=["auto", "bulk", "rest"],
            description="auto: sObject Collections below bulk_threshold records per batch, "
            "Bulk API 2.0 from it; bulk or rest force one.",
        ),
        th.Property(
            "bulk_threshold",
            th.IntegerType,
            default=2000,
            description="Records in one write (per sObject and operation) from which "
            "transport=auto uses Bulk API 2.0.",
        ),
        th.Property(
            "batch_size",
            th.IntegerType,
            default=100_000,
            description="Records spooled per stream before a batch is written; larger "
            "batches mean fewer lookup and Bulk calls.",
        ),
        th.Property(
            "api_budget",
            th.NumberType,
            default=0.5,
            description="Share (0-1) of the org's remaining daily API requests this run "
            "may spend; the run stops cleanly before exceeding it.",
        ),
        th.Property(
            "api_budget_window",
            th.StringType,
            default="run",
            allowed_values=["run", "24h"],
            description="run: api_budget is a share of the requests remaining when the "
            "run starts, and the run stops cleanly when it is spent (scheduled jobs). "
            "24h: a share of the daily requests others do not use, over any 24 hours, "
            "pausing (not stopping) when spent (a long-lived job).",
        ),
        th.Property(
            "reject_file",
            th.StringType,
            default="output/rejects/target-salesforce-leads.jsonl",
            description="JSON Lines file that receives every rejected record with "
            "Salesforce's error code and message.",
        ),
        th.Property(
            "summary_file",
            th.StringType,
            default="output/target-salesforce-leads-summary.json",
            description="File that receives the run summary as JSON (also logged).",
        ),
        th.Property(
            "waiting_file",
            th.StringType,
            default="output/waiting/target-salesforce-leads.jsonl",
            description="JSON Lines file rewritten at the end of every run with the "
            "records waiting to be written (kept in the state and retried on every run), "
            "one line a record with its reason; the current list, no duplicates.",
        ),
        th.Property(
            "problems_file",
            th.StringType,
            default="output/problems/target-salesforce-leads.jsonl",
            description="JSON Lines file rewritten at the end of every run: the current "
            "open problems, one line per record (status waiting or rejected, reason, "
            "run id), without duplicates; a record leaves it once written.",
        ),
        th.Property(
            "run_report_file",
            th.StringType,
            default="output/run-report.json",
            description="File that receives the run report of the whole pipeline as "
            "JSON at the end of every run: this summary merged with the extractor's "
            "and the mapper's (tap_summary_file, mapper_summary_file); also printed as "
            "a few lines. Empty: not written.",
        ),
        th.Property(
            "tap_summary_file",
            th.StringType,
            default="output/tap-intercom-events-summary.json",
            description="Summary the extractor writes at the end of its run (records "
            "per stream, API calls, rate-limit use, status), merged into the run "
            "report. Empty: none.",
        ),
        th.Property(
            "mapper_summary_file",
            th.StringType,
            default="output/map-intercom-salesforce-summary.json",
            description="Summary the mapper writes at the end of its run (records in "
            "and out, rejects by reason with an example), merged into the run report. "
            "Empty: none.",
        ),
        th.Property(
            "alert_webhook_url",
            th.StringType,
            secret=True,
            description="Slack-compatible incoming webhook (JSON POST with `text` and "
            "`blocks`) told when a run fails, rejects more than alert_max_rejected or "
            "leaves a record waiting longer than alert_max_waiting_hours. A failing "
            "webhook is logged, never fails the run.",
        ),
        th.Property(
            "alert_max_rejected",
            th.IntegerType,
            description="Alert when more records than this are rejected in a run "
            "(mapper and target together). Unset: no alert for a number of rejects.",
        ),
        th.Property(
            "alert_max_rejected_share",
            th.NumberType,
            description="Alert when a larger share (0-1) of a run's records is rejected "
            "(mapper and target together), e.g. 0.05. Unset: no alert for a share.",
        ),
        th.Property(
            "alert_max_waiting_hours",
            th.IntegerType,
            description="Alert when a record has been waiting longer than this many "
            "hours (0: any record waiting). Unset: no alert for waiting records.",
        ),
        th.Property(
            "waiting_max_days",
            th.NumberType,
            default=30,
            description="Days a record may wait (for its parent, a field, a lock, ...) "
            "before it is reported as rejected WAITING_EXPIRED.",
        ),
        th.Property(
            "max_waiting_records",
            th.IntegerType,
            default=20_000,
            description="Most records kept waiting in the state; beyond it the oldest "
            "are reported as rejected WAITING_EXPIRED (keeps the state small).",
        ),
        th.Property(
            "max_reject_share",
            th.NumberType,
            default=0.5,
            description="Share (0-1) of a run's records that may be rejected; above it "
            "(with at least 10 rejected) the run exits 3 and keeps its last state, so "
            "the records are read again once the cause is fixed.",
        ),
        th.Property(
            "hash_max_age_days",
            th.NumberType,
            default=7,
            description="Days a content hash may skip an unchanged record; after that "
            "the record is written again when next sent, so edits or deletions made by "
            "hand in Salesforce are undone. 0: no limit.",
        ),
        th.Property(
            "state_path",
            th.StringType,
            default=".target-salesforce-leads/hashes.sqlite",
            description="SQLite file holding content hashes of written records "
            "(skip_unchanged), per org and per state: a state without the target's "
            "section (first run, state clear, --full-refresh) sends everything.",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Validate and match (read-only lookups) and report what would be "
            "created/updated/unchanged/rejected, writing nothing.",
        ),
        th.Property(
            "match_contacts_by_email",
            th.BooleanType,
            default=True,
            description="For the Lead sObject: update the Contact that holds the email, "
            "follow converted Leads, adopt Leads without an external id and refuse "
            "duplicate Leads.",
        ),
        th.Property(
            "skip_unchanged",
            th.BooleanType,
            default=True,
            description="Skip records whose content is unchanged since their last "
            "confirmed write (no API call).",
        ),
        th.Property(
            "allow_duplicate_save",
            th.BooleanType,
            default=False,
            description="Send Sforce-Duplicate-Rule-Header: allowSave=true so duplicate "
            "rules alert instead of blocking.",
        ),
        th.Property(
            "request_timeout",
            th.NumberType,
            default=120,
            description="Seconds to wait for one HTTP answer.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=5,
            description="Retries for 5xx answers, UNABLE_TO_LOCK_ROW and connection "
            "errors, with exponential backoff.",
        ),
        th.Property(
            "retry_backoff_seconds",
            th.NumberType,
            default=1.0,
            description="First backoff delay; doubles on each retry (max 30 s).",
        ),
        th.Property(
            "use_composite",
            th.BooleanType,
            default=True,
            description="Use the Composite API: a batch's lookups (up to 5 queries) and "
            "up to 5 Collections writes of 200 records go in one request, which Salesforce "
            "bills as ONE API call. Falls back to separate calls by itself when the "
            "server has no /composite (404).",
        ),
        th.Property(
            "soql_max_length",
            th.IntegerType,
            default=15000,
            description="Longest URL-encoded SOQL sent in one lookup request.",
        ),
        th.Property(
            "bulk_max_bytes",
            th.IntegerType,
            default=90_000_000,
            description="Bytes of CSV per Bulk job before another job is started.",
        ),
        th.Property(
            "on_unwritable",
            th.StringType,
            default="stop",
            allowed_values=["stop", "reject"],
            description="When a stream's SCHEMA names an sObject or fields the org "
            "cannot take: stop (exit 2 before any record, saying what to create in "
            "Setup) or reject (reject those records with the reason and go on).",
        ),
        th.Property(
            "describe_cache_seconds",
            th.IntegerType,
            default=86400,
            description="Seconds a describe is reused between runs (kept next to "
            "state_path); a record that looks invalid only by a cached describe makes it "
            "re-fetched. 0 fetches every run.",
        ),
        th.Property(
            "bulk_poll_max_seconds",
            th.NumberType,
            default=3600,
            description="Longest wait for one Bulk job to finish.",
        ),
        th.Property(
            "history_database_url",
            th.StringType,
            secret=True,
            description="Where every run is added to the run history: a SQLite file "
            "(path or sqlite:///PATH) or postgresql://USER:PASSWORD@HOST/DB, like "
            "Meltano's database_uri; 'off' keeps none. Default: Meltano's database_uri "
            "when it is PostgreSQL, else run-history.db next to Meltano's SQLite "
            "database (.meltano/run-history.db). --history-page FILE shows it.",
        ),
        th.Property(
            "progress_interval_seconds",
            th.IntegerType(minimum=0),
            default=DEFAULT_INTERVAL,
            description="Seconds between progress lines (per stream: records received, "
            "then the batch being written: done, percent, time left); 0 turns them off.",
        ),
        th.Property(
            "metrics_log_level",
            th.StringType,
            default="INFO",
            allowed_values=["DEBUG", "INFO", "WARNING", "ERROR"],
            description="Level of the SDK's METRIC log lines (record counts and batch "
            "timings); WARNING or ERROR turns them off.",
        ),
        th.Property(
            "max_batch_age_seconds",
            th.NumberType,
            default=300,
            description="Longest time a received record waits before its batch is "
            "written (also while no message arrives); a batch is also written when "
            "batch_size records are pending and at the end of the input. Small values "
            "(1) suit a long-lived real-time job; large ones mean fewer, bigger "
            "(Bulk) writes.",
        ),
        th.Property(
            "lead_lock",
            th.BooleanType,
            default=True,
            description="Hold an exclusive lock per org (a file named by the org id "
            "in lead_lock_dir) from the look-ups to the end of the writes of each Lead "
            "batch, so two target processes on this machine (the batch and real-time "
            "jobs) never both create a Lead for one email. Turn off only where no "
            "folder can be locked.",
        ),
        th.Property(
            "lead_lock_dir",
            th.StringType,
            description="Folder of the per-org Lead locks (lead_lock). Empty: "
            "target-salesforce-leads-locks in the system's temporary folder, shared "
            "by every target process and user of the machine whatever their other "
            "settings. Set it to one folder for all the jobs writing an org when they "
            "do not share that temporary folder (containers, TMPDIR, PrivateTmp).",
        ),
        th.Property(
            "drain_on_state",
            th.BooleanType,
            default=False,
            description="Write what is pending when a new STATE arrives (at once if "
            "the batch is max_batch_age_seconds old, else when it is), then emit that "
            "STATE (and rewrite waiting_file and problems_file), so a long-lived job's "
            "bookmark follows its writes; off, a STATE is emitted after the next batch "
            "written.",
        ),
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
        self.run_id = os.environ.get("MELTANO_RUN_ID") or (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            + "-"
            + secrets.token_hex(3)
        )
        self.started_at = now_iso()
        self.report = RunReport(
            cfg.get("reject_file"),
            cfg.get("summary_file"),
            cfg.get("waiting_file"),
            self.run_id,
            cfg.get("problems_file"),
        )
        interval = cfg.get("progress_interval_seconds")
        self.progress = Progress(
            self.logger, self.report, DEFAULT_INTERVAL if interval is None else float(interval)
        )
        self.metrics_logger.setLevel(str(cfg.get("metrics_log_level") or "INFO").upper())
        self.hashes = HashStore(
            cfg.get("state_path") or DEFAULT_STATE_PATH, float(cfg.get("hash_max_age_days", 7) or 0)
        )
        self._client: SalesforceClient | None = None
        self._schemas: dict[str, ObjectSchema | Rejection] = {}
        self._cached_schemas: set[str] = set()
        self._ids: collections.OrderedDict[tuple[str, str, str], str] = collections.OrderedDict()
        self.halted: str | None = None
        self.halt_code = ""
        self.halt_is_error = False
        self._halt_paragraph: str | None = None
        self._state_withheld = False
        self._runstate: RunState | None = None
        # (stream, schema) pairs checked against the org: a changed schema is checked again.
        self._checked: set[tuple[str, str]] = set()
        self._queued: set[tuple[str, str]] = set()  # waiting records queued in this run
        self._at_end = False
        self._finished = False
        self.exit_code = 0
        # Batches by age: the SDK's own check (when a record arrives), and while input is quiet.
        self._MAX_RECORD_AGE_IN_MINUTES = float(cfg.get("max_batch_age_seconds", 300) or 0) / 60
        self.drain_on_state = bool(cfg.get("drain_on_state", False))
        self._org_lock: OrgLock | None = None
        reader = self.message_reader
        if isinstance(reader, MessageReader):
            reader.wait_limit = self._batch_age_left
            reader.on_quiet = self._drain_quiet

    # -- shared resources -------------------------------------------------------------------

    @property
    def client(self) -> SalesforceClient:
        if self._client is None:
            self._client = SalesforceClient(
                self.config,
                self.logger,
                user_agent=self.name,
                env_prefix="TARGET_SALESFORCE_LEADS_",
                describe_dir=Path(self.config.get("state_path") or DEFAULT_STATE_PATH).parent
                / "describe",
            )
        return self._client

    def object_schema(self, sobject: str, fresh: bool = False) -> ObjectSchema | Rejection:
        """The sObject's describe (once per run, cached between runs), or why it cannot be
        written. ``fresh`` asks for one from Salesforce (not the between-runs cache) unless
        this run already fetched one.
        """
        if fresh and sobject in self._cached_schemas:
            self._cached_schemas.discard(sobject)
            self._schemas.pop(sobject, None)
        elif sobject in self._schemas:
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
                    "create it or grant access, or map the stream with stream_settings.",
                )
        return self._schemas[sobject]

    # -- start-up: log in, check the org, pick up waiting records -------------------------

    @property
    def runstate(self) -> RunState:
        """This run's section of the state; logs in first (fail fast on bad credentials)."""
        if self._runstate is None:
            try:
                self.client.auth.token()
            except AuthError as exc:
                self.fatal(2, f"Could not log in to Salesforce: {exc}")
            self._runstate = RunState(self.client.auth.org_key)
        return self._runstate

    def fatal(self, code: int, message: str) -> t.NoReturn:
        """Stop the run before (more) records are handled: one paragraph, then exit ``code``."""
        self.exit_code = code
        self.halted = self.halted or message
        self._finish(status="failed")
        # Last, after the run summary: what a person reads first.
        self.logger.error("%s", message)
        sys.exit(code)

    def check_stream(self, sink: SalesforceSink) -> None:
        """Refuse to start writing a stream whose fields the org cannot take (fresh describe)."""
        seen = (sink.stream_name, json.dumps(sink.schema, sort_keys=True, default=str))
        if seen in self._checked:
            return
        self._checked.add(seen)
        try:
            problems = self._stream_problems(sink)
            if problems and self._cached_schemas:
                # Judged by a describe from the between-runs cache: fetch it fresh, judge again.
                for sobject in list(self._cached_schemas):
                    self.object_schema(sobject, fresh=True)
                problems = self._stream_problems(sink)
        except (RetriesExhausted, SalesforceError) as exc:
            self.fatal(
                1,
                f"Could not read the {sink.sobject} describe from Salesforce ({exc}), "
                "so the run stopped before writing any record (bookmarks unchanged). "
                "Check Salesforce's status page and run again.",
            )
        if not problems:
            return
        if self.config.get("on_unwritable", "stop") == "reject":
            for p in problems:
                self.logger.warning(
                    "Stream %s: %s. Its records are rejected. Fix: %s",
                    sink.stream_name,
                    p.line(),
                    p.fix,
                )
            return
        lines = "\n".join(f"  - {p.line()}. Fix: {p.fix}" for p in problems)
        self.fatal(
            2,
            f"Salesforce cannot take what stream {sink.stream_name} writes to "
            f"{sink.sobject}, so the run stopped before writing any record "
            f"(bookmarks unchanged):\n{lines}\nFix these in Setup, then run "
            "again (check with --preflight); nothing is lost.",
        )

    def _stream_problems(self, sink: SalesforceSink) -> list[Problem]:
        """What stops the org from taking this stream's records (blocking problems only)."""
        schema = self.object_schema(sink.sobject)
        if isinstance(schema, Rejection):
            return [missing_object(sink.sobject, schema.code)]
        if sink.key_field is None:
            return [
                Problem(
                    sink.sobject,
                    "",
                    "MISSING_ARGUMENT",
                    f"stream {sink.stream_name} has no single key property and no "
                    "external_id_field, so its records cannot be upserted",
                    f"set stream_settings.{sink.stream_name}.external_id_field",
                )
            ]
        return blocking(
            check_stream(
                sink.sobject,
                properties_of(sink.schema),
                sink.key_field,
                schema,
                lookup=self._schema_or_none,
            )
        )

    def _schema_or_none(self, sobject: str) -> ObjectSchema | None:
        schema = self.object_schema(sobject)
        return schema if isinstance(schema, ObjectSchema) else None

    def _queue_waiting(self, sink: SalesforceSink) -> None:
        entries = [
            e
            for e in self.runstate.waiting.by_stream().get(sink.stream_name, [])
            if (e.stream, e.key) not in self._queued
        ]
        if entries:
            self._queued.update((e.stream, e.key) for e in entries)
            n = sink.adopt_waiting(entries)
            self.logger.info(
                "Retrying %d %s records that waited in earlier runs.", n, sink.stream_name
            )

    def _take_waiting(self, loaded: WaitingList) -> None:
        """Merge the waiting list a state carried, expire the old, queue the rest."""
        max_days = float(self.config.get("waiting_max_days", 30) or 30)
        for e in loaded.expired(max_days):
            self._expire(e, f"waited more than {max_days:g} days")
        current = self.runstate.waiting
        for key, e in loaded.entries.items():
            current.entries.setdefault(key, e)
        for name, info in loaded.streams.items():
            current.streams.setdefault(name, info)
        if not len(current):
            return
        self.logger.info(
            "%d records wait from earlier runs (%s); retrying them.",
            len(current),
            ", ".join(f"{c} {n}" for c, n in current.reasons().items()),
        )
        for name in {e.stream for e in current.entries.values()}:
            info = current.streams.get(name)
            if name in self._sinks_active:
                self._queue_waiting(self._sinks_active[name])  # type: ignore[arg-type]
            elif info is not None:
                self.get_sink(name, schema=info.schema, key_properties=info.key_properties)

    def _expire(self, e: Entry, why: str) -> None:
        self.report.reject(
            e.stream,
            e.sobject,
            e.external_id,
            "WAITING_EXPIRED",
            f"The record {why} without being written ({e.code}: {e.message}); "
            "it is given up. Fix the cause and change the record in the source "
            "to send it again.",
            e.record,
        )

    def ensure_hash_scope(self) -> None:
        """Bind the hash store to this org and this state's generation (first drain)."""
        if self.hashes.scope is not None:
            return
        rs = self.runstate
        if not rs.loaded:
            self.logger.info(
                "The state has no hashes for org %s yet (first run, state cleared "
                "or full refresh): every record is written, none skipped.",
                rs.org_id,
            )
        self.hashes.bind(rs.org_id, rs.generation)

    # -- outcomes ---------------------------------------------------------------------------

    def not_written(
        self,
        sink: SalesforceSink,
        key: str | None,
        ext: t.Any,
        sobject: str,
        rej: Rejection,
        record: dict[str, t.Any],
    ) -> None:
        """A record was not written: it waits (cause can go away) or is rejected."""
        rejecting = (
            rej.code in CONFIGURATION_CODES and self.config.get("on_unwritable", "stop") == "reject"
        )
        if rej.code in WAITING_CODES and key is not None and not rejecting:
            entry = Entry(
                stream=sink.stream_name,
                key=key,
                external_id=str(ext),
                sobject=sobject,
                code=rej.code,
                message=rej.message,
                record=record,
                last_run=self.run_id,
            )
            info = StreamInfo(sink.original_schema, list(sink.key_properties or []))
            self.runstate.waiting.wait(entry, info)
            self.report.wait(sink.stream_name, sobject, rej.code, rej.message)
            if rej.code in CONFIGURATION_CODES:
                problem = f"{sobject}: {rej.code}: {rej.message}"
                if problem not in self.report.config_problems:
                    self.report.config_problems.append(problem)
            return
        if key is not None:
            self.runstate.waiting.settle(sink.stream_name, key)
        self.report.reject(sink.stream_name, sobject, ext, rej.code, rej.message, record)

    def settled(self, stream: str, key: str) -> None:
        """A record was written or found unchanged: it no longer waits."""
        self.runstate.waiting.settle(stream, key)
        self.report.settled(stream, key)

    def settled_many(self, stream: str, keys: t.Sequence[str]) -> None:
        """``settled`` for each of ``keys``."""
        if not keys:
            return
        waiting = self.runstate.waiting
        if len(waiting):
            for key in keys:
                waiting.settle(stream, key)
        self.report.settled_many(stream, keys)

    def held_back(self, sink: SalesforceSink, count: int) -> None:
        """Records not attempted because writing stopped; the tap sends them again."""
        self.report.wait(
            sink.stream_name,
            sink.sobject,
            self.halt_code or "HALTED",
            self.halted or "writing stopped",
            count,
        )

    @property
    def cached_schemas(self) -> set[str]:
        """SObjects whose describe this run came from the between-runs cache."""
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
        ids = self._ids
        if key in ids:
            ids.move_to_end(key)
        ids[key] = record_id
        if len(ids) > ID_CACHE_SIZE:
            ids.popitem(last=False)  # O(1), where deleting a dict's first key is not

    def resolve_references(
        self, schema: ObjectSchema, relationship: str, field: str, typ: str | None, values: set[str]
    ) -> dict[str, str | None]:
        """Map each external id value of a relationship to the Id to link (batched lookups).

        A Lead that was converted resolves to its ConvertedContactId.
        """
        ref = schema.relationships[relationship]
        candidates = [typ] if typ else _ordered(ref)
        result: dict[str, str | None] = {}
        todo = {v.lower(): v for v in values}
        if (
            len(candidates) > 1
            and self.client.use_composite
            and self._resolve_together(candidates, field, todo, result)
        ):
            return result
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
            records = find_records(
                self.client, cand, select, {field: list(todo.values())}, self.soql_max_length
            )
            _take_ids(records, field, follow, todo, result)
        return result

    def _resolve_together(
        self, candidates: list[str], field: str, todo: dict[str, str], result: dict[str, str | None]
    ) -> bool:
        """Look a polymorphic reference up in every candidate object at once (one Composite
        call), keeping the first candidate that holds each value, into ``result``.

        Values known from this run's writes move from ``todo`` to ``result`` first; returns
        False when the rest does not fit one call (``todo`` then holds what is left to look up).
        """
        usable: list[tuple[str, list[str], bool]] = []
        for cand in candidates:
            cs = self.object_schema(cand)
            if isinstance(cs, Rejection) or not cs.has_field(field):
                continue
            follow = cand == "Lead" and cs.has_field("ConvertedContactId")
            usable.append(
                (cand, [field, "IsConverted", "ConvertedContactId"] if follow else [field], follow)
            )
        for cand, _, _ in usable:
            for low in list(todo):
                cached = self._ids.get((cand, field.lower(), low))
                if cached:
                    result[low] = cached
                    del todo[low]
        if not todo:
            return True
        plans = [
            plan_queries(cand, select, {field: list(todo.values())}, self.soql_max_length)
            for cand, select, _ in usable
        ]
        if sum(len(p) for p in plans) > COMPOSITE_HEAVY:
            return False
        answers = self.client.query_many([q for p in plans for q in p])
        start = 0
        for (_cand, _, follow), plan in zip(usable, plans, strict=True):
            records = merge_results(answers[start : start + len(plan)])
            start += len(plan)
            _take_ids(records, field, follow, todo, result)
        return True

    def drain_dependencies(self, sink: SalesforceSink) -> None:
        """Write pending parents (e.g. Leads and Contacts) before a child (e.g. Tasks)."""
        others = [
            o
            for o in self._sinks_active.values()
            if o is not sink and isinstance(o, SalesforceSink) and o.has_pending
        ]
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
                self.logger.info(
                    "Writing pending %s records before %s.", other.stream_name, sink.stream_name
                )
                self.drain_one(other)

    def halt(self, exc: Exception, left: int) -> None:
        """Stop writing: the rest of the run waits and no further state is emitted."""
        if isinstance(exc, BudgetExhausted):
            reason = f"Stopped writing because {exc}"
            code = "BUDGET_EXHAUSTED"
        elif isinstance(exc, AuthError):
            reason = f"Stopped writing because the login failed: {exc}"
            code = "LOGIN_FAILED"
            self.halt_is_error = True
        else:
            reason = f"Stopped writing because Salesforce kept failing: {exc}"
            code = "SALESFORCE_UNAVAILABLE"
            self.halt_is_error = True
        if self.halted is None:
            self.halted = reason
            self.halt_code = code
        advice = (
            "Raise api_budget or wait for the daily limit to reset."
            if isinstance(exc, BudgetExhausted)
            else "Check Salesforce's status and run again."
        )
        self.logger.warning(
            "%s. %d records were neither written nor rejected; they wait for the next run "
            "(no further state is emitted, so the tap sends them again). %s",
            reason,
            left,
            advice,
        )
        if self.halt_is_error and self._halt_paragraph is None:
            self._halt_paragraph = f"The run failed: {reason}. {KEPT} {advice}"

    # -- SDK hooks --------------------------------------------------------------------------

    @property
    def native_message(self) -> bool:
        """Whether the message being processed was decoded by msgspec (its record then holds
        only what JSON decoding makes; see encoding.canonical_line).
        """
        return getattr(self.message_reader, "native", False)

    @override
    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict | None = None,
        schema: dict | None = None,
        key_properties: t.Sequence[str] | None = None,
    ) -> SalesforceSink:
        existing = self._sinks_active.get(stream_name)
        sink = super().get_sink(
            stream_name, record=record, schema=schema, key_properties=key_properties
        )
        if sink is not existing and isinstance(sink, SalesforceSink):
            self.progress.stream(stream_name)
            self.progress.start()
            # A new stream (or a new schema): check the org can take it, before any record.
            self.check_stream(sink)
            self._queue_waiting(sink)
        return sink  # type: ignore[return-value]

    @override
    def _process_schema_message(self, message_dict: dict) -> None:
        _ = self.runstate  # log in first: bad credentials stop the run before any record
        super()._process_schema_message(message_dict)

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        state = message_dict.get("value")
        if isinstance(state, dict):
            rest, loaded = self.runstate.absorb(state)
            message_dict = {**message_dict, "value": rest}
            if loaded is not None:
                self._take_waiting(loaded)
        previous = self._latest_state
        super()._process_state_message(message_dict)
        if not self.drain_on_state or self._latest_state == previous:
            return
        left = self._batch_age_left()
        if left is not None and left > 0 and not self.halted:
            # A young batch is held (with this STATE) until max_batch_age_seconds: a tap that
            # sends STATE often would otherwise cost a look-up and a write per STATE.
            return
        self.drain_all()
        self._end_if_halted()

    def _end_if_halted(self) -> None:
        """With drain_on_state, end a run whose last batch could not be written."""
        if self.drain_on_state and self.halted:
            # A long-lived run that stopped writing would hold every later record back
            # until restarted: end it now, so its supervisor sees it and restarts it.
            self.fatal(
                self.exit_code or 1,
                f"{self.halted}. The long-lived run ends here "
                "without emitting its STATE, so the tap sends its records again "
                "when the job is started again (nothing is lost).",
            )

    # -- long-lived runs: batches by age and on STATE ---------------------------------------

    def _batch_age_left(self) -> float | None:
        """Seconds until the pending records reach max_batch_age_seconds; None when nothing
        is pending (the reader then waits for input as long as it takes).
        """
        if not any(getattr(s, "has_pending", False) for s in self._sinks_active.values()):
            return None
        return (self._MAX_RECORD_AGE_IN_MINUTES - self._max_record_age_in_minutes) * 60

    def _drain_quiet(self) -> None:
        """No message arrived while records were pending for max_batch_age_seconds."""
        self.logger.debug("No input for max_batch_age_seconds: writing the pending batch.")
        self.drain_all()
        self._end_if_halted()

    def lead_lock(self, sink: SalesforceSink) -> t.ContextManager[t.Any]:
        """The org's Lead lock around a batch of ``sink`` that may create Leads (see
        orglock); nothing for other sinks, dry runs, or with lead_lock off.
        """
        if not (sink.lead_smarts and not self.dry_run and self.config.get("lead_lock", True)):
            return contextlib.nullcontext()
        if self._org_lock is None:
            folder = self.config.get("lead_lock_dir") or None
            self._org_lock = OrgLock(folder, self.runstate.org_id, self.logger)
        return self._org_lock.held()

    def _write_open_lists(self) -> None:
        """The waiting and problems files as they are now, before a STATE is emitted mid-run
        with drain_on_state (a long-lived run never reaches its end).
        """
        if self._runstate is not None and not self.dry_run:
            self.report.write_waiting(self._runstate.waiting)
            self.report.write_problems(self._runstate.waiting)

    @override
    def _write_state_message(self, state: dict) -> None:
        if self.dry_run:
            if not self._state_withheld:
                self.logger.info(
                    "Dry run: no state is emitted, so bookmarks and waiting "
                    "records stay as they were."
                )
            self._state_withheld = True
            return
        if self.halted:
            if not self._state_withheld:
                self.logger.warning(
                    "State withheld: some records were not written (%s).", self.halted
                )
            self._state_withheld = True
            return
        if self._at_end and self._reject_share_exceeded():
            self._state_withheld = True
            return
        blob = self._bound_waiting()
        if self.drain_on_state and not self._at_end:
            self._write_open_lists()
        super()._write_state_message(self.runstate.emit(state, blob))

    @override
    def listen(self, file_input: t.IO[str] | None = None) -> None:
        """A run: refused while another is live; private files, no dead runs' secrets left."""
        # What this process creates (output files, hash store, describe cache) is 0600/0700.
        umask = os.umask(0o077)
        hashes = Path(self.config.get("state_path") or DEFAULT_STATE_PATH)
        lock = RunLock(lock_path(hashes))
        try:
            try:
                lock.acquire(self.run_id)
            except RunLockHeld as exc:
                self.logger.error("%s", exc)
                sys.exit(EXIT_LIVE_RUN)
            self._secure_files(hashes)
            super().listen(file_input)
        finally:
            lock.release()
            os.umask(umask)

    def _secure_files(self, hashes: Path) -> None:
        """Make private what earlier runs or versions left readable; remove the config files,
        secrets included, that killed runs left in Meltano's run directory.
        """
        describe = hashes.parent / "describe"  # the client's describe cache
        mine = [
            p
            for p in (
                self.report.reject_path,
                self.report.summary_path,
                self.report.waiting_path,
                self.report.problems_path,
            )
            if p
        ]
        make_private(
            [
                *mine,
                *hashes.parent.glob(hashes.name + "*"),
                *describe.glob("*"),
                *meltano_system_db_files(),
            ],
            [describe],
        )
        run_dir = meltano_run_dir()
        if run_dir is not None:
            for path in secure_run_dir(run_dir):
                self.logger.info(
                    "Removed %s, left with its secrets by a run that was killed.", path
                )

    @override
    def process_endofpipe(self) -> None:
        self._at_end = True
        try:
            super().process_endofpipe()
        finally:
            self._finish()
        if self.exit_code:
            sys.exit(self.exit_code)

    # -- end of run -------------------------------------------------------------------------

    def _reject_share_exceeded(self) -> bool:
        # Of the records received in this run: waiting records retried from earlier runs do not
        # dilute the share.
        totals = self.report.totals()
        received = totals["received"]
        share = float(self.config.get("max_reject_share", 0.5))
        return totals["rejected"] >= 10 and received > 0 and totals["rejected"] / received > share

    def _bound_waiting(self) -> str:
        """Expire what exceeds the limits; the waiting list as the state carries it."""
        waiting = self.runstate.waiting
        cap = int(self.config.get("max_waiting_records") or 20_000)
        for e in waiting.over_capacity(cap):
            self._expire(e, f"was one of more than {cap} waiting records (max_waiting_records)")
        blob = waiting.encode() if len(waiting) else ""
        while len(blob) > MAX_BLOB_BYTES:
            for e in waiting.over_capacity(int(len(waiting) * 0.9)):
                self._expire(e, "did not fit the state's size limit for waiting records")
            blob = waiting.encode() if len(waiting) else ""
        return blob

    def _exit_code(self) -> int:
        if self.exit_code:
            return self.exit_code
        if self.report.config_problems:
            return 2
        if self.halt_is_error:
            return 1
        if self._reject_share_exceeded():
            return 3
        return 0

    def _finish(self, status: str | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        self.progress.stop()
        client = self._client
        waiting_now = len(self._runstate.waiting) if self._runstate else 0
        self.exit_code = self._exit_code()
        totals = self.report.totals()
        if status is None:
            status = (
                "failed"
                if self.exit_code
                else ("warning" if (totals["waiting"] or self.halted) else "ok")
            )
        summary = self.report.summary(
            api_calls=client.api_calls if client else 0,
            dry_run=self.dry_run,
            status=status,
            exit_code=self.exit_code,
            waiting_now=waiting_now,
            waiting={
                "total": waiting_now,
                "this_run": totals["waiting"],
                "by_reason": self._runstate.waiting.reasons() if self._runstate else {},
            },
            state_emitted=not self._state_withheld,
            api_calls_by_kind=client.calls_by_kind if client else {},
            halted=self.halted,
            bulk_wait_seconds=round(client.bulk_wait_seconds, 2) if client else 0.0,
        )
        self.report.write_summary(summary)
        if self._runstate is not None and not self.dry_run:
            self.report.write_waiting(self._runstate.waiting)
            self.report.write_problems(self._runstate.waiting)
        self.report.close()
        self.hashes.close()
        # The run report (the target's summary with the tap's and the mapper's) goes to the
        # run history once written, then is printed.
        self.run_report = finish_run_report(self, summary, after_write=self._record_history)
        self._explain(summary)

    def _record_history(self, report: dict[str, t.Any]) -> None:
        """Add this run to the run history; a history that cannot be written does not fail the
        run (its records are written and its state kept all the same).
        """
        from target_salesforce_leads.history import HistoryError, record_run

        try:
            where = record_run(self.config, report)
        except HistoryError as exc:
            self.logger.warning(
                "This run is missing from the run history: %s. Fix the database or "
                "history_database_url ('off' records no history); the run itself is not "
                "affected.",
                exc,
            )
            return
        if where:
            self.logger.info(
                "Run %s added to the run history (%s); "
                "target-salesforce-leads --history-page FILE shows it.",
                self.run_id,
                where,
            )

    def _explain(self, summary: dict[str, t.Any]) -> None:
        """The last lines a person reads: what did not go well, and what to do."""
        if summary["configuration_problems"]:
            self.logger.error(
                "Salesforce lacks what the mapping writes (%s); the records wait in the state "
                "and are written on the first run after the fix. Run --preflight for the Setup "
                "steps. Exit code 2.",
                "; ".join(summary["configuration_problems"][:5]),
            )
        if self.exit_code == 3:
            t_ = summary["totals"]
            self.logger.error(
                "%d of %d records were rejected, more than max_reject_share=%g: the state was "
                "not advanced, so they are read again after the cause is fixed. Reasons: %s. "
                "Exit code 3.",
                t_["rejected"],
                t_["received"],
                float(self.config.get("max_reject_share", 0.5)),
                ", ".join(f"{r['code']} {r['count']}" for r in summary["rejected_by_reason"][:5]),
            )
        if summary["totals"]["waiting"] or summary["waiting_now"]:
            self.logger.warning(
                "%d records wait in this run (%s); %d in all are kept in the state and retried "
                "on every run until written (waiting_max_days=%g). List: %s",
                summary["totals"]["waiting"],
                ", ".join(f"{r['code']} {r['count']}" for r in summary["waiting_by_reason"][:5])
                or "none new",
                summary["waiting_now"],
                float(self.config.get("waiting_max_days", 30) or 30),
                summary["files"]["waiting"],
            )
        if self._halt_paragraph and self.exit_code:
            self.logger.error("%s", self._halt_paragraph)

    # -- CLI --------------------------------------------------------------------------------

    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:  # noqa: N805
        """Settings read with `--config ENV` (Meltano commands such as `meltano test` pass them
        as variables), with `number` settings as numbers: the Singer SDK leaves them strings.
        """
        return numbers_parsed(super()._env_var_config, cls.config_jsonschema)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        command.params.append(
            click.Option(
                ["--preflight"],
                is_flag=True,
                default=False,
                help="Check credentials, API access, budget, sObjects and external id fields, "
                "print what to fix in Salesforce Setup, and exit (non-zero on problems).",
            )
        )
        command.params.append(
            click.Option(
                ["--history-page"],
                type=click.Path(dir_okay=False),
                default=None,
                help="Write the run history (history_database_url) as a self-contained HTML "
                "page to this file, and exit.",
            )
        )
        return command

    @classmethod
    def invoke(
        cls,
        *,
        preflight: bool = False,
        history_page: str | None = None,  # type: ignore[override]
        **kwargs: t.Any,
    ) -> None:
        if history_page and not kwargs.get("about"):
            from target_salesforce_leads.history_page import run_history_page

            config = kwargs.get("config")
            settings = dict(config.config) if config else {}
            # As a Meltano command (no --config), the setting comes the way Meltano passes
            # every setting: as an environment variable.
            settings.setdefault(
                "history_database_url",
                os.environ.get("TARGET_SALESFORCE_LEADS_HISTORY_DATABASE_URL"),
            )
            code, message = run_history_page(settings, history_page)
            click.echo(message, err=True)
            sys.exit(code)
        if preflight and not kwargs.get("about"):
            config = kwargs.get("config")
            target = cls(
                config=config.config if config else None,
                parse_env_config=bool(config and config.parse_env),
                validate_config=True,
            )
            from target_salesforce_leads.preflight import run_preflight

            sys.exit(run_preflight(target, input_file=kwargs.get("file_input")))
        with last_word(cls.logger, paragraph):
            super().invoke(**kwargs)


__all__ = ["TargetSalesforceLeads", "AuthError", "RetriesExhausted"]


def _take_ids(
    records: list[dict[str, t.Any]],
    field: str,
    follow: bool,
    todo: dict[str, str],
    result: dict[str, str | None],
) -> None:
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
