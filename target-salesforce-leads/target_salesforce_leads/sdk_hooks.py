"""Every override of a private Singer SDK method, and every private SDK name read, in one place.

The pin is ``singer-sdk~=0.54.9``. The SDK offers no public hook for these; each mixin names the
SDK method it mirrors and why the target needs it, and calls back into a public method of the
target's own. ``tests/test_sdk_hooks.py`` fails, naming the method, when an SDK release no
longer has one (or changed its signature), when a private override appears elsewhere, and when
anything overrides an ``@final`` SDK method. The CLI entry is here too: the SDK's
``Target.invoke`` ends in the ``@final`` ``listen`` (of ``BaseSingerReader``), and the target's
run wraps that call rather than overriding it.
"""

from __future__ import annotations

import copy
import typing as t

from singer_kit.env_config import EnvNumbers as EnvNumbers  # the shared hook, re-exported
from singer_sdk.helpers._compat import (
    date_fromisoformat,
    datetime_fromisoformat,
    time_fromisoformat,
)
from singer_sdk.helpers._typing import (
    get_datelike_property_type,
    handle_invalid_timestamp_in_record,
)
from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
from singer_sdk.plugin_base import PluginBase
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target
from typing_extensions import override

from target_salesforce_leads.encoding import conform

if t.TYPE_CHECKING:
    from singer_sdk.sinks import BatchSink

    _SinkBase = BatchSink
    _TargetBase = Target
else:
    _SinkBase = object
    _TargetBase = object

_PARSERS = {
    "time": time_fromisoformat,
    "date": date_fromisoformat,
    "date-time": datetime_fromisoformat,
}


class SalesforceDates(_SinkBase):
    """Mirrors ``Sink._parse_timestamps_in_record``: dates straight into Salesforce's form.

    Looks only at the schema's date-like properties (worked out once per schema) rather than at
    every value. The SDK stops the whole run on one unparsable date (or silently nulls it):
    that record is rejected instead (``_invalid``, read by ``process_record``), like any other
    invalid record.
    """

    _invalid: str | None
    _datelike: tuple[int, int, dict[str, str], frozenset[str]] | None = None

    @override
    def _parse_timestamps_in_record(
        self, record: dict, schema: dict, treatment: DatetimeErrorTreatmentEnum
    ) -> None:
        props = schema["properties"]
        cached = self._datelike
        if cached is None or cached[0] != id(schema) or cached[1] != len(props):
            datelike = {
                k: kind for k, p in props.items() if (kind := get_datelike_property_type(p))
            }
            cached = self._datelike = (id(schema), len(props), datelike, frozenset(props))
        _, _, datelike, names = cached
        if not names.issuperset(record):
            self._warn_unknown_fields(record, schema, names)
        if not datelike:
            return
        # In the record's order, as the SDK does (the first bad date names the rejection).
        for key in [k for k in record if k in datelike]:
            value, kind = record[key], datelike[key]
            if value is None:
                continue
            try:
                record[key] = conform(_PARSERS.get(kind, datetime_fromisoformat)(value))
            except ValueError as ex:
                try:
                    handle_invalid_timestamp_in_record(
                        record,
                        [key],
                        value,
                        kind,
                        ex,
                        DatetimeErrorTreatmentEnum.ERROR,
                        self.logger,
                    )
                except ValueError as exc:
                    if self._invalid is None:
                        self._invalid = str(exc)
                return

    def _warn_unknown_fields(self, record: dict, schema: dict, names: frozenset[str]) -> None:
        """The SDK's warning, once per field, for a record field its schema lacks."""
        for key, value in record.items():
            if (
                key not in names
                and value is not None
                and not schema.get("additionalProperties", False)
                and key not in self._warned_missing_fields
            ):
                self.logger.warning("No schema for record field '%s'", key)
                self._warned_missing_fields.add(key)


