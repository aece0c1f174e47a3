"""OAuth 2.0 token exchange with Salesforce: refresh-token, JWT, client-credentials, password.

:class:`SalesforceAuth` is a singer-sdk :class:`~singer_sdk.authenticators.OAuthAuthenticator`, so
an SDK stream can use it as its ``authenticator`` and a plain client can call :meth:`token`. It
uses the SDK's ``auth_endpoint``, ``client_id``/``client_secret``, ``oauth_request_body`` (one body
per grant), ``is_token_valid`` and ``authenticate_request`` hooks, and overrides
``update_access_token`` (a public hook) because the SDK's own cannot do what Salesforce needs: it
posts without ``verify=`` (so ``ca_bundle`` would lose to REQUESTS_CA_BUNDLE), retries with its own
urllib3 policy instead of :class:`~salesforce_client.retry.RetryPolicy`, drops the answer's
``instance_url`` and identity ``id``, and fails with a bare ``RuntimeError`` instead of a message
that names the setting to fix. The JWT assertion is built here rather than by the SDK's
``OAuthJWTAuthenticator``, whose claims lack ``sub`` (the user) and expire in an hour where
Salesforce wants minutes. One module (over 400 lines): the four grants share one token request,
its retries and its error wording.

The token answer also says which org the credentials belong to: its identity URL ``id`` ends in
``/id/{orgId}/{userId}``. :attr:`SalesforceAuth.org_id` is that org id;
:attr:`SalesforceAuth.org_key` is what per-org state is keyed by (the org id, or the instance
URL's host when a server answers no identity URL).
"""

from __future__ import annotations

import datetime
import threading
import time
import typing as t
import uuid
from urllib.parse import urlsplit

import requests
from singer_sdk.authenticators import OAuthAuthenticator

from salesforce_client.retry import RetryPolicy

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
        "No Salesforce credentials are configured, so there is no way to log in. Set client_id, "
        "client_secret and refresh_token (or username + private_key for JWT, username + password, "
        "or client_id + client_secret for client credentials)."
    )


