"""The one HTTP client the target uses for Salesforce's REST and Bulk 2.0 APIs.

Every request goes through :meth:`SalesforceClient.request`, which is where the run's rules live:
the API budget is charged before the call, ``Sforce-Limit-Info`` is read after it, an expired
session is renewed and the call repeated, and transient failures are retried with backoff.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
import typing as t
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import requests

from target_salesforce_leads.auth import SalesforceAuth
from target_salesforce_leads.budget import ApiBudget, budget_for

TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"}


class SalesforceError(Exception):
    """A Salesforce API call failed for good."""

    def __init__(self, status: int, code: str, message: str, method: str, path: str) -> None:
        super().__init__(f"{method} {path} answered {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class RetriesExhausted(Exception):
    """Salesforce kept failing transiently; the records concerned are not written."""


class CompositeUnavailable(Exception):
    """The org (or a proxy in front of it) has no ``/composite`` resource; use separate calls."""


# A Composite request may hold 25 subrequests, of which at most 5 queries or Collections writes.
COMPOSITE_HEAVY = 5


def error_of(body: t.Any) -> tuple[str, str]:
    """Return ``(errorCode, message)`` from a Salesforce error body (a list or an object)."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        return str(first.get("errorCode") or first.get("statusCode") or ""), str(
            first.get("message") or ""
        )
    if isinstance(body, dict):
        if "error" in body:
            return str(body.get("error")), str(body.get("error_description") or "")
        return str(body.get("errorCode") or ""), str(body.get("message") or "")
    return "", ""


