"""The Salesforce REST handlers, one module per part of the API (as the old banners divided it)."""
