"""OAuth 2.0 token endpoints, the identity URL and the API version list."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.backend import release_label
from emulators.salesforce.ids import normalize
from emulators.salesforce.responses import json_response
from emulators.salesforce.store import USER_ID

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """An OAuth error answer (``error`` and ``error_description``)."""
    return json_response({"error": error, "error_description": description}, status)


def _grant_problem(emulator: Emulator, form: dict[str, str]) -> tuple[Response | None, str | None]:
    """(the refusal of a token request or None, the refresh token it spends)."""
    settings = emulator.settings
    grant = form.get("grant_type", "")
    if grant not in {"refresh_token", "password", "client_credentials"}:
        return oauth_error("unsupported_grant_type", "grant type not supported"), None
    if form.get("client_id") != settings.client_id:
        return oauth_error("invalid_client_id", "client identifier invalid"), None
    if form.get("client_secret") != settings.client_secret:
        return oauth_error("invalid_client", "invalid client credentials"), None
    refresh = None
    if grant == "refresh_token":
        refresh = form.get("refresh_token", "")
        if refresh != settings.refresh_token or refresh in emulator.revoked_refresh:
            return oauth_error("invalid_grant", "expired access/refresh token"), None
    elif grant == "password":
        password = form.get("password", "")
        if form.get("username") != settings.username or password != settings.password:
            return oauth_error("invalid_grant", "authentication failure"), None
    return None, refresh


async def oauth(emulator: Emulator, request: Request, path: str) -> Response:
    """Answer the ``/services/oauth2/`` token grants (password, refresh, client) and revoke."""
    endpoint = path.rstrip("/").rsplit("/", 1)[-1]
    if endpoint == "userinfo" and request.method in {"GET", "POST"}:
        return identity(emulator, request, "userinfo")
    if request.method != "POST" or endpoint not in {"token", "revoke"}:
        return oauth_error("not_found", "unknown OAuth endpoint", 404)
    raw = (await request.body()).decode("utf-8", errors="replace")
    form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
    form.update(request.query_params)
    if endpoint == "revoke":
        token = form.get("token", "")
        if token in emulator.tokens:
            emulator.tokens.pop(token)
        elif token:
            emulator.revoke_refresh(token)
        return Response(status_code=200)
    refused, refresh = _grant_problem(emulator, form)
    if refused is not None:
        return refused
    base = str(request.base_url).rstrip("/")
    token = emulator.issue_token(refresh)
    body = {
        "access_token": token,
        "signature": secrets.token_urlsafe(32),
        "scope": "api refresh_token",
        "instance_url": base,
        "id": f"{base}/id/{emulator.org_id}/{USER_ID}",
        "token_type": "Bearer",
        "issued_at": str(int(time.time() * 1000)),
    }
    return json_response(body, headers={"Cache-Control": "no-cache,must-revalidate,no-store"})


def identity(
    emulator: Emulator, request: Request, kind: str, org: str | None = None, user: str | None = None
) -> Response:
    """The identity URL (``/id/{org}/{user}``) or OpenID ``/services/oauth2/userinfo``.

    Both need a valid access token (403 ``Bad_OAuth_Token`` otherwise, as Salesforce answers)
    and are not billed: Salesforce limits them per token and hour, not by the daily budget.
    """
    if not emulator.token_valid(request.headers.get("authorization")):
        return Response("Bad_OAuth_Token", status_code=403, media_type="text/plain")
    if kind == "id" and (
        normalize(org or "") != emulator.org_id or normalize(user or "") != USER_ID
    ):
        return Response("Bad_Id", status_code=404, media_type="text/plain")
    base = str(request.base_url).rstrip("/")
    user_rec = emulator.store.records["User"][USER_ID]
    version = emulator.settings.api_version
    urls = {
        name: f"{base}/services/data/v{version}/{name}/" for name in ("sobjects", "query", "recent")
    }
    urls["rest"] = f"{base}/services/data/v{version}/"
    common = {
        "user_id": USER_ID,
        "organization_id": emulator.org_id,
        "email": user_rec.get("Email"),
        "email_verified": True,
        "active": True,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 3600000,
        "urls": urls,
        "is_app_installed": True,
    }
    if kind == "userinfo":
        body = {
            "sub": f"{base}/id/{emulator.org_id}/{USER_ID}",
            "preferred_username": emulator.settings.username,
            "nickname": user_rec.get("Alias"),
            "name": user_rec.get("Name"),
            "given_name": user_rec.get("FirstName"),
            "family_name": user_rec.get("LastName"),
            "zoneinfo": user_rec.get("TimeZoneSidKey"),
            "updated_at": user_rec.get("LastModifiedDate"),
            **common,
        }
    else:
        body = {
            "id": f"{base}/id/{emulator.org_id}/{USER_ID}",
            "asserted_user": True,
            "username": emulator.settings.username,
            "nick_name": user_rec.get("Alias"),
            "display_name": user_rec.get("Name"),
            "first_name": user_rec.get("FirstName"),
            "last_name": user_rec.get("LastName"),
            "timezone": user_rec.get("TimeZoneSidKey"),
            "last_modified_date": user_rec.get("LastModifiedDate"),
            **common,
        }
    return json_response(body)


def versions(emulator: Emulator) -> Response:
    """Answer ``GET /services/data/``: every API version up to the emulated one."""
    top = int(float(emulator.settings.api_version))
    return json_response(
        [
            {"label": release_label(f"{v}.0"), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
            for v in range(31, top + 1)
        ]
    )
