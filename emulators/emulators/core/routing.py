"""Route tables over Starlette's router, resolved before the handler runs.

The emulators answer authentication, versions, rate limits and faults before they know
whether an endpoint exists (as the real APIs do), and name every request in their counters
by its route template. So they resolve a request against Starlette ``Route`` objects first
and call the handler themselves instead of letting a ``Router`` answer 404 or 405.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.routing import Match, Route

Handler = TypeVar("Handler", bound=Callable[..., Any])


class ApiRoute(Route):
    """A Starlette route for one method that keeps the template its counters name it by."""

    def __init__(
        self, method: str, template: str, endpoint: Callable[..., Any], path: str | None = None
    ) -> None:
        """Route ``method`` on ``path`` (default: the template) to ``endpoint``."""
        super().__init__(path or template, endpoint, methods=[method])
        self.methods = {method}  # Starlette adds HEAD to GET routes; these APIs do not
        self.template = template


@dataclass(frozen=True)
class Resolved:
    """Where a request goes: its route (None: no such endpoint) and path parameters."""

    route: ApiRoute | None
    params: dict[str, Any] = field(default_factory=dict)
    other_method: bool = False  # the path exists, for another method

    @property
    def template(self) -> str | None:
        """The route template, or None when nothing matched."""
        return self.route.template if self.route else None


def resolve(routes: list[ApiRoute], method: str, path: str) -> Resolved:
    """The first route that takes ``method`` on ``path``."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    other = False
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return Resolved(route, child["path_params"])
        other = other or match is Match.PARTIAL
    return Resolved(None, {}, other)


class RouteTable:
    """Routes registered with a decorator, in order (the first match wins)."""

    def __init__(self) -> None:
        """Start empty."""
        self.routes: list[ApiRoute] = []

    def __call__(self, method: str, template: str) -> Callable[[Handler], Handler]:
        """Register the decorated handler for ``method`` on ``template``."""

        def register(fn: Handler) -> Handler:
            self.routes.append(ApiRoute(method, template, fn))
            return fn

        return register
