"""The target's settings (its config JSON schema), one declaration each with what it does.

One module on purpose (over 400 lines): one list of some fifty settings, each with its
description.
"""

from __future__ import annotations

from singer_kit.progress import DEFAULT_INTERVAL
from singer_sdk import typing as th

SETTINGS: dict = th.PropertiesList(
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
