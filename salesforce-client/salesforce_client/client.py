"""One HTTP client for an org's REST, Composite and Bulk 2.0 APIs.

Every request goes through :meth:`SalesforceClient.request`, which is where the rules live: the
API budget is charged before the call, ``Sforce-Limit-Info`` is read after it, an expired session
is renewed and the call repeated, and transient failures are retried by the
:class:`~salesforce_client.retry.RetryPolicy`. One module (over 400 lines): those rules
apply to every call together, in one method and the few helpers it calls.
"""

from __future__ import annotations

import logging
import math
import threading
import typing as t
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import requests

from salesforce_client.auth import SalesforceAuth
from salesforce_client.budget import ApiBudget, budget_for
from salesforce_client.describe import DescribeCache
from salesforce_client.errors import (
    CompositeUnavailable,
    RetriesExhausted,
    SalesforceError,
    error_of,
    is_transient,
)
from salesforce_client.retry import RetryPolicy

# A Composite request may hold 25 subrequests, of which at most 5 queries or Collections writes.
COMPOSITE_HEAVY = 5


class SalesforceClient:
    """Authenticated access to one org, shared by every thread of a run."""

    def __init__(
        self,
        config: t.Mapping[str, t.Any],
        logger: logging.Logger | None = None,
        budget: ApiBudget | None = None,
        *,
        retry: RetryPolicy | None = None,
        user_agent: str = "i2s-salesforce-client",
        env_prefix: str = "",
        describe_dir: Path | None = None,
    ) -> None:
        """Set up the session, login, budget, retry policy and describe cache from settings.

        Args:
            config: Settings: those of :class:`~salesforce_client.auth.SalesforceAuth`, and
                ``ca_bundle``, ``api_version``, ``request_timeout``, ``allow_duplicate_save``,
                ``use_composite``, ``describe_cache_seconds``, ``api_budget`` and
                ``api_budget_window``.
            logger: Where retries and fallbacks are logged.
            budget: The API budget (default: from ``config``).
            retry: The retry policy (default: from ``config``).
            user_agent: The ``User-Agent`` header (the plugin's name).
            env_prefix: The plugin's environment variable prefix, named in login errors.
            describe_dir: Where describes are cached between runs (None: only in memory).
        """
        self.logger = logger or logging.getLogger(__name__)
        self.session = requests.Session()
        # Passed on every call: a session-level verify loses to REQUESTS_CA_BUNDLE in requests.
        self.verify: str | bool = str(config["ca_bundle"]) if config.get("ca_bundle") else True
        self.session.verify = self.verify
        self.session.headers["User-Agent"] = user_agent
        self.retry = retry or RetryPolicy.from_config(config)
        self.auth = SalesforceAuth(
            config, self.session, verify=self.verify, retry=self.retry, env_prefix=env_prefix
        )
        self.api_version = str(config.get("api_version") or "62.0").lstrip("v")
        self.budget = budget or budget_for(config, self.logger)
        self.timeout = float(config.get("request_timeout") or 120)
        self.allow_duplicate_save = bool(config.get("allow_duplicate_save", False))
        self.use_composite = bool(config.get("use_composite", True))
        self._lock = threading.Lock()
        self.api_calls = 0
        self._limits_tried = False
        self.bulk_wait_seconds = 0.0  # time spent waiting for Salesforce to process Bulk jobs
        self.calls_by_kind: dict[str, int] = {}
        self.describes = DescribeCache(
            describe_dir,
            float(config.get("describe_cache_seconds", 86400) or 0),
            self.logger,
        )

    @property
    def max_retries(self) -> int:
        """Retries after a first failed attempt (the retry policy's)."""
        return self.retry.max_retries

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def base(self) -> str:
        """The REST base URL: ``{instance}/services/data/vNN.0``."""
        return f"{self.auth.instance_url}/services/data/v{self.api_version}"

    def url(self, path: str) -> str:
        """The full URL of a path below the REST base, or of a ``/services/...`` path."""
        if path.startswith("/services/"):
            return f"{self.auth.instance_url}{path}"
        return f"{self.base}/{path.lstrip('/')}"

    def _count(self, kind: str) -> None:
        with self._lock:
            self.api_calls += 1
            self.calls_by_kind[kind] = self.calls_by_kind.get(kind, 0) + 1

    def _headers(self, extra: t.Mapping[str, str] | None) -> dict[str, str]:
        hdrs = {"Authorization": f"Bearer {self.auth.token()}"}
        if self.allow_duplicate_save:
            hdrs["Sforce-Duplicate-Rule-Header"] = "allowSave=true"
        if extra:
            hdrs.update(extra)
        return hdrs

    def _retry_or_raise(self, attempt: int, what: str, exhausted: str) -> None:
        """Wait before another attempt, or raise RetriesExhausted when none is left."""
        if self.retry.gives_up(attempt):
            raise RetriesExhausted(exhausted)
        self.logger.warning("%s; retrying (%d/%d)", what, attempt + 1, self.retry.max_retries)
        self.retry.wait(attempt)

    def request(
        self,
        method: str,
        path: str,
        *,
        kind: str = "rest",
        json: t.Any = None,  # noqa: A002 - named like requests' argument
        data: t.Any = None,
        params: t.Mapping[str, t.Any] | None = None,
        headers: t.Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200, 201, 204),
        stream: bool = False,
    ) -> requests.Response:
        """Send one API request with budget, session renewal and retries.

        Args:
            method: HTTP method.
            path: Path below ``/services/data/vNN.0`` or a full ``/services/...`` path.
            kind: Label for the per-kind call counter.
            json: JSON body.
            data: Raw body (e.g. CSV bytes or an open file).
            params: Query string parameters.
            headers: Extra headers.
            expect: Statuses that count as success.
            stream: Do not read the body eagerly (large CSV results).

        Returns:
            The successful response.

        Raises:
            SalesforceError: For a non-transient error answer.
            RetriesExhausted: When transient failures outlast ``max_retries``.
            BudgetExhausted: When the call would exceed the run's API budget.
        """
        url = self.url(path)
        refreshed = False
        attempt = 0
        while True:
            self.budget.charge(1)
            generation = self.auth.generation
            hdrs = self._headers(headers)
            if hasattr(data, "seek"):
                data.seek(0)
            self._count(kind)
            try:
                resp = self.session.request(
                    method,
                    url,
                    json=json,
                    data=data,
                    params=params,
                    headers=hdrs,
                    timeout=self.timeout,
                    stream=stream,
                    verify=self.verify,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                name = type(exc).__name__
                self._retry_or_raise(
                    attempt,
                    f"{method} {path}: {name}",
                    f"{method} {path} failed {attempt + 1} times ({name})",
                )
                attempt += 1
                continue
            self.budget.observe_header(resp.headers.get("Sforce-Limit-Info"))
            if resp.status_code in expect:
                self._figures_once(kind)
                return resp
            code, message = error_of(_body(resp))
            if resp.status_code == 401 and not refreshed:
                # The session expired (or was revoked): renew it once and repeat the call.
                self.logger.info("Salesforce session expired; obtaining a new access token.")
                self.auth.refresh(generation)
                refreshed = True
                continue
            if not is_transient(resp.status_code, code):
                raise SalesforceError(
                    resp.status_code, code or str(resp.status_code), message, method, path
                )
            self._retry_or_raise(
                attempt,
                f"{method} {path} answered {resp.status_code} {code}",
                f"{method} {path} kept failing with {resp.status_code} {code or ''} after "
                f"{attempt + 1} attempts",
            )
            attempt += 1

    def _figures_once(self, kind: str) -> None:
        """Without ``Sforce-Limit-Info`` (a proxy may strip it) ask ``/limits`` once instead."""
        if not self.budget.has_figures() and not self._limits_tried and kind != "limits":
            self._limits_tried = True
            self.limits()

    # -- REST helpers -----------------------------------------------------------------------

    def _describe_key(self) -> str:
        host = urlsplit(
            self.auth.instance_url if self.auth.has_instance_url else self.auth.login_url
        ).netloc.replace(":", "_")
        return f"{host}-v{self.api_version}"

    def describe(self, sobject: str, fresh: bool = False) -> tuple[dict[str, t.Any], bool]:
        """Return an sObject's describe and whether it came from the on-disk cache.

        Fetched at most once per run; between runs it is cached for ``describe_cache_seconds``
        (callers re-fetch with ``fresh=True`` when a record looks invalid only by the cache).
        """
        return self.describes.get(self._describe_key(), sobject, self._fetch_describe, fresh)

    def _fetch_describe(self, sobject: str) -> dict[str, t.Any]:
        resp = self.request("GET", f"sobjects/{quote(sobject)}/describe", kind="describe")
        return t.cast(dict[str, t.Any], resp.json())

    def forget_describe(self, sobject: str) -> None:
        """Drop a cached describe that Salesforce contradicted."""
        self.describes.forget(self._describe_key(), sobject)

    def limits(self) -> dict[str, t.Any]:
        """Return ``/limits`` and feed the daily request figures to the budget."""
        body: dict[str, t.Any] = self.request("GET", "limits", kind="limits").json()
        daily = body.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            self.budget.observe(int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"]))
        return body

    def query_pages(self, soql: str) -> t.Iterator[dict[str, t.Any]]:
        """Yield each page of a SOQL query (``totalSize``, ``records``).

        Follows ``nextRecordsUrl`` until the query is ``done``.
        """
        resp = self.request("GET", "query", params={"q": soql}, kind="query")
        page = resp.json()
        yield page
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = self.request("GET", page["nextRecordsUrl"], kind="query").json()
            yield page

    def query(self, soql: str) -> t.Iterator[dict[str, t.Any]]:
        """Yield every record of a SOQL query."""
        for page in self.query_pages(soql):
            yield from page.get("records") or []

    # -- Composite API ----------------------------------------------------------------------

    def sub_url(self, path: str) -> str:
        """A subrequest's URL: the full ``/services/data/vNN.0/...`` path."""
        return f"/services/data/v{self.api_version}/{path.lstrip('/')}"

    def composite_calls(self, heavy: int) -> int:
        """API calls that ``heavy`` queries or Collections writes cost."""
        if heavy <= 1 or not self.use_composite:
            return heavy
        return math.ceil(heavy / COMPOSITE_HEAVY)

    def composite(self, subrequests: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """Send subrequests in one ``POST /composite`` (allOrNone false): ONE API call.

        Returns the subresponses (``httpStatusCode``, ``body``) in the order of the subrequests.

        Raises:
            CompositeUnavailable: The server has no ``/composite`` (404 / ``NOT_FOUND``); from
                then on ``use_composite`` is off for the run, so callers use separate calls.
        """
        refs = [str(sub["referenceId"]) for sub in subrequests]
        try:
            resp = self.request(
                "POST",
                "composite",
                kind="composite",
                json={"allOrNone": False, "compositeRequest": subrequests},
            )
        except SalesforceError as exc:
            if exc.status != 404 and exc.code != "NOT_FOUND":
                raise
            self.use_composite = False
            self.logger.warning(
                "Salesforce answered %s %s for /composite (an older org or a proxy?); using "
                "separate API calls for the rest of the run. Set use_composite: false to skip "
                "this probe.",
                exc.status,
                exc.code,
            )
            raise CompositeUnavailable(str(exc)) from None
        answers = (resp.json() or {}).get("compositeResponse")
        if not isinstance(answers, list) or len(answers) != len(refs):
            raise RuntimeError(
                f"/composite answered {len(answers or [])} subresponses for "
                f"{len(refs)} subrequests; cannot tell which results are which."
            )
        by_ref = {str(a.get("referenceId")): a for a in answers}
        if set(by_ref) == set(refs):
            return [by_ref[r] for r in refs]
        return answers  # documented to be in input order

    def query_many(self, soqls: list[str]) -> list[list[dict[str, t.Any]] | SalesforceError]:
        """Every record of each SOQL query, up to 5 queries per Composite call.

        A result is the query's records, or the ``SalesforceError`` it failed with (so a caller
        can keep the other results). A result that is not ``done`` is paged with further calls.
        Without Composite (off, unavailable, or a single query) the queries go one by one.
        """
        results: list[list[dict[str, t.Any]] | SalesforceError | None] = [None] * len(soqls)
        todo = list(range(len(soqls)))
        attempt = 0
        while todo and self.use_composite and len(soqls) > 1:
            retry: list[int] = []
            for start in range(0, len(todo), COMPOSITE_HEAVY):
                part = todo[start : start + COMPOSITE_HEAVY]
                again = self._query_part(soqls, part, results, attempt)
                if again is None:
                    break  # no /composite: the rest go one by one below
                retry += again
            else:
                todo = retry
                if todo:
                    self.retry.wait(attempt)
                    attempt += 1
        for i, soql in enumerate(soqls):
            if results[i] is None:
                try:
                    results[i] = list(self.query(soql))
                except SalesforceError as exc:
                    results[i] = exc
        return t.cast(list, results)

    def _query_part(
        self,
        soqls: list[str],
        part: list[int],
        results: list[list[dict[str, t.Any]] | SalesforceError | None],
        attempt: int,
    ) -> list[int] | None:
        """Up to 5 queries in one Composite call; returns those to retry (None: no Composite).

        A request refused as a whole (400) leaves its queries' results None: they go one by one.
        """
        subs = [
            {
                "method": "GET",
                "referenceId": f"q{i}",
                "url": self.sub_url("query") + "?" + urlencode({"q": soqls[i]}),
            }
            for i in part
        ]
        try:
            answers = self.composite(subs)
        except CompositeUnavailable:
            return None
        except SalesforceError as exc:
            if exc.status != 400:
                raise
            return []
        retry: list[int] = []
        for i, ans in zip(part, answers, strict=True):
            status = int(ans.get("httpStatusCode") or 0)
            body = ans.get("body")
            if status == 200 and isinstance(body, dict):
                results[i] = self._all_pages(body)
                continue
            code, message = error_of(body)
            if not is_transient(status, code):
                results[i] = SalesforceError(status, code or str(status), message, "GET", "query")
            elif self.retry.gives_up(attempt):
                raise RetriesExhausted(f"a query in /composite kept failing with {status} {code}")
            else:
                retry.append(i)
        return retry

    def _all_pages(self, page: dict[str, t.Any]) -> list[dict[str, t.Any]]:
        """A query's records: this first page's and those of the pages that follow it."""
        records = list(page.get("records") or [])
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = self.request("GET", page["nextRecordsUrl"], kind="query").json()
            records.extend(page.get("records") or [])
        return records

    def stats(self) -> dict[str, t.Any]:
        """API calls by kind and token requests made so far."""
        return {
            "api_calls": self.api_calls,
            "by_kind": dict(self.calls_by_kind),
            "token_requests": self.auth.token_requests,
        }


def _body(resp: requests.Response) -> t.Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text[:500]
