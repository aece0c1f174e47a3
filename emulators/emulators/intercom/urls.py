"""Every public Intercom route, in the order they are matched (the first match wins)."""

from __future__ import annotations

from emulators.core.routing import ApiRoute
from emulators.intercom.resources import (
    companies,
    contacts,
    conversations,
    data_attributes,
    events,
    segments,
    tags,
    workspace,
)

ROUTES: list[ApiRoute] = [
    *workspace.routes.routes,
    *tags.routes.routes,
    *segments.routes.routes,
    *contacts.routes.routes,
    *companies.routes.routes,
    *conversations.routes.routes,
    *events.routes.routes,
    *data_attributes.routes.routes,
]
