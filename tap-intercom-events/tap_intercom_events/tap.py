"""TapIntercomEvents: settings, streams and the resources every stream shares.

One module (over 400 lines): the Tap class, whose settings schema alone is 200 lines.
"""

from __future__ import annotations

import copy
import datetime
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from intercom_client.errors import AuthError, FatalError, RetriesExhaustedError
from intercom_client.governor import GovernedSession, RateGovernor
from intercom_client.regions import REGION_HOSTS
from intercom_client.retry import RetryPolicy
from intercom_client.versions import DEFAULT_VERSION
from singer_kit.entry import run_cli
from singer_kit.progress import DEFAULT_INTERVAL
from singer_kit.summary import write_summary
from singer_kit.writer import LeanSingerWriter
from singer_sdk import Tap
from singer_sdk import typing as th
from typing_extensions import override

from tap_intercom_events import streams
from tap_intercom_events.client import IntercomStream
from tap_intercom_events.inbox_mode import InboxReader
from tap_intercom_events.progress import Progress
from tap_intercom_events.sdk_hooks import EnvNumbers, RunEntry, TerminationAfterWrite
from tap_intercom_events.summary import SyncSummary

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

DAY = 86_400
#: Refresh the tag list at most this often when a contact carries an unknown tag.
TAG_REFRESH_SECONDS = 60.0
STREAM_ORDER = [
    "admins",
    "teams",
    "tags",
    "companies",
    "contacts",
    "contact_event_summaries",
    "conversations",
    "conversation_parts",
]


