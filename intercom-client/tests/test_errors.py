"""Answers sorted into errors whose messages say what happened, why and what to do."""

from __future__ import annotations

import json

import pytest
from intercom_client.errors import (
    AccessError,
    Advice,
    AuthError,
    NotFoundError,
    RejectedError,
    TransientError,
    check_response,
    error_code,
    is_rate_limited,
)

from .ic_fakes import answer

ADVICE = Advice(token="THE_TOKEN_VARIABLE", skip="deselect the stream", plugin="tap", unit="stream")


def with_body(status: int, code: str, message: str, path: str = "/contacts") -> object:
    response = answer(status, url=f"https://api.intercom.io{path}?email=secret@example.com")
    response._content = json.dumps(
        {"type": "error.list", "errors": [{"code": code, "message": message}]}
    ).encode()
    return response


def test_a_success_raises_nothing() -> None:
    check_response(answer(200))
    check_response(answer(304))


def test_401_names_the_token_setting() -> None:
    with pytest.raises(AuthError) as raised:
        check_response(with_body(401, "unauthorized", "Access Token Invalid"), ADVICE)
    assert "refused the access token" in str(raised.value)
    assert "update THE_TOKEN_VARIABLE, and check `region`" in str(raised.value)


@pytest.mark.parametrize(
    ("code", "why"),
    [("api_plan_restricted", "subscription"), ("token_unauthorized", "lacks the permission")],
)
def test_403_says_whether_plan_or_permission(code: str, why: str) -> None:
    with pytest.raises(AccessError) as raised:
        check_response(with_body(403, code, "nope"), ADVICE)
    message = str(raised.value)
    assert why in message and message.endswith("or deselect the stream.")
    assert "secret" not in message


def test_404_429_5xx_and_other_4xx() -> None:
    with pytest.raises(NotFoundError, match="404 not_found"):
        check_response(with_body(404, "not_found", "gone"))
    for status in (429, 500, 503):
        with pytest.raises(TransientError) as raised:
            check_response(answer(status))
        assert raised.value.response.status_code == status
        assert is_rate_limited(raised.value) is (status == 429)
    with pytest.raises(RejectedError) as rejected:
        check_response(with_body(400, "intercom_version_invalid", "bad version"), ADVICE)
    assert "the API version the tap asked for" in str(rejected.value)
    assert "intercom_version" in str(rejected.value)


def test_error_code_of_a_body_that_is_not_an_error_list() -> None:
    response = answer(502)
    response._content = b"<html>bad gateway</html>"
    response.reason = "Bad Gateway"
    assert error_code(response) == ("", "Bad Gateway")
