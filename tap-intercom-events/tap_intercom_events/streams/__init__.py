"""Stream classes, by resource family."""

from __future__ import annotations

from tap_intercom_events.streams.companies import CompaniesStream
from tap_intercom_events.streams.contacts import ContactEventSummariesStream, ContactsStream
from tap_intercom_events.streams.conversations import ConversationPartsStream, ConversationsStream
from tap_intercom_events.streams.workspace import AdminsStream, TagsStream, TeamsStream

__all__ = [
    "AdminsStream",
    "CompaniesStream",
    "ContactEventSummariesStream",
    "ContactsStream",
    "ConversationPartsStream",
    "ConversationsStream",
    "TagsStream",
    "TeamsStream",
]
