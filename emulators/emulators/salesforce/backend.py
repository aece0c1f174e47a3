"""The state of one emulated org (moto's "backend"): settings, schema, store, tokens, budget.

Handlers, the admin calls and the app all work on one ``Emulator``; it imports none of them.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators.core.faults import FaultList
from emulators.core.requestlog import RequestLog
from emulators.core.routing import ApiRoute, Resolved, resolve
from emulators.salesforce import soql
from emulators.salesforce.bulk import BulkEngine
from emulators.salesforce.metadata import SObject
from emulators.salesforce.schema import SchemaError, apply_overrides, load_schema
from emulators.salesforce.store import Store, now_iso

PAGE_SIZE = 2000
DATA_PREFIX = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
COLLECTION_LIMIT = 200


@dataclass
class Settings:
    """Everything the command line can set."""

    data_dir: Path
    api_version: str = "62.0"
    daily_api_limit: int = 100_000
    token_ttl: float = 7200.0
    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"
    username: str = "integration@emulator.local"
    password: str = "emulator"
    refresh_token: str = "emulator-refresh-token"
    schema_files: list[Path] = field(default_factory=list)
    bulk_rate: float | None = None
    org_id: str | None = None
    drop_fields: list[str] = field(default_factory=list)
    picklists: list[str] = field(default_factory=list)
    restricted_picklists: list[str] = field(default_factory=list)
    read_only_fields: list[str] = field(default_factory=list)
    # The Sforce-Limit-Info value; {used}, {max} and {remaining} are filled in per response.
    limit_info_format: str = "api-usage={used}/{max}"


DEFAULT_LIMIT_INFO = "api-usage={used}/{max}"


def check_limit_info_format(template: str) -> str:
    """The template when it formats, else ValueError saying what is wrong."""
    try:
        text = template.format(used=1, max=2, remaining=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"limit info format {template!r} cannot be filled in ({exc!r}); use the "
            "placeholders {used}, {max} and {remaining}, e.g. "
            "'api-usage={used}/{max}; per-app-api-usage={used}/250(appName=sample-app)'"
        ) from None
    if not text.strip() or any(c in text for c in "\r\n"):
        raise ValueError(f"limit info format {template!r} must be one non-empty line")
    return template


def release_label(version: str) -> str:
    """Salesforce's release name for an API version (62.0 is Winter '25)."""
    step = 62 - int(float(version))
    season = ["Winter", "Summer", "Spring"][step % 3]
    return f"{season} '{25 - (step + 2) // 3:02d}"


class Emulator:
    """State shared by all requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.initial = dataclasses.replace(settings)  # what POST /_emulator/reset goes back to
        self.objects = load_schema(settings.schema_files)
        apply_overrides(
            self.objects,
            settings.drop_fields,
            settings.picklists,
            settings.restricted_picklists,
            settings.read_only_fields,
        )
        self.store = Store(settings.data_dir, self.objects)
        try:
            self.org_id = self.store.org_id(settings.org_id)
        except ValueError as exc:
            raise SchemaError(f"--org-id: {exc}") from None
        for obj in self.objects.values():
            self.schema_changed(obj, at_start=True)
        self.bulk = BulkEngine(self.store, self.take_lock_fault, settings.data_dir / "bulk")
        self.bulk.rate = settings.bulk_rate
        self.tokens: dict[str, dict[str, Any]] = {}
        revoked = self.store.meta_get("revoked_refresh_tokens")
        self.revoked_refresh: set[str] = set(json.loads(revoked)) if revoked else set()
        self.limit = settings.daily_api_limit
        stored_limit = self.store.meta_get("daily_api_limit")
        if stored_limit and settings.daily_api_limit == 100_000:
            self.limit = int(stored_limit)
        self.initial_limit = self.limit
        usage = json.loads(self.store.meta_get("api_usage") or "{}")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.usage_day = today
        self.used = int(usage.get("used", 0)) if usage.get("day") == today else 0
        self._usage_flushed = time.monotonic()
        self.limit_info_format = check_limit_info_format(settings.limit_info_format)
        self.replication_id_limit = 600_000
        self.log = RequestLog(maxlen=10_000, stamp=now_iso, reset_clears_log=False)
        self.faults = FaultList()
        self.lock_faults = 0
        self.expire_after: int | None = None
        self.locators: collections.OrderedDict[str, tuple[soql.Query, list[str], bool]] = (
            collections.OrderedDict()
        )
        # The data API routes; the app gives them (composite subrequests resolve with them).
        self.routes: list[ApiRoute] = []

    # -- budget --------------------------------------------------------------------------------
    def spend(self) -> bool:
        """Spend one call from the daily budget; False when it is gone."""
        today = time.strftime("%Y-%m-%d", time.gmtime())
        if today != self.usage_day:
            self.usage_day, self.used = today, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        if time.monotonic() - self._usage_flushed > 1.0:
            self.flush_usage()
        return True

    def flush_usage(self) -> None:
        """Keep the budget spent today in the data dir."""
        self.store.meta_set("api_usage", json.dumps({"day": self.usage_day, "used": self.used}))
        self._usage_flushed = time.monotonic()

    def limit_header(self) -> dict[str, str]:
        """The ``Sforce-Limit-Info`` header."""
        return {
            "Sforce-Limit-Info": self.limit_info_format.format(
                used=self.used, max=self.limit, remaining=max(self.limit - self.used, 0)
            )
        }

    def take_lock_fault(self) -> bool:
        """True when an injected row-lock fault fires now."""
        if self.lock_faults > 0:
            self.lock_faults -= 1
            return True
        return False

    # -- tokens --------------------------------------------------------------------------------
    def issue_token(self, refresh: str | None) -> str:
        """A new access token (from a refresh token, or None)."""
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        self.tokens[token] = {"expires": time.time() + self.settings.token_ttl, "refresh": refresh}
        return token

    def schema_changed(self, obj: SObject, at_start: bool = False) -> None:
        """Move the describe's Last-Modified forward when its content changed.

        The stamp is kept per data dir with a digest of the describe, so a restart with the
        same metadata keeps it (cached describes stay valid) and any change moves it past
        every earlier stamp (whole seconds, as HTTP dates have).
        """
        key = f"schema:{obj.name}"
        stored = json.loads(self.store.meta_get(key) or "{}")
        signature = obj.signature()
        if at_start and stored.get("signature") == signature:
            obj.modified = int(stored["modified"])
            return
        previous = max(int(stored.get("modified", 0)), obj.modified)
        obj.modified = max(int(time.time()), previous + 1)
        self.store.meta_set(key, json.dumps({"signature": signature, "modified": obj.modified}))

    def restore_schema(self) -> list[str]:
        """Put every sObject's metadata back to what the files and flags gave at start-up.

        Answers the objects that changed. Fields that come back start empty and fields that go
        lose their values, as in Salesforce; fields that stay keep theirs.
        """
        s = self.settings
        fresh = load_schema(s.schema_files)
        apply_overrides(
            fresh, s.drop_fields, s.picklists, s.restricted_picklists, s.read_only_fields
        )
        changed = []
        for name, obj in self.objects.items():
            if name not in fresh or fresh[name].signature() == obj.signature():
                continue
            before = set(obj.fields)
            obj.fields = fresh[name].fields
            obj.index()
            for fname in before ^ set(obj.fields):  # added or removed: values go
                self.store.field_changed(obj, fname, purge=True)
            for fname in before & set(obj.fields):  # kept: flags may have changed
                self.store.field_changed(obj, fname, purge=False)
            self.schema_changed(obj)
            changed.append(name)
        return changed

    def token_valid(self, header: str | None) -> bool:
        """True when an ``Authorization`` header holds a live token."""
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in {"bearer", "oauth"}:
            return False
        info = self.tokens.get(token.strip())
        return bool(info and info["expires"] > time.time())

    def revoke_refresh(self, refresh: str) -> None:
        """Revoke a refresh token and every access token issued from it."""
        self.revoked_refresh.add(refresh)
        self.store.meta_set("revoked_refresh_tokens", json.dumps(sorted(self.revoked_refresh)))
        for token in [t for t, info in self.tokens.items() if info["refresh"] == refresh]:
            del self.tokens[token]

    def expire_tokens(self) -> None:
        """Expire every access token issued so far."""
        for info in self.tokens.values():
            info["expires"] = 0.0

    # -- routing -------------------------------------------------------------------------------
    def match(self, method: str, rest: str) -> Resolved | None:
        """The data API route for ``method`` on ``rest`` (the path after ``/vNN.N``), if any."""
        found = resolve(self.routes, method, rest.rstrip("/") or "/")
        if found.route is None:
            return None
        params = {k: urllib.parse.unquote(v) for k, v in found.params.items()}
        return Resolved(found.route, params)

    def supported_version(self, version: str) -> bool:
        """True for API versions from 20.0 up to the emulated one."""
        try:
            number = float(version)
        except ValueError:
            return False
        return 20.0 <= number <= float(self.settings.api_version) and number.is_integer()


def make_emulator(settings: Settings) -> Emulator:
    """An org over ``settings.data_dir`` (created if missing)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Emulator(settings)
