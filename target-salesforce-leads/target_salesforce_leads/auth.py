"""OAuth 2.0 token exchange with Salesforce, done by the target itself.

simple-salesforce has no refresh-token grant and does not refresh sessions it did not open, so the
target obtains and renews access tokens here and hands them to whatever talks to the API.

The token answer also says which org the credentials belong to: its identity URL ``id`` ends in
``/id/{orgId}/{userId}``. :attr:`SalesforceAuth.org_id` is that org id;
:attr:`SalesforceAuth.org_key` is what per-org state is keyed by (the org id, or the instance
URL's host when a server answers no identity URL).
"""

from __future__ import annotations

import threading
import time
import typing as t
import uuid
from urllib.parse import urlsplit

import requests

GRANTS = ("refresh_token", "jwt", "client_credentials", "password")


class AuthError(Exception):
    """No access token could be obtained; the message says why and what to do.

    Attributes:
        code: The OAuth ``error`` Salesforce answered (``invalid_grant``, ...), or
            ``login_unavailable`` (5xx, no answer) and ``config`` (nothing usable configured).
        transient: True when the login service failed (5xx, connection): not a credential
            problem, a later run may succeed unchanged.
    """

    def __init__(self, message: str, code: str = "config", transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


def org_id_from_identity(identity_url: t.Any) -> str | None:
    """The org id in a token answer's identity URL ``https://host/id/{orgId}/{userId}``."""
    if not isinstance(identity_url, str) or not identity_url:
        return None
    parts = [p for p in urlsplit(identity_url).path.split("/") if p]
    for i in range(len(parts) - 2, 0, -1):
        if parts[i - 1] == "id" and parts[i] and parts[i + 1]:
            return parts[i]
    return None


def choose_grant(config: t.Mapping[str, t.Any]) -> str:
    """Pick the OAuth grant from the settings that are present.

    Args:
        config: Target settings.

    Returns:
        One of ``GRANTS``.

    Raises:
        AuthError: If no complete set of credentials is configured.
    """
    explicit = config.get("auth_flow")
    if explicit:
        if explicit not in GRANTS:
            raise AuthError(
                f"auth_flow {explicit!r} is not supported; choose one of {', '.join(GRANTS)}."
            )
        return str(explicit)
    if config.get("refresh_token"):
        return "refresh_token"
    if config.get("username") and (config.get("private_key") or config.get("private_key_path")):
        return "jwt"
    if config.get("username") and config.get("password"):
        return "password"
    if config.get("client_id") and config.get("client_secret"):
        return "client_credentials"
    raise AuthError(
        "No Salesforce credentials are configured, so the target cannot log in. Set client_id, "
        "client_secret and refresh_token (or username + private_key for JWT, username + password, "
        "or client_id + client_secret for client credentials)."
    )


class SalesforceAuth:
    """Holds the current access token and renews it on demand (thread safe)."""

    def __init__(
        self, config: t.Mapping[str, t.Any], session: requests.Session, verify: str | bool = True
    ) -> None:
        self._config = config
        self._verify = verify
        self._session = session
        self.grant = choose_grant(config)
        self.login_url = str(
            config.get("login_url") or config.get("instance_url") or "https://login.salesforce.com"
        ).rstrip("/")
        self._lock = threading.Lock()
        self._token: str | None = None
        self._instance_url: str | None = config.get("instance_url")
        self._org_id: str | None = None
        self._logged_in = False
        self._generation = 0
        self.token_requests = 0

    @property
    def org_id(self) -> str | None:
        """The org id from the token answer's identity URL (logs in first if needed).

        None only when the server answers no usable ``id``; :attr:`org_key` then falls back.
        """
        if not self._logged_in:
            self.access_token()
        return self._org_id

    @property
    def org_key(self) -> str:
        """What per-org state is keyed by: the org id, else the instance URL's host[:port].

        The host fallback is only for servers that answer no identity URL: it changes when an
        org moves instance or gets a My Domain, so Salesforce itself always yields the org id.
        """
        org = self.org_id
        if org:
            return org
        return urlsplit(self.instance_url).netloc.lower() or self.instance_url

    @property
    def instance_url(self) -> str:
        """Base URL of the org's API (from the token answer unless configured)."""
        if self._instance_url is None:
            self.access_token()
        return str(self._instance_url).rstrip("/")

    @property
    def has_instance_url(self) -> bool:
        return self._instance_url is not None

    @property
    def generation(self) -> int:
        """Increases each time a new token is obtained; lets callers refresh only once."""
        return self._generation

    def access_token(self) -> str:
        """Return a usable access token, logging in first if needed."""
        with self._lock:
            if self._token is None:
                self._login()
            return str(self._token)

    def refresh(self, seen_generation: int) -> None:
        """Obtain a new token unless another thread already did since ``seen_generation``."""
        with self._lock:
            if self._generation == seen_generation:
                self._login()

    def _login(self) -> None:
        data = self._grant_form()
        url = f"{self.login_url}/services/oauth2/token"
        retries = int(self._config.get("max_retries", 5))
        backoff = float(self._config.get("retry_backoff_seconds", 1.0))
        resp: requests.Response | None = None
        for attempt in range(retries + 1):
            self.token_requests += 1
            try:
                resp = self._session.post(url, data=data, timeout=60, verify=self._verify)
            except requests.exceptions.SSLError:
                raise AuthError(
                    f"The TLS certificate of the Salesforce login host {self.login_url} could "
                    "not be verified, so the target did not send the credentials. Check "
                    "login_url, and set ca_bundle to the CA file when a proxy or emulator signs "
                    "the certificate.",
                    code="tls",
                ) from None
            except requests.RequestException as exc:
                if attempt < retries:
                    time.sleep(min(30.0, backoff * 2**attempt))
                    continue
                raise AuthError(
                    f"Salesforce's login service at {self.login_url} could not be reached "
                    f"({type(exc).__name__}, {attempt + 1} attempts). This is not a credential "
                    "problem: check login_url and the network (proxy, firewall), then retry "
                    "later.",
                    code="login_unavailable",
                    transient=True,
                ) from None
            if resp.status_code >= 500 and attempt < retries:
                time.sleep(min(30.0, backoff * 2**attempt))
                continue
            break
        assert resp is not None
        if resp.status_code >= 500:
            raise AuthError(
                f"Salesforce's login service failed (HTTP {resp.status_code} from "
                f"{self.login_url}/services/oauth2/token, {retries + 1} attempts). This is not a "
                "credential problem: retry later (Salesforce's trust status page shows "
                "incidents).",
                code="login_unavailable",
                transient=True,
            )
        body = _json(resp)
        if resp.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            raise self._refusal(resp.status_code, body)
        self._token = str(body["access_token"])
        if not self._config.get("instance_url") and body.get("instance_url"):
            self._instance_url = body["instance_url"]
        elif self._instance_url is None:
            self._instance_url = self.login_url
        self._org_id = org_id_from_identity(body.get("id"))
        self._logged_in = True
        self._generation += 1

    def _refusal(self, status: int, body: t.Any) -> AuthError:
        """The error for a token answer that is not a token: which setting to fix, and how."""
        if isinstance(body, list):
            body = body[0] if body and isinstance(body[0], dict) else {}
        if not isinstance(body, dict):
            body = {}
        error = str(body.get("error") or body.get("errorCode") or f"HTTP {status}")
        detail = str(body.get("error_description") or body.get("message") or "").strip()
        said = f"{error}: {detail}" if detail else error
        head = f"Salesforce refused the {self.grant} login ({said})"
        env = "TARGET_SALESFORCE_LEADS_"
        if error in ("invalid_client_id", "invalid_client"):
            return AuthError(
                f"{head}: the Connected App's client id or client secret is wrong. Set "
                f"{env}CLIENT_ID and {env}CLIENT_SECRET (settings client_id, client_secret) to "
                "the app's Consumer Key and Consumer Secret (Setup > App Manager > the app > "
                "View > Manage Consumer Details).",
                code=error,
            )
        if error == "invalid_grant" and self.grant == "refresh_token":
            return AuthError(
                f"{head}: the refresh token is wrong, expired or revoked (a password reset, an "
                "admin revoking the app's access, or the app's refresh token policy). Get a new "
                "one by authorizing the Connected App again as the integration user (OAuth web "
                "server flow, scopes api refresh_token offline_access) and set "
                f"{env}REFRESH_TOKEN to the refresh_token it returns.",
                code=error,
            )
        if error == "invalid_grant" and self.grant == "password":
            return AuthError(
                f"{head}: the username or password is wrong, the user is locked or inactive, "
                "or the security token is missing or outdated. Set "
                f"{env}USERNAME, {env}PASSWORD and {env}SECURITY_TOKEN (a new token is sent by "
                "Settings > Reset My Security Token).",
                code=error,
            )
        if error == "invalid_grant" and self.grant == "jwt":
            return AuthError(
                f"{head}: the JWT assertion was not accepted: check that the certificate "
                "uploaded to the Connected App matches private_key, that username is the "
                "integration user and that the user is pre-authorized (the app's Permitted "
                "Users: Admin approved, with the user's profile or permission set).",
                code=error,
            )
        if error == "invalid_grant":
            return AuthError(
                f"{head}: the client credentials flow found no usable run-as user. In the "
                "Connected App enable the Client Credentials Flow and set its Run As user; "
                "login_url must be the org's My Domain URL.",
                code=error,
            )
        if error == "unsupported_grant_type":
            return AuthError(
                f"{head}: this login host does not allow the {self.grant} flow. Enable it in "
                "the Connected App, or set auth_flow to another grant whose credentials you "
                "have.",
                code=error,
            )
        return AuthError(
            f"{head}. Check login_url ({self.login_url}) and the credentials for the "
            f"{self.grant} grant.",
            code=error,
        )

    def _grant_form(self) -> dict[str, str]:
        cfg = self._config
        client_id = str(cfg.get("client_id") or "")
        if self.grant == "refresh_token":
            return {
                "grant_type": "refresh_token",
                "refresh_token": str(cfg.get("refresh_token") or ""),
                "client_id": client_id,
                "client_secret": str(cfg.get("client_secret") or ""),
            }
        if self.grant == "password":
            return {
                "grant_type": "password",
                "username": str(cfg.get("username") or ""),
                "password": str(cfg.get("password") or "") + str(cfg.get("security_token") or ""),
                "client_id": client_id,
                "client_secret": str(cfg.get("client_secret") or ""),
            }
        if self.grant == "client_credentials":
            return {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": str(cfg.get("client_secret") or ""),
            }
        return {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": self._jwt_assertion(),
        }

    def _jwt_assertion(self) -> str:
        import jwt  # pyjwt; imported here so other grants do not need cryptography loaded

        cfg = self._config
        key = cfg.get("private_key")
        if not key and cfg.get("private_key_path"):
            with open(str(cfg["private_key_path"]), encoding="utf-8") as fh:
                key = fh.read()
        claims = {
            "iss": cfg.get("client_id"),
            "sub": cfg.get("username"),
            "aud": cfg.get("jwt_audience") or self.login_url,
            "exp": int(time.time()) + 180,
            "jti": uuid.uuid4().hex,
        }
        try:
            return jwt.encode(claims, key, algorithm="RS256")
        except Exception as exc:  # the key itself must never reach the log
            raise AuthError(
                "The JWT private key could not be used to sign the login assertion "
                f"({type(exc).__name__}); set private_key (PEM text) or private_key_path to the "
                "RSA key whose certificate is uploaded to the Connected App."
            ) from None


def _json(resp: requests.Response) -> t.Any:
    try:
        return resp.json()
    except ValueError:
        return None