class SalesforceAuth(OAuthAuthenticator):
    """Holds the current access token and renews it on demand (thread safe).

    Salesforce's token answer has no ``expires_in`` (the session lifetime is an org setting), so
    a token counts as valid until an API call answers 401; the caller then calls
    :meth:`refresh` with the :attr:`generation` it used, so that one expiry seen by several
    threads costs one login.
    """

    def __init__(
        self,
        config: t.Mapping[str, t.Any],
        session: requests.Session,
        verify: str | bool = True,
        retry: RetryPolicy | None = None,
        env_prefix: str = "",
    ) -> None:
        """Read the grant's settings from ``config``; log in lazily, on first use.

        Args:
            config: Settings: ``auth_flow``, ``client_id``, ``client_secret``,
                ``refresh_token``, ``username``, ``password``, ``security_token``,
                ``private_key``/``private_key_path``, ``jwt_audience``, ``login_url``,
                ``instance_url``, ``max_retries``, ``retry_backoff_seconds``.
            session: The HTTP session to post the token requests with.
            verify: TLS verification for the login host (a CA bundle path, or a bool).
            retry: The retry policy for a failing login service (default: from ``config``).
            env_prefix: The plugin's environment variable prefix (``TARGET_SALESFORCE_LEADS_``),
                so that refusals name the variables to set; empty: they name the settings.
        """
        grant = choose_grant(config)
        login_url = str(
            config.get("login_url") or config.get("instance_url") or "https://login.salesforce.com"
        ).rstrip("/")
        super().__init__(
            auth_endpoint=f"{login_url}/services/oauth2/token",
            client_id=str(config.get("client_id") or ""),
            client_secret=str(config.get("client_secret") or ""),
        )
        self._settings = config
        self._env_prefix = env_prefix
        self._verify = verify
        self._http = session
        self._retry = retry or RetryPolicy.from_config(config)
        self.grant = grant
        self.login_url = login_url
        self._lock = threading.Lock()
        self._instance_url: str | None = config.get("instance_url")
        self._org_id: str | None = None
        self._generation = 0
        self.token_requests = 0

    @property
    def org_id(self) -> str | None:
        """The org id from the token answer's identity URL (logs in first if needed).

        None only when the server answers no usable ``id``; :attr:`org_key` then falls back.
        """
        self.token()
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
            self.token()
        return str(self._instance_url).rstrip("/")

    @property
    def has_instance_url(self) -> bool:
        """True once the instance URL is known (configured, or from a token answer)."""
        return self._instance_url is not None

    @property
    def generation(self) -> int:
        """Increases each time a new token is obtained; lets callers refresh only once."""
        return self._generation

    def token(self) -> str:
        """Return a usable access token, logging in first if needed."""
        with self._lock:
            if not self.is_token_valid():
                self._login()
            return str(self.access_token)

    def refresh(self, seen_generation: int) -> None:
        """Obtain a new token unless another thread already did since ``seen_generation``."""
        with self._lock:
            if self._generation == seen_generation:
                self._login()

    def update_access_token(self) -> None:
        """Obtain a new access token now (the SDK hook; see the module docstring for why)."""
        with self._lock:
            self._login()

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the ``Authorization`` header, logging in first if needed (thread safe)."""
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    @property
    def oauth_request_body(self) -> dict[str, str]:
        """The token request's form for the configured grant."""
        cfg = self._settings
        if self.grant == "refresh_token":
            return {
                "grant_type": "refresh_token",
                "refresh_token": str(cfg.get("refresh_token") or ""),
                "client_id": str(self.client_id),
                "client_secret": str(self.client_secret),
            }
        if self.grant == "password":
            return {
                "grant_type": "password",
                "username": str(cfg.get("username") or ""),
                "password": str(cfg.get("password") or "") + str(cfg.get("security_token") or ""),
                "client_id": str(self.client_id),
                "client_secret": str(self.client_secret),
            }
        if self.grant == "client_credentials":
            return {
                "grant_type": "client_credentials",
                "client_id": str(self.client_id),
                "client_secret": str(self.client_secret),
            }
        return {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": self._jwt_assertion(),
        }

    def _post_token_request(self) -> requests.Response:
        """POST the grant's form, retrying a failing login service by the retry policy."""
        data = self.oauth_request_body
        attempt = 0
        while True:
            self.token_requests += 1
            try:
                resp = self._http.post(
                    self.auth_endpoint, data=data, timeout=60, verify=self._verify
                )
            except requests.exceptions.SSLError:
                raise AuthError(
                    f"The TLS certificate of the Salesforce login host {self.login_url} could "
                    "not be verified, so the credentials were not sent. Check "
                    "login_url, and set ca_bundle to the CA file when a proxy or emulator signs "
                    "the certificate.",
                    code="tls",
                ) from None
            except requests.RequestException as exc:
                if self._retry.gives_up(attempt):
                    raise AuthError(
                        f"Salesforce's login service at {self.login_url} could not be reached "
                        f"({type(exc).__name__}, {attempt + 1} attempts). This is not a "
                        "credential problem: check login_url and the network (proxy, "
                        "firewall), then retry later.",
                        code="login_unavailable",
                        transient=True,
                    ) from None
            else:
                if resp.status_code < 500 or self._retry.gives_up(attempt):
                    return resp
            self._retry.wait(attempt)
            attempt += 1

    def _login(self) -> None:
        resp = self._post_token_request()
        if resp.status_code >= 500:
            raise AuthError(
                f"Salesforce's login service failed (HTTP {resp.status_code} from "
                f"{self.auth_endpoint}, {self._retry.max_retries + 1} attempts). This is not a "
                "credential problem: retry later (Salesforce's trust status page shows "
                "incidents).",
                code="login_unavailable",
                transient=True,
            )
        body = _json(resp)
        if resp.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            raise self._refusal(resp.status_code, body)
        self.access_token = str(body["access_token"])
        if not self._settings.get("instance_url") and body.get("instance_url"):
            self._instance_url = body["instance_url"]
        elif self._instance_url is None:
            self._instance_url = self.login_url
        self._org_id = org_id_from_identity(body.get("id"))
        self.last_refreshed = datetime.datetime.now(datetime.timezone.utc)
        self.expires_in = None
        self._generation += 1

    def _names(self, *settings: str) -> str:
        """How a message names settings: their environment variables when the prefix is known."""
        if self._env_prefix:
            names = [f"{self._env_prefix}{s.upper()}" for s in settings]
            label = f" (setting{'s' if len(settings) > 1 else ''} {', '.join(settings)})"
        else:
            names, label = list(settings), ""
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return listed + label

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
        if error in ("invalid_client_id", "invalid_client"):
            return AuthError(
                f"{head}: the Connected App's client id or client secret is wrong. Set "
                f"{self._names('client_id', 'client_secret')} to the app's Consumer Key and "
                "Consumer Secret (Setup > App Manager > the app > View > Manage Consumer "
                "Details).",
                code=error,
            )
        if error == "invalid_grant" and self.grant == "refresh_token":
            return AuthError(
                f"{head}: the refresh token is wrong, expired or revoked (a password reset, an "
                "admin revoking the app's access, or the app's refresh token policy). Get a new "
                "one by authorizing the Connected App again as the integration user (OAuth web "
                "server flow, scopes api refresh_token offline_access) and set "
                f"{self._names('refresh_token')} to the refresh_token it returns.",
                code=error,
            )
        if error == "invalid_grant" and self.grant == "password":
            return AuthError(
                f"{head}: the username or password is wrong, the user is locked or inactive, "
                "or the security token is missing or outdated. Set "
                f"{self._names('username', 'password', 'security_token')} (a new token is sent "
                "by Settings > Reset My Security Token).",
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

    def _jwt_assertion(self) -> str:
        import jwt  # pyjwt; imported here so other grants do not need cryptography loaded

        cfg = self._settings
        key = str(cfg.get("private_key") or "")
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
