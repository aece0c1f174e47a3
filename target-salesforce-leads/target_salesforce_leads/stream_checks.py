"""Before a stream's first record: can the org take what it writes? (a fresh describe)."""

from __future__ import annotations

import json
import logging
import typing as t

from salesforce_client.errors import RetriesExhausted, SalesforceError

from target_salesforce_leads.checks import (
    Problem,
    blocking,
    check_stream,
    missing_object,
    properties_of,
)
from target_salesforce_leads.validation import Rejection

if t.TYPE_CHECKING:
    from target_salesforce_leads.connector import SalesforceConnector
    from target_salesforce_leads.sinks import SalesforceSink


class Refusal(t.NamedTuple):
    """The run cannot start writing a stream: exit ``code`` with ``message``."""

    code: int
    message: str


class StreamChecks:
    """Checks each (stream, schema) once against the org, by the connector's describes."""

    def __init__(
        self, connector: SalesforceConnector, config: t.Mapping[str, t.Any], logger: logging.Logger
    ) -> None:
        """Problems are judged by ``connector``'s describes; on_unwritable comes from ``config``."""
        self.connector = connector
        self.config = config
        self.logger = logger
        # (stream, schema) pairs checked against the org: a changed schema is checked again.
        self._checked: set[tuple[str, str]] = set()

    def refusal(self, sink: SalesforceSink) -> Refusal | None:
        """Why the run must stop before writing ``sink``'s stream, or None.

        With on_unwritable=reject its problems are logged and its records rejected.
        """
        seen = (sink.stream_name, json.dumps(sink.schema, sort_keys=True, default=str))
        if seen in self._checked:
            return None
        self._checked.add(seen)
        try:
            problems = self.problems(sink)
            if problems and self.connector.cached_schemas:
                # Judged by a describe from the between-runs cache: fetch it fresh, judge again.
                self.connector.refresh_cached()
                problems = self.problems(sink)
        except (RetriesExhausted, SalesforceError) as exc:
            return Refusal(
                1,
                f"Could not read the {sink.sobject} describe from Salesforce ({exc}), "
                "so the run stopped before writing any record (bookmarks unchanged). "
                "Check Salesforce's status page and run again.",
            )
        if not problems:
            return None
        if self.config.get("on_unwritable", "stop") == "reject":
            for p in problems:
                self.logger.warning(
                    "Stream %s: %s. Its records are rejected. Fix: %s",
                    sink.stream_name,
                    p.line(),
                    p.fix,
                )
            return None
        lines = "\n".join(f"  - {p.line()}. Fix: {p.fix}" for p in problems)
        return Refusal(
            2,
            f"Salesforce cannot take what stream {sink.stream_name} writes to "
            f"{sink.sobject}, so the run stopped before writing any record "
            f"(bookmarks unchanged):\n{lines}\nFix these in Setup, then run "
            "again (check with --preflight); nothing is lost.",
        )

    def problems(self, sink: SalesforceSink) -> list[Problem]:
        """What stops the org from taking this stream's records (blocking problems only)."""
        schema = self.connector.object_schema(sink.sobject)
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
                lookup=self.connector.schema_or_none,
            )
        )
