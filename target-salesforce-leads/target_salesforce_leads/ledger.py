"""Where every record ends: written (settled), waiting (kept in the state) or rejected.

The ledger is the one place a record's outcome is told to the run report and the waiting list
the state carries; it also keeps that list within its limits (age, count, size).
"""

from __future__ import annotations

import typing as t

from target_salesforce_leads.report import RunReport
from target_salesforce_leads.runstate import RunState
from target_salesforce_leads.validation import Rejection
from target_salesforce_leads.waiting import (
    CONFIGURATION_CODES,
    MAX_BLOB_BYTES,
    WAITING_CODES,
    Entry,
    StreamInfo,
    WaitingList,
)


class NotWritten(t.NamedTuple):
    """A record that was not written, and why."""

    stream: str
    key: str | None  # its lower-cased external id (None: it has none)
    ext: t.Any
    sobject: str
    rejection: Rejection
    record: dict[str, t.Any]


class RunLedger:
    """The outcomes of a run's records, into ``report`` and the run state's waiting list."""

    def __init__(
        self,
        report: RunReport,
        config: t.Mapping[str, t.Any],
        run_id: str,
        runstate: t.Callable[[], RunState],
    ) -> None:
        """``runstate`` gives this run's section of the state (logging in on first use)."""
        self.report = report
        self.config = config
        self.run_id = run_id
        self._runstate = runstate

    @property
    def waiting(self) -> WaitingList:
        """The records waiting to be written, this run's and earlier runs'."""
        return self._runstate().waiting

    def not_written(self, nw: NotWritten, info: t.Callable[[], StreamInfo]) -> None:
        """A record was not written: it waits (the cause can go away) or is rejected.

        ``info`` gives the stream's schema and keys, kept with a waiting record.
        """
        rej = nw.rejection
        rejecting = (
            rej.code in CONFIGURATION_CODES and self.config.get("on_unwritable", "stop") == "reject"
        )
        if rej.code in WAITING_CODES and nw.key is not None and not rejecting:
            entry = Entry(
                stream=nw.stream,
                key=nw.key,
                external_id=str(nw.ext),
                sobject=nw.sobject,
                code=rej.code,
                message=rej.message,
                record=nw.record,
                last_run=self.run_id,
            )
            self.waiting.wait(entry, info())
            self.report.wait(nw.stream, nw.sobject, rej.code, rej.message)
            if rej.code in CONFIGURATION_CODES:
                problem = f"{nw.sobject}: {rej.code}: {rej.message}"
                if problem not in self.report.config_problems:
                    self.report.config_problems.append(problem)
            return
        if nw.key is not None:
            self.waiting.settle(nw.stream, nw.key)
        self.report.reject(nw.stream, nw.sobject, nw.ext, rej.code, rej.message, nw.record)

    def settled(self, stream: str, key: str) -> None:
        """A record was written or found unchanged: it no longer waits."""
        self.waiting.settle(stream, key)
        self.report.settled(stream, key)

    def settled_many(self, stream: str, keys: t.Sequence[str]) -> None:
        """``settled`` for each of ``keys``."""
        if not keys:
            return
        waiting = self.waiting
        if len(waiting):
            for key in keys:
                waiting.settle(stream, key)
        self.report.settled_many(stream, keys)

    def expire(self, e: Entry, why: str) -> None:
        """Give a waiting record up: it is reported rejected WAITING_EXPIRED."""
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

    def take_waiting(self, loaded: WaitingList) -> WaitingList:
        """Merge the waiting list a state carried (expiring the old) into this run's; answer it."""
        max_days = float(self.config.get("waiting_max_days", 30) or 30)
        for e in loaded.expired(max_days):
            self.expire(e, f"waited more than {max_days:g} days")
        current = self.waiting
        for key, e in loaded.entries.items():
            current.entries.setdefault(key, e)
        for name, info in loaded.streams.items():
            current.streams.setdefault(name, info)
        return current

    def bound_waiting(self) -> str:
        """Expire what exceeds the limits; the waiting list as the state carries it."""
        waiting = self.waiting
        cap = int(self.config.get("max_waiting_records") or 20_000)
        for e in waiting.over_capacity(cap):
            self.expire(e, f"was one of more than {cap} waiting records (max_waiting_records)")
        blob = waiting.encode() if len(waiting) else ""
        while len(blob) > MAX_BLOB_BYTES:
            for e in waiting.over_capacity(int(len(waiting) * 0.9)):
                self.expire(e, "did not fit the state's size limit for waiting records")
            blob = waiting.encode() if len(waiting) else ""
        return blob

    def reject_share_exceeded(self) -> bool:
        """More than max_reject_share of this run's records (at least 10) were rejected.

        Of the records received in this run: waiting records retried from earlier runs do not
        dilute the share.
        """
        totals = self.report.totals()
        received = totals["received"]
        share = float(self.config.get("max_reject_share", 0.5))
        return totals["rejected"] >= 10 and received > 0 and totals["rejected"] / received > share
