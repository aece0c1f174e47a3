"""OAuth 2.0 token exchange with Salesforce, done by the target itself.

simple-salesforce has no refresh-token grant and does not refresh sessions it did not open, so the
target obtains and renews access tokens here and hands them to whatever talks to the API.
"""

from __future__ import annotations

import threading
import time
import typing as t
import uuid

import requests

GRANTS = ("refresh_token", "jwt", "client_credentials", "password")


class AuthError(Exception):
    """Salesforce refused to issue an access token; the message says what to do."""


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

    def __init__(self, config: t.Mapping[str, t.Any], session: requests.Session,
                 verify: str | bool = True) -> None:
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
        self._generation = 0
        self.token_requests = 0

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
        for attempt in range(retries + 1):
            self.token_requests += 1
            try:
                resp = self._session.post(url, data=data, timeout=60, verify=self._verify)
            except requests.RequestException as exc:
                if attempt < retries and not isinstance(exc, requests.exceptions.SSLError):
                    time.sleep(min(30.0, backoff * 2**attempt))
                    continue
                raise AuthError(
                    f"Could not reach the Salesforce login host {self.login_url} "
                    f"({type(exc).__name__}); check login_url, the network and ca_bundle."
                ) from None
            if resp.status_code >= 500 and attempt < retries:
                time.sleep(min(30.0, backoff * 2**attempt))
                continue
            break
        if resp.status_code != 200:
            try:
                body = resp.json()
                if isinstance(body, list):
                    body = body[0] if body else {}
                reason = (f"{body.get('error') or body.get('errorCode')}: "
                          f"{body.get('error_description') or body.get('message')}")
            except (ValueError, AttributeError):
                reason = f"HTTP {resp.status_code}"
            raise AuthError(
                f"Salesforce refused the {self.grant} login ({reason}). Check the credentials; "
                "a revoked or expired refresh token must be re-authorized in the Connected App."
            )
        body = resp.json()
        self._token = body["access_token"]
        if not self._config.get("instance_url") and body.get("instance_url"):
            self._instance_url = body["instance_url"]
        elif self._instance_url is None:
            self._instance_url = self.login_url
        self._generation += 1

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
