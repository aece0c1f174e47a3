"""Settings given as environment variables, with number settings as numbers.

With ``--config ENV`` (Meltano commands such as ``meltano test`` pass settings as variables)
the Singer SDK reads every value as a string, and a ``number`` setting then fails its
validation. Integers and booleans the SDK already converts.
"""

from __future__ import annotations

import contextlib
import typing as t

from singer_sdk.helpers._classproperty import classproperty

if t.TYPE_CHECKING:
    from singer_sdk.plugin_base import PluginBase

    _PluginBase = PluginBase
else:
    _PluginBase = object


def numbers_parsed(
    config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]
) -> dict[str, t.Any]:
    """A copy of ``config`` whose ``number`` settings given as text are numbers.

    Args:
        config: The settings read from the environment.
        schema: The plugin's ``config_jsonschema``.

    Returns:
        The settings; a value that is no number is left as given, for config validation to
        name the setting.
    """
    parsed = dict(config)
    for key, prop in schema.get("properties", {}).items():
        value = parsed.get(key)
        if isinstance(value, str) and "number" in prop.get("type", []):
            with contextlib.suppress(ValueError):
                parsed[key] = float(value)
    return parsed


class EnvNumbers(_PluginBase):
    """Mirrors ``PluginBase._env_var_config``: ``number`` settings read as numbers.

    A mixin for a tap or target class, before the SDK's base class. Settings come as
    variables with ``--config ENV`` (Meltano commands such as ``meltano test`` pass them so);
    the SDK leaves ``number`` settings strings, which config validation refuses. The plugins'
    ``test_sdk_hooks.py`` check that the SDK still has the method.
    """

    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:  # noqa: N805
        return numbers_parsed(super()._env_var_config, cls.config_jsonschema)