class LoginFirst(_TargetBase):
    """Mirrors ``Target._process_schema_message``: log in before the first stream starts.

    Bad credentials stop the run before any record (``TargetSalesforceLeads.runstate`` logs in).
    """

    runstate: t.Any

    @override
    def _process_schema_message(self, message_dict: dict) -> None:
        _ = self.runstate
        super()._process_schema_message(message_dict)


class StateIn(_TargetBase):
    """Mirrors ``Target._process_state_message``: the target's own section of the state.

    The waiting records travel in the state under the target's key: ``state_received`` takes
    them out before the SDK keeps the state, ``state_changed`` (with drain_on_state) writes
    what is pending once the SDK took a new STATE.
    """

    def state_received(self, message_dict: dict) -> dict:
        """The STATE message with the target's section taken out (overridden by the target)."""
        return message_dict

    def state_changed(self) -> None:
        """A new STATE was taken (overridden by the target)."""

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        message_dict = self.state_received(message_dict)
        previous = self._latest_state
        super()._process_state_message(message_dict)
        if self._latest_state != previous:
            self.state_changed()


class StateOut(_TargetBase):
    """Mirrors ``Target._write_state_message``: a STATE is withheld or carries the waiting list.

    ``state_to_emit`` answers the STATE to write (the target's section added), or None to
    withhold it (dry run, writing halted, too many rejects). A STATE equal to the last one
    emitted is not emitted again (the SDK writes the latest STATE after every batch, also
    when no new one arrived since the last).
    """

    _last_emitted: dict | None = None

    def state_to_emit(self, state: dict) -> dict | None:
        """The STATE to write for ``state``, or None (overridden by the target)."""
        return state

    @override
    def _write_state_message(self, state: dict) -> None:
        out = self.state_to_emit(state)
        if out is not None and out != self._last_emitted:
            super()._write_state_message(out)
            self._last_emitted = copy.deepcopy(out)


class BatchesByAge(_TargetBase):
    """Batches written by age also while input is quiet.

    Reads ``Target._sinks_active`` and ``Target._max_record_age_in_minutes`` and sets
    ``Target._MAX_RECORD_AGE_IN_MINUTES``: batches written by age also while input is quiet.

    The SDK drains sinks by record age only when a record arrives; the target's reader asks
    :meth:`batch_age_left` how long it may wait for input before it writes what is pending.
    """

    def set_max_batch_age(self, seconds: float) -> None:
        """Write a batch once its oldest record waited ``seconds`` (the SDK's check too)."""
        self._MAX_RECORD_AGE_IN_MINUTES = seconds / 60

    @property
    def active_sinks(self) -> dict[str, Sink]:
        """The sinks of the streams being written, by stream name."""
        return self._sinks_active

    def batch_age_left(self) -> float | None:
        """Seconds until the pending records reach the batch age.

        None when nothing is pending (the reader then waits for input as long as it takes).
        """
        if not any(getattr(s, "has_pending", False) for s in self._sinks_active.values()):
            return None
        return (self._MAX_RECORD_AGE_IN_MINUTES - self._max_record_age_in_minutes) * 60


class RunEntry(_TargetBase):
    """Mirrors ``Target.invoke`` (the CLI's run): the same steps, ending in ``run``.

    The SDK's ``invoke`` builds the target and calls ``listen``, which is ``@final``.
    The target's run (the live-run lock, private files) wraps that call in ``run``, a method of
    the target's own; everything before it is the SDK's, in the same order.
    """

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        """Run the target from the command line (`--about` as the SDK does)."""
        if about:
            super().invoke(about=about, about_format=about_format)  # prints, exits
        cls.print_version(print_fn=cls.logger.info)
        target = cls(
            config=getattr(config, "config", None),
            validate_config=True,
            parse_env_config=bool(getattr(config, "parse_env", False)),
        )
        target.run(file_input)  # type: ignore[attr-defined]


#: The SDK methods the mixins above override, by the SDK class that defines them.
MIRRORED: dict[str, type] = {
    "_parse_timestamps_in_record": Sink,
    "_process_schema_message": Target,
    "_process_state_message": Target,
    "_write_state_message": Target,
    "_env_var_config": PluginBase,
    "invoke": Target,
}
