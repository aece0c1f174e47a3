"""Full-table streams describing the workspace: admins, teams and tags."""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_intercom_events import schemas
from tap_intercom_events.client import IntercomStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context


class AdminsStream(IntercomStream):
    """``GET /admins``: every teammate of the workspace."""

    name = "admins"
    path = "/admins"
    records_key = "admins"
    schema = schemas.ADMIN_OBJECT.to_dict()


class TeamsStream(IntercomStream):
    """``GET /teams``: every team of the workspace."""

    name = "teams"
    path = "/teams"
    records_key = "teams"
    schema = schemas.TEAM_OBJECT.to_dict()


class TagsStream(IntercomStream):
    """``GET /tags``: every tag of the workspace.

    The same answer names the tags of contacts (the tap's ``tag_names``): one read a run.
    """

    name = "tags"
    path = "/tags"
    records_key = "data"
    schema = schemas.TAG_OBJECT.to_dict()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict]:
        """Every tag; once all are read, they name the contacts' tags too."""
        names: dict[str, t.Any] = {}
        for record in super().get_records(context):
            names[str(record.get("id"))] = record.get("name")
            yield record
        self._tap.remember_tag_names(names)  # type: ignore[attr-defined]
