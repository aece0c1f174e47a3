"""Intercom's answers sorted into errors, each saying what happened, why, and what to do.

:func:`check_response` raises the error an answer stands for: :class:`TransientError` (429, 5xx:
worth another attempt) or a :class:`FatalError` (401, 403, 404, other 4xx). What a person is told
to do depends on the plugin that met the error; :class:`Advice` carries those words.
"""

from __future__ import annotations

import dataclasses
import typing as t
from http import HTTPStatus
from urllib.parse import urlparse

if t.TYPE_CHECKING:
    import requests


@dataclasses.dataclass(frozen=True)
class Advice:
    """The plugin-specific words of the "what to do" sentences.

    Attributes:
        token: Where the access token is set.
        skip: How to leave out what needs a missing permission or plan.
        rerun: How to try again later, and what is kept meanwhile.
        runs: Who else may spend this app's rate limit from the same plugin.
        plugin: What the plugin is called in the messages.
        unit: The part of the plugin a permission is needed for.
    """

    token: str = "the access_token setting"
    skip: str = "leave out what needs it"
    rerun: str = "Run again later"
    runs: str = "other runs of this plugin"
    plugin: str = "plugin"
    unit: str = "plugin"


class IntercomError(Exception):
    """Base of every error this package raises."""


class TransientError(IntercomError):
    """An answer worth another attempt: 429 (rate limit) or 5xx.

    Attributes:
        response: The answer.
    """

    def __init__(self, message: str, response: requests.Response) -> None:
        super().__init__(message)
        self.response = response


class FatalError(IntercomError):
    """A failure another attempt will not fix; its message says what to do."""


class AuthError(FatalError):
    """401: Intercom refused the access token."""


class AccessError(FatalError):
    """403: the token lacks a permission, or the workspace's plan the API access."""


class NotFoundError(FatalError):
    """404: the object is gone (e.g. deleted between listing it and reading it)."""


class RejectedError(FatalError):
    """Another 4xx: the request does not fit the API version asked for."""


class RetriesExhaustedError(FatalError):
    """A request kept failing (rate limit, 5xx, network) beyond the retry bounds."""


def auth_message(advice: Advice) -> str:
    """What a person reads after a 401."""
    return (
        "Intercom refused the access token (401 unauthorized). "
        "The token was revoked, or the app was reinstalled or removed from the workspace "
        "(or the token belongs to a workspace in another region). "
        "Regenerate the token in Intercom's Developer Hub (your app > Authentication) and update "
        f"{advice.token}, and check `region`."
    )


def error_code(response: requests.Response) -> tuple[str, str]:
    """The first error code and message of an Intercom ``error.list`` body."""
    try:
        body = response.json()
    except ValueError:
        return "", response.reason or ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors and isinstance(errors, list) and isinstance(errors[0], dict):
        return str(errors[0].get("code") or ""), str(errors[0].get("message") or "")
    return "", response.reason or ""


def path_of(url: str | None) -> str:
    """The path of a URL, without its query string (which may carry search terms)."""
    return urlparse(url or "").path


def check_response(response: requests.Response, advice: Advice | None = None) -> None:
    """Raise the error an answer stands for; return quietly for a success (< 400).

    Raises:
        TransientError: 429 or 5xx.
        AuthError: 401.
        AccessError: 403.
        NotFoundError: 404.
        RejectedError: any other 4xx.
    """
    status = response.status_code
    if status < HTTPStatus.BAD_REQUEST:
        return
    advice = advice or Advice()
    path = path_of(response.url)
    code, detail = error_code(response)
    method = response.request.method if response.request is not None else "?"
    if status == HTTPStatus.UNAUTHORIZED:
        raise AuthError(auth_message(advice))
    if status == HTTPStatus.FORBIDDEN:
        raise AccessError(_forbidden_message(path, code, detail, advice))
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise TransientError(f"{status} {code or response.reason} on {method} {path}", response)
    if status == HTTPStatus.NOT_FOUND:
        raise NotFoundError(f"404 {code}: {detail} ({path})")
    msg = (
        f"Intercom rejected {method} {path} ({status} {code}: {detail}). "
        f"The request does not fit the API version the {advice.plugin} asked for. "
        f"Check the `intercom_version` setting; if it is right, report this to the "
        f"{advice.plugin}'s maintainers with the message above."
    )
    raise RejectedError(msg)


def _forbidden_message(path: str, code: str, detail: str, advice: Advice) -> str:
    if code == "api_plan_restricted":
        return (
            f"Intercom refused the request to {path} (403 api_plan_restricted: {detail}). "
            "The workspace's subscription does not include API access to this resource. "
            f"Ask the workspace owner to enable the plan that includes it, or {advice.skip}."
        )
    return (
        f"Intercom refused the request to {path} (403 {code}: {detail}). "
        f"The access token lacks the permission this {advice.unit} needs. "
        f"Grant the scope in the app's settings in Intercom's Developer Hub, or {advice.skip}."
    )


def is_rate_limited(exc: BaseException | None) -> bool:
    """Whether a failure is Intercom's rate limit (a 429 answer)."""
    response = getattr(exc, "response", None)
    return response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS


def describe(exc: BaseException) -> str:
    """The last answer's status, or the kind of network error, without anything secret."""
    response = getattr(exc, "response", None)
    if response is not None:
        return f"last answer {response.status_code}"
    return f"last error {type(exc).__name__}"


def rate_limit_message(
    request: requests.PreparedRequest,
    answers: int,
    spent: float,
    wait: float,
    max_time: float,
    advice: Advice,
) -> str:
    """Why a request stopped after waiting out 429s for as long as allowed."""
    later = f"; the next window opens in {wait:.0f} s" if wait >= 1 else ""
    return (
        f"Intercom's rate limit refused {request.method} {path_of(request.url)} {answers} times "
        f"in a row (429 rate_limit_exceeded) over {spent:.0f} s of waiting; waiting longer would "
        f"pass max_retry_seconds ({max_time:.0f} s){later}. "
        "Something else is spending this Intercom app's rate limit: another app or "
        f"integration using the same access token, or {advice.runs}. "
        f"{advice.rerun}; to wait longer, raise max_retry_seconds; to leave room for "
        f"{advice.runs}, lower their rate_limit_share; and give any other integration its own "
        "Intercom app and token."
    )


def failure_message(
    request: requests.PreparedRequest,
    exc: BaseException,
    attempts: int,
    spent: float,
    advice: Advice,
) -> str:
    """Why a request stopped after failing (5xx, network) as often as allowed."""
    return (
        f"Intercom kept failing on {request.method} {path_of(request.url)} ({describe(exc)}) "
        f"after {attempts} failed attempts over {spent:.0f} s. "
        "Intercom or the network to it is having trouble. "
        f"{advice.rerun}, and check Intercom's status page if it persists; max_retries and "
        "max_retry_seconds bound these retries."
    )
