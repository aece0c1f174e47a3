"""The tap's seams with the Singer SDK: fail loudly, naming the method, when an SDK release
moves one (the pin is ``singer-sdk~=0.54.9``; see tap_intercom_events/sdk_hooks.py)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import tap_intercom_events
from singer_sdk import Tap
from singer_sdk.metrics import Counter
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.streams import RESTStream, Stream
from tap_intercom_events import sdk_hooks
from tap_intercom_events.tap import TapIntercomEvents

from scripts.sdk_guard import parameter_names

from .tap_test_support import TOKEN

#: The parameters (name, kind) of each SDK method the tap overrides, as in singer-sdk 0.54.9.
OVERRIDDEN = {
    (Stream, "_generate_record_messages"): ["self", "record"],
    (Stream, "_write_state_message"): ["self"],
    (Stream, "_write_record_message"): ["self", "record"],
    (Stream, "_increment_stream_state"): ["self", "latest_record", "*context"],
    (Tap, "_handle_termination"): ["self", "signum", "frame"],
    (Tap, "invoke"): ["*about", "*about_format", "*config", "*state", "*catalog"],
    (Counter, "_pop"): ["self"],
}
#: Private SDK methods and attributes the tap calls or reads without overriding them.
USED = {
    Stream: ["_sync_children", "_write_schema_message", "_write_record_message"],
    RESTStream: ["_request"],
    Tap: ["_reset_state_progress_markers", "_env_var_config"],
    BaseAPIPaginator: [],
}
#: Private overrides outside sdk_hooks.py, each with its owner's reason.
ELSEWHERE: dict[tuple[str, str, str], type] = {}


@pytest.mark.parametrize(
    ("owner", "name"), list(OVERRIDDEN), ids=[f"{o.__name__}.{n}" for o, n in OVERRIDDEN]
)
def test_the_sdk_still_has_each_method_the_tap_overrides(owner: type, name: str) -> None:
    assert name in dir(owner), (
        f"singer_sdk {owner.__name__}.{name} is gone: the override in sdk_hooks.py no longer "
        "hooks into anything; find the SDK's new seam before raising the singer-sdk pin"
    )
    assert parameter_names(getattr(owner, name)) == OVERRIDDEN[(owner, name)], (
        f"singer_sdk {owner.__name__}.{name} changed its signature: update its mirror in "
        "sdk_hooks.py"
    )


def test_the_sdk_still_has_each_private_name_the_tap_calls() -> None:
    missing = [f"{o.__name__}.{n}" for o, names in USED.items() for n in names if n not in dir(o)]
    tap = TapIntercomEvents(config={"access_token": TOKEN}, parse_env_config=False)
    stream = tap.streams["contacts"]
    missing += [f"Stream.{n}" for n in ("_tap", "_stream_version") if not hasattr(stream, n)]
    missing += [f"Tap.{n}" for n in ("_streams",) if not hasattr(tap, n)]
    paginator = stream.get_new_paginator()
    missing += [
        f"BaseAPIPaginator.{n}"
        for n in ("_page_count", "_finished", "_value")
        if not hasattr(paginator, n)
    ]
    assert not missing, f"singer_sdk no longer has {missing}, which the tap uses"


def test_the_cli_entry_mirrors_the_sdks() -> None:
    # RunEntry.invoke repeats Tap.invoke's steps and ends in the tap's run (which wraps the
    # @final sync_all): the SDK's must still end by building the tap and calling sync_all.
    source = inspect.getsource(Tap.invoke)
    for step in ("super().invoke(about=about, about_format=about_format)", "tap.sync_all()"):
        assert step in source, f"singer_sdk Tap.invoke no longer does {step!r}: see RunEntry"
    for keyword in ("config=", "state=", "catalog=", "parse_env_config=", "validate_config="):
        assert keyword in source, f"singer_sdk Tap.invoke builds the tap without {keyword}"


def _tap_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(tap_intercom_events.__path__, "tap_intercom_events."):
        module = importlib.import_module(info.name)
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == info.name
        ]
    return found


def test_private_overrides_live_in_sdk_hooks_and_nothing_overrides_a_final_method() -> None:
    misplaced, finals = [], []
    for cls in _tap_classes():
        for name, value in vars(cls).items():
            for base in cls.__mro__[1:]:
                if not base.__module__.startswith("singer_sdk") or name not in vars(base):
                    continue
                original = vars(base)[name]
                if getattr(getattr(original, "__func__", original), "__final__", False):
                    finals.append(f"{cls.__module__}.{cls.__name__}.{name}")
                private = name.startswith("_") and not name.startswith("__")
                key = (cls.__module__, cls.__name__, name)
                if (
                    private
                    and name != "_abc_impl"
                    and cls.__module__ != sdk_hooks.__name__
                    and ELSEWHERE.get(key) is not base
                ):
                    misplaced.append(f"{key} overrides {base.__name__}.{name}")
                break
            del value
    assert not finals, f"overrides of @final SDK methods: {finals}"
    assert not misplaced, f"private SDK overrides outside sdk_hooks.py: {misplaced}"


def test_each_hook_names_the_sdk_method_it_mirrors() -> None:
    for name, owner in sdk_hooks.MIRRORED.items():
        hooks = [
            cls
            for _, cls in inspect.getmembers(sdk_hooks, inspect.isclass)
            # Defined here, or shared by the plugins in singer_kit and imported here.
            if cls.__module__ in (sdk_hooks.__name__, "singer_kit.env_config") and name in vars(cls)
        ]
        assert hooks, f"sdk_hooks.MIRRORED lists {name} but no mixin defines it"
        for cls in hooks:
            assert f"{owner.__name__}.{name}" in (cls.__doc__ or ""), (cls, name)


def test_number_settings_given_as_environment_variables_are_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shared EnvNumbers hook (singer_kit.env_config): with --config ENV, Meltano passes
    every setting as text; a number setting must reach config validation as a number."""
    monkeypatch.setenv("TAP_INTERCOM_EVENTS_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("TAP_INTERCOM_EVENTS_COALESCE_SECONDS", "1.5")
    tap = TapIntercomEvents(config=None, parse_env_config=True, validate_config=True)
    assert tap.config["coalesce_seconds"] == 1.5