class TapIntercomEvents(RunEntry, EnvNumbers, TerminationAfterWrite, Tap):
    """Singer tap for Intercom: contacts, companies, conversations and their parts."""

    name = "tap-intercom-events"
    message_writer_class = LeanSingerWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "access_token",
            th.StringType,
            required=True,
            secret=True,
            description=(
                "Access token of your Intercom app (Developer Hub > your app > Authentication). "
                "Set it through TAP_INTERCOM_EVENTS_ACCESS_TOKEN, never in a committed file."
            ),
        ),
        th.Property(
            "region",
            th.StringType,
            default="us",
            allowed_values=list(REGION_HOSTS),
            description=(
                "Where the workspace is hosted: us (api.intercom.io), eu (api.eu.intercom.io) "
                "or au (api.au.intercom.io). EU and AU workspaces only answer on their own host."
            ),
        ),
        th.Property(
            "api_url",
            th.StringType,
            description=(
                "Base URL of the API, overriding `region` (for a proxy or the local emulator), "
                "e.g. http://127.0.0.1:8080."
            ),
        ),
        th.Property(
            "intercom_version",
            th.StringType,
            default=DEFAULT_VERSION,
            description="Intercom API version sent in the Intercom-Version header.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description=(
                "Read contacts and conversations updated at or after this time on the first "
                "sync (RFC 3339). Without it the first sync reads everything."
            ),
        ),
        th.Property(
            "lookback_window",
            th.IntegerType(minimum=0),
            default=600,
            description=(
                "Seconds kept behind the newest searchable update when the bookmark is saved. "
                "Covers Intercom's search-index delay (new records can take minutes to become "
                "searchable); records updated in that window are read again next sync."
            ),
        ),
        th.Property(
            "emitted_memory_size",
            th.IntegerType(minimum=0),
            default=10000,
            description=(
                "Records per incremental stream whose id and updated_at the state remembers "
                "once emitted (those of the lookback window), so that unchanged ones and their "
                "children are not emitted again. Beyond it the oldest are forgotten and emitted "
                "again; 0 turns the memory off."
            ),
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=150),
            default=150,
            description="Records per page for list and search calls (Intercom allows 1-150).",
        ),
        th.Property(
            "max_concurrency",
            th.IntegerType(minimum=1, maximum=200),
            default=20,
            description=(
                "Conversations whose parts are fetched at the same time (one call each). "
                "The rate governor still keeps the total within the rate limit."
            ),
        ),
        th.Property(
            "rate_limit_share",
            th.NumberType(exclusive_minimum=0, maximum=1),
            default=1.0,
            description=(
                "Fraction (0-1] of the app's rate limit this tap may use, leaving the rest to "
                "other users of the same app."
            ),
        ),
        th.Property(
            "fetch_event_summaries",
            th.BooleanType,
            default=False,
            description=(
                "Emit contact_event_summaries (data-event name, first, last, count per contact) "
                "for every contact read. Costs one API call per contact."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="tap-intercom-events",
            description="User-Agent header sent with every request.",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=60,
            description="Seconds to wait for one answer before retrying the request.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            default=8,
            description=(
                "Retries of one request after 5xx answers, timeouts or dropped connections. "
                "Rate-limit answers (429) are not counted: they are waited out, bounded by "
                "max_retry_seconds."
            ),
        ),
        th.Property(
            "max_retry_seconds",
            th.IntegerType(minimum=1),
            default=300,
            description=(
                "Longest time spent retrying one request, including waiting out Intercom's rate "
                "limit (429: until the window resets, however many come), before the sync stops "
                "with an error saying why."
            ),
        ),
        # Inbox mode (real time): see inbox_mode.py and the README.
        th.Property(
            "inbox_url",
            th.StringType,
            description=(
                "Inbox of webhook notifications to read instead of searching (inbox mode): "
                "sqlite:///PATH or postgresql://USER@HOST/DB (password in PGPASSWORD, not here). "
                "The tap emits the contacts and conversations the notifications name, re-read "
                "by id; its state holds the inbox offset."
            ),
        ),
        th.Property(
            "follow",
            th.BooleanType,
            default=False,
            description=(
                "Inbox mode: keep running and polling the inbox for new notifications (true), "
                "or exit once it is drained (false)."
            ),
        ),
        th.Property(
            "poll_interval_seconds",
            th.NumberType(exclusive_minimum=0),
            default=1.0,
            description="Inbox mode with follow: seconds between polls of an inbox found empty.",
        ),
        th.Property(
            "inbox_batch_size",
            th.IntegerType(minimum=1),
            default=500,
            description=(
                "Inbox mode: most notifications per batch. A batch is coalesced (one re-read "
                "per contact or conversation however many notifications name it), emitted, "
                "then followed by a STATE with its offset."
            ),
        ),
        th.Property(
            "coalesce_seconds",
            th.NumberType(minimum=0),
            default=0.0,
            description=(
                "Inbox mode with follow: seconds a batch smaller than inbox_batch_size waits "
                "after its first notification arrived, for more about the same items (fewer "
                "re-reads in bursts, that much more latency)."
            ),
        ),
        th.Property(
            "progress_interval_seconds",
            th.IntegerType(minimum=0),
            default=DEFAULT_INTERVAL,
            description=(
                "Seconds between progress lines (per stream: records read, rate, and where "
                "Intercom gives the total, percent and time left); 0 turns them off."
            ),
        ),
        th.Property(
            "metrics_log_level",
            th.StringType,
            default="INFO",
            allowed_values=["DEBUG", "INFO", "WARNING", "ERROR"],
            description=(
                "Level of the SDK's METRIC log lines (record counts and request timings); "
                "WARNING or ERROR turns them off."
            ),
        ),
        th.Property(
            "summary_file",
            th.StringType,
            default="output/tap-intercom-events-summary.json",
            description=(
                "File replaced at the end of every sync with its summary as JSON: records and "
                "API calls per stream, answers 429, rate-limit use, status (ok or failed) and "
                "the error. Empty: not written."
            ),
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics_logger.setLevel(str(self.config.get("metrics_log_level") or "INFO").upper())

    @override
    def discover_streams(self) -> list[Stream]:
        """The streams, in the order of the catalog (children after their parents)."""
        return [
            streams.AdminsStream(self),
            streams.TeamsStream(self),
            streams.TagsStream(self),
            streams.CompaniesStream(self),
            streams.ContactsStream(self),
            streams.ContactEventSummariesStream(self),
            streams.ConversationsStream(self),
            streams.ConversationPartsStream(self),
        ]

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """Streams in catalog order (the SDK sorts them by name)."""
        found = super().streams
        if list(found) != STREAM_ORDER[: len(found)]:
            rank = {name: index for index, name in enumerate(STREAM_ORDER)}
            self._streams = dict(sorted(found.items(), key=lambda kv: rank.get(kv[0], 99)))
        return self._streams  # type: ignore[return-value]

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        """Keep the bookmarks (as the SDK does) and every other top-level key untouched.

        A Meltano pipeline keeps one state for the whole run; the mapper and the target store
        their own sections in it (e.g. ``target-salesforce-leads``). They only get those
        sections back through the tap's STATE messages, so every STATE the tap writes carries
        them unchanged. The SDK writes the loaded state once before the first stream, so the
        sections reach the downstream plugins before any record.
        """
        super().load_state(state)
        for key, value in state.items():
            if key != "bookmarks":
                # The SDK's TapState names only "bookmarks"; the other sections are the tap's.
                self.state[key] = copy.deepcopy(value)  # type: ignore[literal-required]

    def run(self) -> None:
        """Sync, then report how the rate budget was used and write the summary file.

        Every selected stream, with progress lines (or, with ``inbox_url``, what the inbox's
        notifications name: its batch lines are the progress).

        The CLI's sync command calls this (see :class:`~tap_intercom_events.sdk_hooks.RunEntry`);
        it wraps the SDK's ``sync_all``.
        """
        error: BaseException | None = None
        try:
            if self.config.get("inbox_url"):
                self._reset_state_progress_markers()
                if self.state:
                    self.state_writer.write_state(self.state)
                InboxReader(self).run()
            else:
                self.progress.start()
                self.sync_all()
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.progress.stop()
            self.progress.finish_all()
            pool = self.__dict__.pop("_pool", None)  # the parts threads: let the process end
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            stats = self.governor.stats()
            self.logger.info(
                "Intercom API use: %d requests, %d answered 429, %.1f s spent pacing",
                stats["requests"],
                stats["throttled"],
                stats["waited_seconds"],
            )
            self._write_summary(stats, error)

    def _write_summary(self, stats: dict[str, t.Any], error: BaseException | None) -> None:
        summary = self.sync_summary
        for stream, count in getattr(self.message_writer, "records", {}).items():
            summary.records[stream] = count
        path = self.config.get("summary_file")
        try:
            write_summary(
                path,
                summary.as_dict(stats, float(self.config.get("rate_limit_share") or 1.0), error),
            )
        except OSError as exc:
            self.logger.warning("Could not write the summary to %s (%s).", path, exc)

    @cached_property
    def sync_summary(self) -> SyncSummary:
        """Records and calls per stream in this run."""
        return SyncSummary()

    #: True while inbox mode emits a batch: the streams' own STATE messages are left out, the
    #: batch ends with one carrying its offset.
    defer_state = False

    # Resources shared by every stream and thread.

    @cached_property
    def progress(self) -> Progress:
        """The progress meters of this run, one per stream."""
        interval = self.config.get("progress_interval_seconds")
        return Progress(self.logger, DEFAULT_INTERVAL if interval is None else float(interval))

    @cached_property
    def governor(self) -> RateGovernor:
        """The one rate governor of this run."""
        return RateGovernor(share=float(self.config.get("rate_limit_share") or 1.0))

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """Retry bounds of every request (``max_retries``, ``max_retry_seconds``)."""
        return RetryPolicy.from_config(self.config)

    @cached_property
    def _local(self) -> threading.local:
        return threading.local()

    def session(self) -> GovernedSession:
        """This thread's HTTP session (connection pools are per thread)."""
        local = self._local
        session = getattr(local, "session", None)
        if session is None:
            session = GovernedSession(self.governor)
            local.session = session
        return session

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        workers = max(1, int(self.config.get("max_concurrency") or 20))
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parts")

    def parts_pool(self) -> ThreadPoolExecutor:
        """Threads fetching conversation parts."""
        return self._pool

    @cached_property
    def _shared_lock(self) -> threading.Lock:
        return threading.Lock()

    def workspace_timezone(self, stream: IntercomStream) -> ZoneInfo | None:
        """The workspace's timezone from ``GET /me`` (None when unknown)."""
        with self._shared_lock:
            if not hasattr(self, "_timezone"):
                try:
                    me = stream.call_api("GET", "/me")
                except FatalError as exc:
                    if isinstance(exc, AuthError | RetriesExhaustedError):
                        raise
                    me = None  # e.g. a token without access to /me: widen instead
                name = ((me or {}).get("app") or {}).get("timezone")
                try:
                    self._timezone: ZoneInfo | None = ZoneInfo(name) if name else None
                except (ZoneInfoNotFoundError, ValueError):
                    self._timezone = None
                if self._timezone is None:
                    self.logger.warning(
                        "Intercom did not report a known workspace timezone (%r); search "
                        "windows are widened by a whole day on each side instead",
                        name,
                    )
            return self._timezone

    def search_value_before(self, floor: int, stream: IntercomStream) -> int:
        """A timestamp for ``updated_at > value`` that matches everything from ``floor`` on.

        Search compares whole calendar days in the workspace's timezone: ``> v`` matches from
        the start of the day after the day of ``v``. The last second of the day before the
        floor's day therefore covers the floor's whole day.
        """
        if floor <= 0:
            return 0
        tz = self.workspace_timezone(stream)
        if tz is None:
            return max(floor - 2 * DAY, 0)
        local = datetime.datetime.fromtimestamp(floor, tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return max(int(midnight.timestamp()) - 1, 0)

    def remember_tag_names(self, names: dict[str, t.Any]) -> None:
        """Tag id to name as the ``tags`` stream just read them (no second ``GET /tags``)."""
        self._tag_names = names
        self._tags_loaded_at = time.monotonic()

    def tag_names(self, stream: IntercomStream) -> dict[str, str]:
        """Tag id to name, from ``GET /tags``.

        Read once per run, by the ``tags`` stream when it is selected.
        """
        names = getattr(self, "_tag_names", None)
        if names is None:
            names = self._load_tags(stream)
        return names

    def tag_name(self, tag_id: str | None, stream: IntercomStream) -> str | None:
        """Name of a tag unknown so far: reread the tags (not more than once a minute)."""
        if tag_id is None:
            return None
        if time.monotonic() - getattr(self, "_tags_loaded_at", 0.0) > TAG_REFRESH_SECONDS:
            self._load_tags(stream)
        return self._tag_names.get(tag_id)

    def _load_tags(self, stream: IntercomStream) -> dict[str, str]:
        try:
            payload = stream.call_api("GET", "/tags")
        except FatalError as exc:
            if isinstance(exc, AuthError | RetriesExhaustedError):
                raise
            self.logger.warning(
                "Could not read the tag list (%s); contacts' tags are emitted without names. "
                "Give the token access to tags to get them.",
                exc,
            )
            payload = {}
        names = {str(tag.get("id")): tag.get("name") for tag in payload.get("data") or []}
        self.remember_tag_names(names)
        return names


def main() -> None:
    """The console script: the command line, then a quick end (:mod:`singer_kit.entry`)."""
    run_cli(TapIntercomEvents.cli)


if __name__ == "__main__":
    main()
