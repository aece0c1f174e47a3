"""Singer tap for Intercom: contacts, companies, conversations and parts, events, teammates."""
