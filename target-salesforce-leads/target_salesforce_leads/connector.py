"""The connector: the target's one connection to an org, its describes and the Ids it wrote.

Sinks and the domain modules speak to Salesforce through it (never through the Target): it
owns the Salesforce client (made on first use), this run's describe cache (backed by the
client's between-runs cache) and the cache of Ids written in this run.
"""

from __future__ import annotations

import collections
import logging
import typing as t
from pathlib import Path

from salesforce_client.client import SalesforceClient
from salesforce_client.errors import SalesforceError

from target_salesforce_leads.lookups import find_records
from target_salesforce_leads.validation import ObjectSchema, Rejection

ID_CACHE_SIZE = 50_000
DEFAULT_STATE_PATH = ".target-salesforce-leads/hashes.sqlite"
ENV_PREFIX = "TARGET_SALESFORCE_LEADS_"


class SalesforceConnector:
    """The Salesforce client, describe cache and id cache of one target run."""

    def __init__(self, config: t.Mapping[str, t.Any], logger: logging.Logger, name: str) -> None:
        """Settings are read from ``config``; nothing is sent before :attr:`client` is used."""
        self.config = config
        self.logger = logger
        self.name = name
        self.soql_max_length = int(config.get("soql_max_length") or 15000)
        self.bulk_max_bytes = int(config.get("bulk_max_bytes") or 90_000_000)
        self.bulk_poll_max_seconds = float(config.get("bulk_poll_max_seconds") or 3600)
        self.state_path = Path(config.get("state_path") or DEFAULT_STATE_PATH)
        self._client: SalesforceClient | None = None
        self._schemas: dict[str, ObjectSchema | Rejection] = {}
        self._cached_schemas: set[str] = set()
        self._ids: collections.OrderedDict[tuple[str, str, str], str] = collections.OrderedDict()

    # -- the client -------------------------------------------------------------------------

    @property
    def client(self) -> SalesforceClient:
        """The Salesforce client (made on first use)."""
        if self._client is None:
            self._client = SalesforceClient(
                self.config,
                self.logger,
                user_agent=self.name,
                env_prefix=ENV_PREFIX,
                describe_dir=self.describe_dir,
            )
        return self._client

    @property
    def used_client(self) -> SalesforceClient | None:
        """The client if this run made one (None: no call was made)."""
        return self._client

    @property
    def describe_dir(self) -> Path:
        """The folder of the client's between-runs describe cache (next to state_path)."""
        return self.state_path.parent / "describe"

    def log_in(self) -> str:
        """Log in (raises ``AuthError``); answer the key the org's state is kept under."""
        self.client.auth.token()
        return self.client.auth.org_key

    def usage(self) -> dict[str, t.Any]:
        """The run's API calls, by kind, and the seconds spent waiting for Bulk jobs."""
        client = self._client
        return {
            "api_calls": client.api_calls if client else 0,
            "api_calls_by_kind": client.calls_by_kind if client else {},
            "bulk_wait_seconds": round(client.bulk_wait_seconds, 2) if client else 0.0,
        }

    # -- describes --------------------------------------------------------------------------

    def object_schema(self, sobject: str, fresh: bool = False) -> ObjectSchema | Rejection:
        """The sObject's describe (once per run, cached between runs), or why it cannot be written.

        ``fresh`` asks for one from Salesforce (not the between-runs cache) unless this run
        already fetched one.
        """
        if fresh and sobject in self._cached_schemas:
            self._cached_schemas.discard(sobject)
            self._schemas.pop(sobject, None)
        elif sobject in self._schemas:
            fresh = False
        if sobject not in self._schemas:
            self._schemas[sobject] = self._describe(sobject, fresh)
        return self._schemas[sobject]

    def _describe(self, sobject: str, fresh: bool) -> ObjectSchema | Rejection:
        try:
            body, cached = self.client.describe(sobject, fresh=fresh)
        except SalesforceError as exc:
            if exc.status not in (400, 404):
                raise
            return Rejection(
                "INVALID_TYPE",
                f"sObject type '{sobject}' does not exist or is not accessible ({exc.code}); "
                "create it or grant access, or map the stream with stream_settings.",
            )
        if cached:
            self._cached_schemas.add(sobject)
        return ObjectSchema.from_describe(body)

    def schema_or_none(self, sobject: str) -> ObjectSchema | None:
        """The sObject's describe, or None when it cannot be written."""
        schema = self.object_schema(sobject)
        return schema if isinstance(schema, ObjectSchema) else None

    @property
    def cached_schemas(self) -> set[str]:
        """SObjects whose describe this run came from the between-runs cache."""
        return self._cached_schemas

    def refresh_cached(self) -> None:
        """Fetch fresh every describe this run took from the between-runs cache."""
        for sobject in list(self._cached_schemas):
            self.object_schema(sobject, fresh=True)

    def forget_describe(self, sobject: str) -> None:
        """Drop the between-runs describe of ``sobject`` (a write found it out of date)."""
        self.client.forget_describe(sobject)

    # -- ids written in this run ------------------------------------------------------------

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

    def known_ids(self, sobject: str, field: str, todo: dict[str, str]) -> dict[str, str]:
        """Move from ``todo`` (lower value -> value) the values written in this run; their Ids."""
        found: dict[str, str] = {}
        low_field = field.lower()
        for low in list(todo):
            cached = self._ids.get((sobject, low_field, low))
            if cached:
                found[low] = cached
                del todo[low]
        return found

    # -- writes and reads -------------------------------------------------------------------

    def use_bulk(self, count: int) -> bool:
        """Whether a write of ``count`` records goes by Bulk API 2.0 (``transport``)."""
        transport = self.config.get("transport") or "auto"
        if transport == "bulk":
            return True
        if transport == "rest":
            return False
        return count >= int(self.config.get("bulk_threshold") or 2000)

    def find(
        self,
        sobject: str,
        select: list[str],
        criteria: dict[str, t.Iterable[t.Any]],
        allow_scan: bool = True,
    ) -> list[dict[str, t.Any]]:
        """``lookups.find_records`` with this run's client and SOQL length limit."""
        return find_records(
            self.client, sobject, select, criteria, self.soql_max_length, allow_scan=allow_scan
        )
