"""Plain Salesforce API knowledge shared by the project's Salesforce plugins.

Modules by idea: :mod:`~salesforce_client.auth` (OAuth grants), :mod:`~salesforce_client.retry`
(the one retry policy), :mod:`~salesforce_client.errors`, :mod:`~salesforce_client.budget`
(daily API limits), :mod:`~salesforce_client.describe` (the describe cache),
:mod:`~salesforce_client.client` (REST and Composite), :mod:`~salesforce_client.composite`
(sObject Collections writes), :mod:`~salesforce_client.bulk` (Bulk API 2.0 ingest) and
:mod:`~salesforce_client.emails` (what an Email field accepts). Import from the modules.
"""
