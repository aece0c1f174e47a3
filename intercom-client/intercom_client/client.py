"""One request at a time to a workspace's API, paced, checked and retried.

The requests-level front door for code without the Singer SDK (the coming Intercom writer). The
tap's streams put the same parts together on the SDK's ``RESTStream``.
"""

from __future__ import annotations

import threading
import typing as t

import requests

from intercom_client.errors import Advice, check_response
from intercom_client.governor import GovernedSession, RateGovernor
from intercom_client.paging import response_json
from intercom_client.regions import base_url
from intercom_client.retry import Retrier, RetryPolicy
from intercom_client.versions import request_headers


class IntercomClient:
    """Requests to one workspace, shared by threads (one session, one connection pool each).

    Args:
        access_token: The app's access token (sent only in the Authorization header).
        region: ``us``, ``eu`` or ``au``.
        api_url: Base URL replacing the region's host (a proxy, the emulator).
        version: The ``Intercom-Version`` header.
        governor: The rate governor every request of the process goes through.
        policy: Retry bounds.
        advice: The plugin's words in error messages.
        timeout: Seconds to wait for one answer.
        user_agent: The ``User-Agent`` header.
    """

    def __init__(
        self,
        access_token: str,
        *,
        region: str | None = None,
        api_url: str | None = None,
        version: str | None = None,
        governor: RateGovernor | None = None,
        policy: RetryPolicy | None = None,
        advice: Advice | None = None,
        timeout: float = 60.0,
        user_agent: str | None = None,
    ) -> None:
        self.base_url = base_url(region, api_url)
        self.governor = governor or RateGovernor()
        self.advice = advice or Advice()
        self.retrier = Retrier(self.governor, policy, self.advice)
        self.timeout = timeout
        self.headers = {**request_headers(version), "Authorization": f"Bearer {access_token}"}
        if user_agent:
            self.headers["User-Agent"] = user_agent
        self._local = threading.local()

    def session(self) -> GovernedSession:
        """This thread's session, paced by the governor."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = GovernedSession(self.governor)
        return session

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, t.Any] | None = None,
        json: t.Any = None,
    ) -> requests.Response:
        """Send one request (``path`` from the base URL) until it succeeds or cannot.

        Raises:
            intercom_client.errors.FatalError: An answer no retry fixes, or retries exhausted.
        """
        prepared = requests.Request(
            method, f"{self.base_url}{path}", params=params, json=json, headers=self.headers
        ).prepare()

        def send() -> requests.Response:
            response = self.session().send(prepared, timeout=self.timeout)
            check_response(response, self.advice)
            return response

        return self.retrier.call(send, prepared)

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, t.Any] | None = None,
        json: t.Any = None,
    ) -> t.Any:
        """Like :meth:`request`, answering the decoded body."""
        return response_json(self.request(method, path, params=params, json=json))
