"""Settings given as environment variables, with number settings as numbers.

With ``--config ENV`` (Meltano commands such as ``meltano test`` pass settings as variables)
the Singer SDK reads every value as a string, and a ``number`` setting then fails its
validation. Integers and booleans the SDK already converts.
"""

from __future__ import annotations

import contextlib
import typing as t


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
