"""Every data API route (the path after ``/services/data/vNN.N``), first match wins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulators.core.routing import ApiRoute
from emulators.salesforce.handlers import describe as d
from emulators.salesforce.handlers import jobs as j
from emulators.salesforce.handlers import query as q
from emulators.salesforce.handlers import records as rec
from emulators.salesforce.handlers import replication as r
from emulators.salesforce.handlers import sobject_collections as c
from emulators.salesforce.handlers.composite import collection_retrieve, composite

# "{value}" (an external id value) may hold slashes: it takes the rest of the path.
VALUE = "{value:path}"

TABLE: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", "/", d.resources),
    ("GET", "/limits", d.limits),
    ("GET", "/limits/recordCount", r.record_count),
    ("GET", "/sobjects", d.describe_global),
    ("GET", "/sobjects/{sobject}", d.sobject_basic),
    ("GET", "/sobjects/{sobject}/describe", d.describe),
    ("POST", "/sobjects/{sobject}", rec.create),
    # Before /sobjects/{sobject}/{id}, which would take "updated" for a record id.
    ("GET", "/sobjects/{sobject}/updated", r.updated),
    ("GET", "/sobjects/{sobject}/deleted", r.deleted),
    ("GET", "/sobjects/{sobject}/{id}", rec.get_record),
    ("PATCH", "/sobjects/{sobject}/{id}", rec.update_record),
    ("DELETE", "/sobjects/{sobject}/{id}", rec.delete_record),
    ("GET", "/sobjects/{sobject}/{field}/{value}", rec.get_by_external_id),
    ("PATCH", "/sobjects/{sobject}/{field}/{value}", rec.upsert),
    ("DELETE", "/sobjects/{sobject}/{field}/{value}", rec.delete_by_external_id),
    ("GET", "/query", q.query),
    ("GET", "/queryAll", q.query_all),
    ("GET", "/query/{locator}", q.query_more),
    ("GET", "/queryAll/{locator}", q.query_more),
    ("POST", "/composite", composite),
    ("POST", "/composite/sobjects", c.collection_create),
    ("PATCH", "/composite/sobjects", c.collection_update),
    ("DELETE", "/composite/sobjects", c.collection_delete),
    ("PATCH", "/composite/sobjects/{sobject}/{field}", c.collection_upsert),
    # Retrieve: POST with an sObject name reads; POST without one creates (above).
    ("GET", "/composite/sobjects/{sobject}", collection_retrieve),
    ("POST", "/composite/sobjects/{sobject}", collection_retrieve),
    ("POST", "/jobs/ingest", j.job_create),
    ("GET", "/jobs/ingest", j.job_list),
    ("GET", "/jobs/ingest/{job}", j.job_get),
    ("PATCH", "/jobs/ingest/{job}", j.job_patch),
    ("DELETE", "/jobs/ingest/{job}", j.job_delete),
    ("PUT", "/jobs/ingest/{job}/batches", j.job_upload),
    ("GET", "/jobs/ingest/{job}/successfulResults", j.job_results),
    ("GET", "/jobs/ingest/{job}/failedResults", j.job_results),
    ("GET", "/jobs/ingest/{job}/unprocessedrecords", j.job_results),
]

ROUTES: list[ApiRoute] = [
    ApiRoute(method, template, handler, path=template.replace("{value}", VALUE))
    for method, template, handler in TABLE
]
