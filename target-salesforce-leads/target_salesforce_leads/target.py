"""target-salesforce-leads: upsert Singer records into Salesforce by external id.

The Target declares the settings (:mod:`~target_salesforce_leads.settings`) and the sink; it
holds the run's shared parts (the connector, the ledger, the hash store, the report) and
orders the run: log in, check each stream, write parents before children, emit or withhold
STATE, finish with the summary and the run report. One module on purpose (over 400 lines): the
order of a run's steps reads best in one place.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import secrets
import sys
import typing as t

from salesforce_client.auth import AuthError
from salesforce_client.errors import RetriesExhausted
from singer_kit.progress import DEFAULT_INTERVAL
from singer_sdk.target_base import Target

from target_salesforce_leads import references, run_end
from target_salesforce_leads.cli import Commands
from target_salesforce_leads.connector import SalesforceConnector
from target_salesforce_leads.encoding import MessageReader
from target_salesforce_leads.halting import Halt
from target_salesforce_leads.hashes import HashStore
from target_salesforce_leads.ledger import RunLedger
from target_salesforce_leads.orglock import OrgLock
from target_salesforce_leads.progress import Progress
from target_salesforce_leads.report import RunReport
from target_salesforce_leads.run_report import finish_run_report, now_iso
from target_salesforce_leads.runfiles import secure_files
from target_salesforce_leads.runlock import EXIT_LIVE_RUN, RunLock, RunLockHeld, lock_path
from target_salesforce_leads.runstate import RunState
from target_salesforce_leads.sdk_hooks import (
    BatchesByAge,
    EnvNumbers,
    LoginFirst,
    RunEntry,
    StateIn,
    StateOut,
)
from target_salesforce_leads.settings import SETTINGS
from target_salesforce_leads.sinks import SalesforceSink
from target_salesforce_leads.stream_checks import StreamChecks
from target_salesforce_leads.validation import Rejection
from target_salesforce_leads.waiting import WaitingList

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override


class TargetSalesforceLeads(
    Commands, LoginFirst, StateIn, StateOut, BatchesByAge, EnvNumbers, RunEntry, Target
):
    """Upserts each stream into an sObject by external id, with Lead/Contact matching."""

    name = "target-salesforce-leads"
    default_sink_class = SalesforceSink
    message_reader_class = MessageReader
    config_jsonschema = SETTINGS

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """The SDK's target, with the run's connector, ledger, hash store and report."""
        super().__init__(*args, **kwargs)
        # Sinks are drained one at a time, in arrival order, so parents land before children.
        self.max_parallelism = 1
        cfg = self.config
        self.dry_run = bool(cfg.get("dry_run", False))
        self.skip_unchanged = bool(cfg.get("skip_unchanged", True))
        self.run_id = os.environ.get("MELTANO_RUN_ID") or (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            + "-"
            + secrets.token_hex(3)
        )
        self.started_at = now_iso()
        self.connector = SalesforceConnector(cfg, self.logger, self.name)
        self.report = RunReport(
            cfg.get("reject_file"),
            cfg.get("summary_file"),
            cfg.get("waiting_file"),
            self.run_id,
            cfg.get("problems_file"),
        )
        self.ledger = RunLedger(self.report, cfg, self.run_id, lambda: self.runstate)
        interval = cfg.get("progress_interval_seconds")
        self.progress = Progress(
            self.logger, self.report, DEFAULT_INTERVAL if interval is None else float(interval)
        )
        self.metrics_logger.setLevel(str(cfg.get("metrics_log_level") or "INFO").upper())
        self.hashes = HashStore(
            str(self.connector.state_path), float(cfg.get("hash_max_age_days", 7) or 0)
        )
        self.checks = StreamChecks(self.connector, cfg, self.logger)
        self.halt = Halt()
        self.exit_code = 0
        self.drain_on_state = bool(cfg.get("drain_on_state", False))
        self._runstate: RunState | None = None
        self._queued: set[tuple[str, str]] = set()  # waiting records queued in this run
        self._state_withheld = False
        self._at_end = False
        self._finished = False
        self._org_lock: OrgLock | None = None
        # Batches by age: the SDK's own check (when a record arrives), and while input is quiet.
        self.set_max_batch_age(float(cfg.get("max_batch_age_seconds", 300) or 0))
        reader = self.message_reader
        if isinstance(reader, MessageReader):
            reader.wait_limit = self.batch_age_left
            reader.on_quiet = self._drain_quiet

    # -- start-up: log in, check the org, pick up waiting records -------------------------

    @property
    def runstate(self) -> RunState:
        """This run's section of the state; logs in first (fail fast on bad credentials)."""
        if self._runstate is None:
            try:
                org_key = self.connector.log_in()
            except AuthError as exc:
                self.fatal(2, f"Could not log in to Salesforce: {exc}")
            self._runstate = RunState(org_key)
        return self._runstate

    @property
    def runstate_if_loaded(self) -> RunState | None:
        """This run's section of the state, if it was loaded (None: never logged in)."""
        return self._runstate

    def fatal(self, code: int, message: str) -> t.NoReturn:
        """Stop the run before (more) records are handled: one paragraph, then exit ``code``."""
        self.exit_code = code
        self.halt.reason = self.halt.reason or message
        self._finish(status="failed")
        # Last, after the run summary: what a person reads first.
        self.logger.error("%s", message)
        sys.exit(code)

    @property
    def native_message(self) -> bool:
        """Whether the message being processed was decoded by msgspec.

        Its record then holds only what JSON decoding makes; see encoding.canonical_line.
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
        """The SDK's sink; a new stream (or schema) is checked against the org first."""
        existing = self.active_sinks.get(stream_name)
        sink = super().get_sink(
            stream_name, record=record, schema=schema, key_properties=key_properties
        )
        if sink is not existing and isinstance(sink, SalesforceSink):
            self.progress.stream(stream_name)
            self.progress.start()
            # A new stream (or a new schema): check the org can take it, before any record.
            refusal = self.checks.refusal(sink)
            if refusal is not None:
                self.fatal(*refusal)
            self._queue_waiting(sink)
        return sink  # type: ignore[return-value]

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
        current = self.ledger.take_waiting(loaded)
        if not len(current):
            return
        self.logger.info(
            "%d records wait from earlier runs (%s); retrying them.",
            len(current),
            ", ".join(f"{c} {n}" for c, n in current.reasons().items()),
        )
        for name in {e.stream for e in current.entries.values()}:
            info = current.streams.get(name)
            sink = self.active_sinks.get(name)
            if isinstance(sink, SalesforceSink):
                self._queue_waiting(sink)
            elif info is not None:
                self.get_sink(name, schema=info.schema, key_properties=info.key_properties)

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

    # -- ordering the writes ----------------------------------------------------------------

    def drain_dependencies(self, sink: SalesforceSink) -> None:
        """Write pending parents (e.g. Leads and Contacts) before a child (e.g. Tasks)."""
        others = [
            o
            for o in self.active_sinks.values()
            if o is not sink and isinstance(o, SalesforceSink) and o.has_pending
        ]
        if not others:
            return  # nothing to order: spare the describe call
        schema = self.connector.object_schema(sink.sobject)
        if isinstance(schema, Rejection):
            return
        parents = references.parent_objects(schema, (sink.schema.get("properties") or {}).keys())
        if not parents:
            return
        for other in others:
            if other.has_pending and other.sobject in parents:
                self.logger.info(
                    "Writing pending %s records before %s.", other.stream_name, sink.stream_name
                )
                self.drain_one(other)

    def lead_lock(self, sink: SalesforceSink) -> t.ContextManager[t.Any]:
        """The org's Lead lock around a batch of ``sink`` that may create Leads.

        See orglock; nothing for other sinks, dry runs, or with lead_lock off.
        """
        if not (sink.lead_smarts and not self.dry_run and self.config.get("lead_lock", True)):
            return contextlib.nullcontext()
        if self._org_lock is None:
            folder = self.config.get("lead_lock_dir") or None
            self._org_lock = OrgLock(folder, self.runstate.org_id, self.logger)
        return self._org_lock.held()

    def _drain_quiet(self) -> None:
        """No message arrived while records were pending for max_batch_age_seconds."""
        self.logger.debug("No input for max_batch_age_seconds: writing the pending batch.")
        self.drain_all()
        self._end_if_halted()

    # -- STATE in and out (sdk_hooks.StateIn, StateOut) -------------------------------------

    def state_received(self, message_dict: dict) -> dict:
        """Take the target's section (its waiting records) out of a STATE message."""
        state = message_dict.get("value")
        if not isinstance(state, dict):
            return message_dict
        rest, loaded = self.runstate.absorb(state)
        if loaded is not None:
            self._take_waiting(loaded)
        return {**message_dict, "value": rest}

    def state_changed(self) -> None:
        """With drain_on_state, a new STATE writes what is pending (and is then emitted)."""
        if not self.drain_on_state:
            return
        left = self.batch_age_left()
        if left is not None and left > 0 and not self.halt.reason:
            # A young batch is held (with this STATE) until max_batch_age_seconds: a tap that
            # sends STATE often would otherwise cost a look-up and a write per STATE.
            return
        self.drain_all()
        self._end_if_halted()

    def _end_if_halted(self) -> None:
        """With drain_on_state, end a run whose last batch could not be written."""
        if self.drain_on_state and self.halt.reason:
            # A long-lived run that stopped writing would hold every later record back
            # until restarted: end it now, so its supervisor sees it and restarts it.
            self.fatal(
                self.exit_code or 1,
                f"{self.halt.reason}. The long-lived run ends here "
                "without emitting its STATE, so the tap sends its records again "
                "when the job is started again (nothing is lost).",
            )

    def state_to_emit(self, state: dict) -> dict | None:
        """The STATE with the waiting list, or None when it is withheld.

        Withheld: dry run, writing halted, too many rejects at the end.
        """
        if (
            self.dry_run
            or self.halt.reason
            or (self._at_end and self.ledger.reject_share_exceeded())
        ):
            if not self._state_withheld:
                self._say_withheld()
            self._state_withheld = True
            return None
        blob = self.ledger.bound_waiting()
        if self.drain_on_state and not self._at_end:
            self._write_open_lists()
        return self.runstate.emit(state, blob)

    def _say_withheld(self) -> None:
        """Why no STATE is emitted, the first time (too many rejects: said at the end)."""
        if self.dry_run:
            self.logger.info(
                "Dry run: no state is emitted, so bookmarks and waiting records stay as they were."
            )
        elif self.halt.reason:
            self.logger.warning(
                "State withheld: some records were not written (%s).", self.halt.reason
            )

    def _write_open_lists(self) -> None:
        """The waiting and problems files as they are now.

        Also mid-run, with drain_on_state: a long-lived run never reaches its end.
        """
        if self._runstate is not None and not self.dry_run:
            self.report.write_waiting(self._runstate.waiting)
            self.report.write_problems(self._runstate.waiting)

    # -- the run ----------------------------------------------------------------------------

    def run(self, file_input: t.IO[str] | None = None) -> None:
        """A run: refused while another is live; private files, no dead runs' secrets left."""
        # What this process creates (output files, hash store, describe cache) is 0600/0700.
        umask = os.umask(0o077)
        hashes = self.connector.state_path
        lock = RunLock(lock_path(hashes))
        try:
            try:
                lock.acquire(self.run_id)
            except RunLockHeld as exc:
                self.logger.error("%s", exc)
                sys.exit(EXIT_LIVE_RUN)
            secure_files(self.report, hashes, self.connector.describe_dir, self.logger)
            self.listen(file_input)
        finally:
            lock.release()
            os.umask(umask)

    @override
    def process_endofpipe(self) -> None:
        """The SDK's end of input (last batches, last STATE), then the run's summary."""
        self._at_end = True
        try:
            super().process_endofpipe()
        finally:
            self._finish()
        if self.exit_code:
            sys.exit(self.exit_code)

    def _finish(self, status: str | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        self.progress.stop()
        runstate = self._runstate
        waiting_now = len(runstate.waiting) if runstate else 0
        self.exit_code = run_end.exit_code(
            self.exit_code,
            self.report.config_problems,
            self.halt,
            self.ledger.reject_share_exceeded(),
        )
        totals = self.report.totals()
        if status is None:
            status = (
                "failed"
                if self.exit_code
                else ("warning" if (totals["waiting"] or self.halt.reason) else "ok")
            )
        usage = self.connector.usage()
        summary = self.report.summary(
            api_calls=usage["api_calls"],
            dry_run=self.dry_run,
            status=status,
            exit_code=self.exit_code,
            waiting_now=waiting_now,
            waiting={
                "total": waiting_now,
                "this_run": totals["waiting"],
                "by_reason": runstate.waiting.reasons() if runstate else {},
            },
            state_emitted=not self._state_withheld,
            api_calls_by_kind=usage["api_calls_by_kind"],
            halted=self.halt.reason,
            bulk_wait_seconds=usage["bulk_wait_seconds"],
        )
        self.report.write_summary(summary)
        self._write_open_lists()
        self.report.close()
        self.hashes.close()
        # The run report (the target's summary with the tap's and the mapper's) goes to the
        # run history once written, then is printed.
        self.run_report = finish_run_report(
            self.config,
            summary,
            client=self.connector.used_client,
            waiting_first_seen=[e.first_seen for e in runstate.waiting.entries.values()]
            if runstate is not None
            else [],
            started_at=self.started_at,
            logger=self.logger,
            after_write=lambda r: run_end.record_history(self.config, r, self.run_id, self.logger),
        )
        run_end.explain(summary, self.config, self.exit_code, self.halt, self.logger)


__all__ = ["TargetSalesforceLeads", "AuthError", "RetriesExhausted"]


if t.TYPE_CHECKING:
    from target_salesforce_leads.roles import SinkTarget

    def _gives_its_sinks_what_they_use(target: TargetSalesforceLeads) -> SinkTarget:
        return target  # checked by mypy: the Target is what roles.SinkTarget says
