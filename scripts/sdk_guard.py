"""What the plugins' SDK-hooks guards (each plugin's tests/test_sdk_hooks.py) compare."""

from __future__ import annotations

import inspect


def parameter_names(func: object) -> list[str]:
    """The parameters of ``func`` by name, keyword-only ones marked ``*``."""
    params = inspect.signature(func).parameters.values()  # type: ignore[arg-type]
    return [("*" if p.kind is p.KEYWORD_ONLY else "") + p.name for p in params]
