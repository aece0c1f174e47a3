"""Full-table streams describing the workspace: admins, teams and tags."""

from __future__ import annotations

from tap_intercom_events import schemas
from tap_intercom_events.client import IntercomStream


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
    """``GET /tags``: every tag of the workspace."""

    name = "tags"
    path = "/tags"
    records_key = "data"
    schema = schemas.TAG_OBJECT.to_dict()
