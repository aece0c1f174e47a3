"""Intercom REST API plumbing for the plugins that speak to Intercom, without the Singer SDK.

Modules: :mod:`~intercom_client.regions` (hosts), :mod:`~intercom_client.versions` (the
``Intercom-Version`` header), :mod:`~intercom_client.governor` (pacing by the rate-limit headers),
:mod:`~intercom_client.errors` (answers sorted into errors a person can act on),
:mod:`~intercom_client.retry` (bounded retries on an injectable clock),
:mod:`~intercom_client.paging` (cursors and scrolls) and :mod:`~intercom_client.client` (one
request through all of them).
"""
