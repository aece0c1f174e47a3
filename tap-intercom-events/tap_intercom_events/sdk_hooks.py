"""Every override of a private Singer SDK method, in one place (singer-sdk ~=0.54.9).

The SDK offers no public hook for these; each mixin names the SDK method it mirrors and why the
tap needs it. ``tests/test_sdk_hooks.py`` fails, naming the method, when an SDK release no longer
has one of them (or changed its signature), and when a private override appears elsewhere.
The CLI entry is here too: the SDK's ``Tap.invoke`` ends in the ``@final`` ``Tap.sync_all``,
and the tap's run wraps that call rather than overriding it.
"""

from __future__ import annotations

import contextlib
import typing as t
from functools import cached_property

from intercom_client.errors import IntercomError
from singer_kit.env_config import EnvNumbers as EnvNumbers  # the shared hook, re-exported
from singer_kit.fatal import last_word
from singer_sdk import Tap, metrics
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.helpers._util import load_json, utc_now
from singer_sdk.plugin_base import PluginBase
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams import RESTStream, Stream
from typing_extensions import override

from tap_intercom_events.fatal import paragraph

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterator
    from types import FrameType

    from singer_sdk.helpers.types import Context, Record

    from tap_intercom_events.progress import Meter

    _StreamBase = RESTStream[t.Any]
    _TapBase = Tap
else:
    _StreamBase = object
    _TapBase = object


class LeanRecordMessages(_StreamBase):
    """Mirrors ``Stream._generate_record_messages``: the per-record hot path.

    When no property is deselected, the records already match the schema: the SDK's walk over
    the selection mask for every record is skipped. Fields newer than the schema are dropped
    (as the SDK would) and reported once.
    """

    @cached_property
    def _everything_selected(self) -> bool:
        return all(self.mask.values())

    @cached_property
    def _schema_keys(self) -> frozenset[str]:
        return frozenset(self.schema.get("properties") or ())

    @cached_property
    def _reported_fields(self) -> set[str]:
        return set()

    @override
    def _generate_record_messages(self, record: dict) -> Generator[RecordMessage, None, None]:
        if not self._everything_selected:
            yield from super()._generate_record_messages(record)
            return
        extra = record.keys() - self._schema_keys
        if extra:
            # Fields newer than the schema: dropped (as the SDK would), reported once.
            for key in extra:
                del record[key]
            names = ",".join(sorted(extra))
            if names not in self._reported_fields:
                self._reported_fields.add(names)
                self.logger.warning(
                    "%s: dropping fields not in the schema: %s", self.name, sorted(extra)
                )
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )


class DeferredState(_StreamBase):
    """Mirrors ``Stream._write_state_message``: left out while inbox mode emits a batch.

    Inbox mode writes one STATE per batch, after all of its records (see inbox_mode), carrying
    the inbox offset; the streams' own STATE messages in between would not.
    """

    @override
    def _write_state_message(self) -> None:
        if self._tap.defer_state:  # type: ignore[attr-defined]
            return
        super()._write_state_message()


class ChildrenAfterRecord(_StreamBase):
    """Mirrors ``Stream._write_record_message``: a record's children synced right after it.

    The SDK syncs children before it writes the parent's record; downstream consumers of this
    tap (the mapper) need the parent first. ``generate_child_contexts`` (public) holds the
    child context back in ``_pending_child_context``; this writes it after the record.
    """

    _pending_child_context: Context | None = None

    @override
    def _write_record_message(self, record: Record) -> None:
        super()._write_record_message(record)
        child_context, self._pending_child_context = self._pending_child_context, None
        if child_context is not None:
            self._sync_children(dict(child_context))


class BookmarkKeptBySearch(_StreamBase):
    """Mirrors ``Stream._increment_stream_state``: the per-record update is turned off.

    The bookmark is kept by the search stream's ``get_records``, which sees the raw timestamps
    and knows the ceiling; the SDK's per-record update would only parse the dates back.
    :meth:`save_bookmark_state` calls the SDK's method when the bookmark moves.
    """

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        return

    def save_bookmark_state(self, record: Record, context: Context | None) -> None:
        """Move the bookmark in the stream's state to ``record``'s replication key value."""
        super()._increment_stream_state(record, context=context)


class CountingRecordCounter(metrics.Counter):
    """Mirrors ``Counter._pop``: the SDK's record counter, read by a stream's progress meter.

    The SDK resets its count to 0 each time it logs it (``_pop``) and has no public hook there,
    so the count is kept in the meter first. Its per-record ``increment`` is the SDK's own:
    progress adds nothing per record.
    """

    def __init__(self, meter: Meter, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._meter = meter
        meter.live.add(self)

    @override
    def _pop(self) -> None:
        """Keep the count in the meter before the SDK logs it and starts again from 0."""
        self._meter.count += self.value
        super()._pop()

    @override
    def exit(self) -> None:
        """The sync this counter counted is over."""
        super().exit()
        self._meter.live.discard(self)


class TerminationAfterWrite(_TapBase):
    """Mirrors ``Tap._handle_termination``: SIGTERM/SIGINT wait for the write in progress.

    The SDK writes its last STATE and exits from the signal handler; with the tap's own
    message writer that happens once the message being written is complete.
    """

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        handle = super()._handle_termination
        when_idle = getattr(self.message_writer, "when_idle", None)
        if when_idle is not None:
            when_idle(lambda: handle(signum, frame))
        else:
            handle(signum, frame)


class RunEntry(_TapBase):
    """Mirrors ``Tap.invoke`` (the CLI's sync command): the same steps, ending in ``run``.

    The SDK's ``invoke`` builds the tap and calls ``Tap.sync_all``, which is ``@final``. The
    tap's run (progress lines, inbox mode, the summary file) wraps that call in :meth:`run`,
    a method of the tap's own; everything before it is the SDK's, in the same order. An error
    that stops the run ends in one paragraph (traceback at debug level).
    """

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        """Run the tap from the command line (`--about` as the SDK does)."""
        with last_word(cls.logger, paragraph), as_sdk_errors():
            if about:
                super().invoke(about=about, about_format=about_format)  # prints, exits
            cls.print_version(print_fn=cls.logger.info)
            tap = cls(
                config=getattr(config, "config", None) or {},
                state=None if state is None else load_json(state.read()),
                catalog=None if catalog is None else load_json(catalog.read()),
                parse_env_config=bool(getattr(config, "parse_env", False)),
                validate_config=True,
            )
            tap.run()  # type: ignore[attr-defined]


@contextlib.contextmanager
def as_sdk_errors() -> Iterator[None]:
    """intercom_client's errors as the SDK's ``FatalAPIError``, with the same message.

    The messages already say what happened, why and what to do: the tap's last word prints
    them as they are, as it does the SDK's API errors.
    """
    try:
        yield
    except IntercomError as exc:
        raise FatalAPIError(str(exc)) from exc


#: The SDK methods the mixins above override, by the SDK class that defines them.
MIRRORED: dict[str, type] = {
    "_generate_record_messages": Stream,
    "_write_state_message": Stream,
    "_write_record_message": Stream,
    "_increment_stream_state": Stream,
    "_env_var_config": PluginBase,
    "_handle_termination": Tap,
    "invoke": Tap,
    "_pop": metrics.Counter,
}
