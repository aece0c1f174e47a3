"""What each part of a run uses of the part that drives it, as Protocols.

The Target drives its sinks, a sink its batches, a batch its writer: each driven part names
what it needs of its driver here rather than importing the driver's module (which imports it).
"""

from __future__ import annotations

import logging
import typing as t

from target_salesforce_leads.connector import SalesforceConnector
from target_salesforce_leads.halting import Halt
from target_salesforce_leads.hashes import HashStore
from target_salesforce_leads.ledger import RunLedger
from target_salesforce_leads.progress import Progress
from target_salesforce_leads.rows import Item
from target_salesforce_leads.validation import Rejection
from target_salesforce_leads.waiting import StreamInfo


class RunView(t.Protocol):
    """What a batch uses of the run."""

    dry_run: bool
    skip_unchanged: bool

    def ensure_hash_scope(self) -> None:
        """Bind the hash store to the org and the state's generation."""


class SinkTarget(RunView, t.Protocol):
    """What a sink uses of the Target."""

    connector: SalesforceConnector
    ledger: RunLedger
    hashes: HashStore
    progress: Progress
    halt: Halt

    @property
    def logger(self) -> logging.Logger:
        """The target's logger."""

    @property
    def native_message(self) -> bool:
        """Whether the message being processed was decoded by msgspec."""

    def drain_dependencies(self, sink: t.Any) -> None:
        """Write pending parents before ``sink``'s batch."""

    def lead_lock(self, sink: t.Any) -> t.ContextManager[t.Any]:
        """The org's Lead lock around a batch of ``sink``, when it needs one."""


class SinkParts(t.Protocol):
    """What a batch and its writer both use of the sink's stream and run."""

    connector: SalesforceConnector
    ledger: RunLedger
    hashes: HashStore
    logger: logging.Logger
    stream_name: str
    sobject: str
    key_field: str | None


class WriteOwner(SinkParts, t.Protocol):
    """What a batch's writer uses of the batch."""

    def reject(
        self, item_or_line: Item | int, ext: t.Any, rej: Rejection, sobject: str | None = None
    ) -> None:
        """Account for a record that was not written."""


class BatchOwner(SinkParts, t.Protocol):
    """What a batch uses of its sink."""

    lead_smarts: bool

    @property
    def target(self) -> RunView:
        """The run the sink writes for."""

    def stream_info(self) -> StreamInfo:
        """The stream's schema and keys, as a waiting record keeps them."""
