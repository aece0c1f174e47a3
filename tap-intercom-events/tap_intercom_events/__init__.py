"""Singer tap for Intercom: contacts, companies, conversations, parts, events, admins, teams, tags."""
