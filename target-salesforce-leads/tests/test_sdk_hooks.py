"""The target's seams with the Singer SDK: fail loudly, naming the method, when an SDK release
moves one (the pin is ``singer-sdk~=0.54.9``; see target_salesforce_leads/sdk_hooks.py)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import target_salesforce_leads
from singer_sdk.plugin_base import PluginBase
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target
from target_salesforce_leads import sdk_hooks
from target_salesforce_leads.sinks import SalesforceSink
from target_salesforce_leads.target import TargetSalesforceLeads

from scripts.sdk_guard import parameter_names

#: The parameters (name, kind) of each SDK method the target overrides, as in singer-sdk 0.54.9.
OVERRIDDEN: dict[tuple[type, str], list[str]] = {
    (Sink, "_parse_timestamps_in_record"): ["self", "record", "schema", "treatment"],
    (Target, "_process_schema_message"): ["self", "message_dict"],
    (Target, "_process_state_message"): ["self", "message_dict"],
    (Target, "_write_state_message"): ["self", "state"],
    (Target, "invoke"): ["*about", "*about_format", "*config", "*file_input"],
}
#: Private SDK names the target reads or sets without overriding a method.
USED = {
    Target: ["_MAX_RECORD_AGE_IN_MINUTES", "_max_record_age_in_minutes", "_env_var_config"],
    PluginBase: ["_env_var_config"],
}
#: Private attributes of SDK instances the target reads.
INSTANCE = {
    Target: ["_sinks_active", "_latest_state"],
    Sink: ["_warned_missing_fields"],
}


@pytest.mark.parametrize(
    ("owner", "name"), list(OVERRIDDEN), ids=[f"{o.__name__}.{n}" for o, n in OVERRIDDEN]
)
def test_the_sdk_still_has_each_method_the_target_overrides(owner: type, name: str) -> None:
    assert name in vars(owner), (
        f"singer_sdk {owner.__name__}.{name} is gone: the override in sdk_hooks.py no longer "
        "hooks into anything; find the SDK's new seam before raising the singer-sdk pin"
    )
    assert parameter_names(getattr(owner, name)) == OVERRIDDEN[(owner, name)], (
        f"singer_sdk {owner.__name__}.{name} changed its signature: update its mirror in "
        "sdk_hooks.py"
    )


def test_the_sdk_still_has_each_private_name_the_target_uses() -> None:
    missing = [f"{o.__name__}.{n}" for o, names in USED.items() for n in names if n not in dir(o)]
    target = TargetSalesforceLeads(config={}, parse_env_config=False, validate_config=False)
    sink = SalesforceSink(target, "Lead", {"type": "object", "properties": {}}, ["Id"])
    try:
        for owner, obj in ((Target, target), (Sink, sink)):
            missing += [f"{owner.__name__}.{n}" for n in INSTANCE[owner] if not hasattr(obj, n)]
    finally:
        sink.clean_up()
    assert not missing, f"singer_sdk no longer has {missing}, which the target uses"


def test_the_cli_entry_mirrors_the_sdks() -> None:
    # RunEntry.invoke repeats Target.invoke's steps and ends in the target's run (which wraps
    # the @final listen): the SDK's must still end by building the target and calling listen.
    source = inspect.getsource(Target.invoke)
    for step in (
        "super().invoke(about=about, about_format=about_format)",
        "cls.print_version(print_fn=cls.logger.info)",
        "target.listen(file_input)",
    ):
        assert step in source, f"singer_sdk Target.invoke no longer does {step!r}: see RunEntry"
    for keyword in ("config=", "validate_config=True", "parse_env_config="):
        assert keyword in source, f"singer_sdk Target.invoke builds the target without {keyword}"
    assert "listen" not in vars(TargetSalesforceLeads)


def _target_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(target_salesforce_leads.__path__, "target_salesforce_leads."):
        module = importlib.import_module(info.name)
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == info.name
        ]
    return found


def _is_final(value: object) -> bool:
    for v in (value, getattr(value, "__func__", None), getattr(value, "fget", None)):
        if getattr(v, "__final__", False):
            return True
    return False


def _violations(classes: list[type]) -> tuple[list[str], list[str]]:
    """(overrides of @final SDK methods, private SDK overrides outside sdk_hooks.py)."""
    misplaced, finals = [], []
    for cls in classes:
        for name in vars(cls):
            for base in cls.__mro__[1:]:
                if not base.__module__.startswith("singer_sdk") or name not in vars(base):
                    continue
                where = f"{cls.__module__}.{cls.__name__}.{name}"
                if _is_final(vars(base)[name]):
                    finals.append(f"{where} (final in {base.__name__})")
                private = name.startswith("_") and not name.startswith("__")
                if private and name != "_abc_impl" and cls.__module__ != sdk_hooks.__name__:
                    misplaced.append(f"{where} overrides {base.__name__}.{name}")
                break
    return finals, misplaced


def test_private_overrides_live_in_sdk_hooks_and_nothing_overrides_a_final_method() -> None:
    finals, misplaced = _violations(_target_classes())
    assert not finals, f"overrides of @final SDK methods: {finals}"
    assert not misplaced, f"private SDK overrides outside sdk_hooks.py: {misplaced}"


def test_the_check_catches_a_final_and_a_misplaced_override() -> None:
    class Bad(Target):
        def listen(self, file_input=None):  # type: ignore[misc]  # noqa: ANN001, ANN202
            pass

        def _process_record_message(self, message_dict):  # noqa: ANN001, ANN202
            pass

    listen = next(vars(b)["listen"] for b in Target.__mro__ if "listen" in vars(b))
    assert _is_final(listen), "the SDK's listen is no longer @final: see sdk_hooks.RunEntry"
    finals, misplaced = _violations([Bad])
    assert [f.split(".")[-1] for f in finals] == ["listen (final in BaseSingerReader)"]
    assert len(misplaced) == 1 and "_process_record_message" in misplaced[0]


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