class SalesforceClient:
    """Authenticated access to one org, shared by every sink of a run."""

    def __init__(
        self,
        config: t.Mapping[str, t.Any],
        logger: logging.Logger | None = None,
        budget: ApiBudget | None = None,
    ) -> None:
        self.logger = logger or logging.getLogger("target-salesforce-leads")
        self.session = requests.Session()
        # Passed on every call: a session-level verify loses to REQUESTS_CA_BUNDLE in requests.
        self.verify: str | bool = str(config["ca_bundle"]) if config.get("ca_bundle") else True
        self.session.verify = self.verify
        self.session.headers["User-Agent"] = "target-salesforce-leads"
        self.auth = SalesforceAuth(config, self.session, verify=self.verify)
        self.api_version = str(config.get("api_version") or "62.0").lstrip("v")
        self.budget = budget or budget_for(config, self.logger)
        self.timeout = float(config.get("request_timeout") or 120)
        self.max_retries = int(config.get("max_retries", 5))
        self.backoff_base = float(config.get("retry_backoff_seconds", 1.0))
        self.allow_duplicate_save = bool(config.get("allow_duplicate_save", False))
        self.use_composite = bool(config.get("use_composite", True))
        self._lock = threading.Lock()
        self.api_calls = 0
        self._limits_tried = False
        self.bulk_wait_seconds = 0.0  # time spent waiting for Salesforce to process Bulk jobs
        self.calls_by_kind: dict[str, int] = {}
        self._describes: dict[str, dict[str, t.Any]] = {}
        self.describe_ttl = float(config.get("describe_cache_seconds", 86400) or 0)
        state = config.get("state_path") or ".target-salesforce-leads/hashes.sqlite"
        self.describe_dir: Path | None = Path(state).parent / "describe"

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"{self.auth.instance_url}/services/data/v{self.api_version}"

    def url(self, path: str) -> str:
        if path.startswith("/services/"):
            return f"{self.auth.instance_url}{path}"
        return f"{self.base}/{path.lstrip('/')}"

    def _count(self, kind: str) -> None:
        with self._lock:
            self.api_calls += 1
            self.calls_by_kind[kind] = self.calls_by_kind.get(kind, 0) + 1

    def _sleep(self, attempt: int) -> None:
        delay = min(30.0, self.backoff_base * (2**attempt)) * (0.5 + random.random() / 2)
        time.sleep(delay)

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
            hdrs = {"Authorization": f"Bearer {self.auth.access_token()}"}
            if self.allow_duplicate_save:
                hdrs["Sforce-Duplicate-Rule-Header"] = "allowSave=true"
            if headers:
                hdrs.update(headers)
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
                if attempt >= self.max_retries:
                    raise RetriesExhausted(
                        f"{method} {path} failed {attempt + 1} times ({type(exc).__name__})"
                    ) from None
                self.logger.warning(
                    "%s %s: %s; retrying (%d/%d)",
                    method,
                    path,
                    type(exc).__name__,
                    attempt + 1,
                    self.max_retries,
                )
                self._sleep(attempt)
                attempt += 1
                continue
            self.budget.observe_header(resp.headers.get("Sforce-Limit-Info"))
            if resp.status_code in expect:
                if not self.budget.has_figures() and not self._limits_tried and kind != "limits":
                    # No Sforce-Limit-Info (a proxy may strip it): ask /limits once instead.
                    self._limits_tried = True
                    self.limits()
                return resp
            body = _body(resp)
            code, message = error_of(body)
            if resp.status_code == 401 and not refreshed:
                # The session expired (or was revoked): renew it once and repeat the call.
                self.logger.info("Salesforce session expired; obtaining a new access token.")
                self.auth.refresh(generation)
                refreshed = True
                continue
            transient = resp.status_code >= 500 or code in TRANSIENT_CODES
            if transient:
                if attempt >= self.max_retries:
                    raise RetriesExhausted(
                        f"{method} {path} kept failing with {resp.status_code} {code or ''} after "
                        f"{attempt + 1} attempts"
                    )
                self.logger.warning(
                    "%s %s answered %s %s; retrying (%d/%d)",
                    method,
                    path,
                    resp.status_code,
                    code,
                    attempt + 1,
                    self.max_retries,
                )
                self._sleep(attempt)
                attempt += 1
                continue
            raise SalesforceError(
                resp.status_code, code or str(resp.status_code), message, method, path
            )

    # -- REST helpers -----------------------------------------------------------------------

    def describe(self, sobject: str, fresh: bool = False) -> tuple[dict[str, t.Any], bool]:
        """Return an sObject's describe and whether it came from the on-disk cache.

        Fetched at most once per run; between runs it is cached for ``describe_cache_seconds``
        (callers re-fetch with ``fresh=True`` when a record looks invalid only by the cache).
        """
        if not fresh and sobject in self._describes:
            return self._describes[sobject], False
        path = self._describe_path(sobject)
        if (
            not fresh
            and path is not None
            and path.exists()
            and time.time() - path.stat().st_mtime < self.describe_ttl
        ):
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
                self._describes[sobject] = body
                return body, True
            except (OSError, ValueError):
                pass
        resp = self.request("GET", f"sobjects/{quote(sobject)}/describe", kind="describe")
        body = resp.json()
        self._describes[sobject] = body
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(body), encoding="utf-8")
                tmp.replace(path)
            except OSError as exc:
                self.logger.warning("Could not cache the %s describe (%s).", sobject, exc)
        return body, False

    def forget_describe(self, sobject: str) -> None:
        """Drop a cached describe that Salesforce contradicted."""
        path = self._describe_path(sobject)
        if path is not None and path.exists():
            path.unlink(missing_ok=True)

    def _describe_path(self, sobject: str) -> Path | None:
        if self.describe_dir is None or self.describe_ttl <= 0:
            return None
        host = urlsplit(
            self.auth.instance_url if self.auth.has_instance_url else self.auth.login_url
        ).netloc.replace(":", "_")
        return self.describe_dir / f"{host}-v{self.api_version}-{sobject}.json"

    def limits(self) -> dict[str, t.Any]:
        """Return ``/limits`` and feed the daily request figures to the budget."""
        body = self.request("GET", "limits", kind="limits").json()
        daily = body.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            self.budget.observe(int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"]))
        return body

    def query_pages(self, soql: str) -> t.Iterator[dict[str, t.Any]]:
        """Yield each page of a SOQL query (``totalSize``, ``records``), following
        ``nextRecordsUrl``.
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
                    break
                except SalesforceError as exc:
                    if exc.status != 400:
                        raise
                    # The request as a whole was refused: these queries go one by one below.
                    continue
                for i, ans in zip(part, answers, strict=True):
                    status = int(ans.get("httpStatusCode") or 0)
                    body = ans.get("body")
                    if status == 200 and isinstance(body, dict):
                        records = list(body.get("records") or [])
                        page = body
                        while not page.get("done", True) and page.get("nextRecordsUrl"):
                            page = self.request("GET", page["nextRecordsUrl"], kind="query").json()
                            records.extend(page.get("records") or [])
                        results[i] = records
                        continue
                    code, message = error_of(body)
                    if status >= 500 or code in TRANSIENT_CODES:
                        if attempt >= self.max_retries:
                            raise RetriesExhausted(
                                f"a query in /composite kept failing with {status} {code}"
                            )
                        retry.append(i)
                    else:
                        results[i] = SalesforceError(
                            status, code or str(status), message, "GET", "query"
                        )
            else:
                todo = retry
                if todo:
                    self._sleep(attempt)
                    attempt += 1
                continue
        for i, soql in enumerate(soqls):
            if results[i] is None:
                try:
                    results[i] = list(self.query(soql))
                except SalesforceError as exc:
                    results[i] = exc
        return t.cast(list, results)

    def stats(self) -> dict[str, t.Any]:
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
