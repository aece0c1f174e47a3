"""A local, stateful emulator of the Salesforce REST API and Bulk API 2.0 ingest."""
