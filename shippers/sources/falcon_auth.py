"""CrowdStrike API access for the event stream: cloud regions, OAuth2, host trust, errors.

`TokenProvider` holds the OAuth2 client-credentials token and fetches a new one once a
configurable fraction of its lifetime has passed, so a request never goes out with an
expired token (a 401 still triggers one re-authentication and retry, for revoked tokens).

Secrets (the client secret, access and session tokens) are never put into log messages,
exception texts or reprs: errors carry the HTTP status and the API's `errors[].message`
with every known secret masked.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import ConfigError, ShipperError

__all__ = [
    "CLOUDS",
    "ApiError",
    "HostRejected",
    "RateLimited",
    "TokenProvider",
    "check_host",
    "redact",
    "registrable_domain",
    "resolve_base_url",
    "retry_after_seconds",
]

log = logging.getLogger("shippers.sources.falcon_auth")

# API base URL per cloud (gofalcon falcon/cloud.go; CrowdStrike's Ansible collection).
CLOUDS: dict[str, str] = {
    "us-1": "https://api.crowdstrike.com",
    "us-2": "https://api.us-2.crowdstrike.com",
    "eu-1": "https://api.eu-1.crowdstrike.com",
    "us-gov-1": "https://api.laggar.gcw.crowdstrike.com",
    "us-gov-2": "https://api.us-gov-2.crowdstrike.mil",
}

# Second-level labels under a country TLD that are public suffixes themselves (co.uk, ...).
# A full public-suffix list is not needed: CrowdStrike hosts are *.crowdstrike.com/.mil.
_SECOND_LEVEL = {"co", "com", "net", "org", "gov", "ac", "edu", "mil"}


class ApiError(ShipperError):
    """A CrowdStrike API call failed; `status` is the HTTP status (0: no response)."""

    def __init__(self, what: str, status: int, detail: str = ""):
        self.status = status
        self.detail = detail
        msg = f"{what}: HTTP {status}" if status else what
        super().__init__(f"{msg}: {detail}" if detail else msg)


class RateLimited(ApiError):
    """HTTP 429: wait `retry_after` seconds before the next call."""

    def __init__(self, what: str, retry_after: float):
        self.retry_after = retry_after
        super().__init__(what, 429, f"rate limited, retry after {retry_after:g}s")


class HostRejected(ShipperError):
    """The API handed out a URL on a host we do not trust (see `check_host`)."""


def resolve_base_url(cloud: str, base_url: str = "", path: str = "cloud") -> str:
    """The API base URL: `base_url` when given, else the one of `cloud`."""
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                path.rsplit(".", 1)[0] + ".base_url", "must be an http(s) URL", base_url
            )
        return base_url.rstrip("/")
    try:
        return CLOUDS[cloud]
    except KeyError:
        raise ConfigError(path, f"unknown cloud; known: {', '.join(CLOUDS)}", cloud) from None


def registrable_domain(host: str) -> str:
    """The registrable domain of `host` ("firehose.eu-1.crowdstrike.com" → "crowdstrike.com").

    An IP address or a single-label name (localhost) is its own registrable domain.
    """
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def check_host(url: str, api_base: str, allow_hosts: Iterable[str], what: str) -> None:
    """Refuse `url` unless its host shares the API host's registrable domain or is allowed.

    The discover response tells us where to send the session token and the OAuth token
    (refresh); a tampered or misconfigured response must not make us leak them elsewhere.
    `allow_hosts` entries match a host exactly or, with a leading dot, a domain suffix.
    A scheme downgrade (https API, http feed) is refused as well.
    """
    u, api = urlsplit(url), urlsplit(api_base)
    host = (u.hostname or "").lower()
    if not host or u.scheme not in ("http", "https"):
        raise HostRejected(f"{what} is not an http(s) URL: {_strip_query(url)!r}")
    if api.scheme == "https" and u.scheme != "https":
        raise HostRejected(f"{what} downgrades https to http: {_strip_query(url)!r}")
    for allowed in allow_hosts:
        a = allowed.lower()
        if host == a.lstrip(".") or (a.startswith(".") and host.endswith(a)):
            return
    if registrable_domain(host) == registrable_domain(api.hostname or ""):
        return
    raise HostRejected(
        f"{what} host {host!r} is outside the API's domain "
        f"{registrable_domain(api.hostname or '')!r}; add it to allow_hosts to trust it"
    )


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by "***"."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def api_error_detail(resp: requests.Response, secrets: Iterable[str] = ()) -> str:
    """The API's own error messages (`errors[].message`), short and with secrets masked."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    msgs: list[str] = []
    if isinstance(body, dict):
        for e in body.get("errors") or []:
            if isinstance(e, dict) and e.get("message"):
                msgs.append(str(e["message"]))
    return redact("; ".join(msgs)[:300], secrets)


class TokenProvider:
    """OAuth2 client-credentials token for the CrowdStrike API, renewed before expiry.

    A new token is fetched once `refresh_fraction` of `expires_in` has elapsed (0.8 of the
    documented 30 minutes by default): renewing early is cheap and keeps every Bearer call
    — discovery and, crucially, session refresh — on a valid token.
    """

    def __init__(
        self,
        http: requests.Session,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        member_cid: str = "",
        refresh_fraction: float = 0.8,
        timeout_s: float = 30.0,
        retry_after_default_s: float = 60.0,
    ):
        self._http = http
        self.base_url = base_url
        self.client_id = client_id
        self._secret = client_secret
        self.member_cid = member_cid
        self.refresh_fraction = refresh_fraction
        self.timeout_s = timeout_s
        self.retry_after_default_s = retry_after_default_s
        self._token = ""
        self._renew_at = 0.0
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def __repr__(self) -> str:
        return f"TokenProvider(base_url={self.base_url!r}, client_id={self.client_id!r})"

    def secrets(self) -> list[str]:
        """Everything that must never appear in a log line."""
        return [self._secret, self._token]

    def token(self) -> str:
        """A valid access token, fetching a new one when the current one is due."""
        with self._lock:
            if not self._token or time.monotonic() >= self._renew_at:
                self._fetch()
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (the API refused it); the next `token()` fetches a new one."""
        with self._lock:
            if self._token == token:
                self._token = ""

    def _fetch(self) -> None:
        form = {"client_id": self.client_id, "client_secret": self._secret}
        if self.member_cid:
            form["member_cid"] = self.member_cid
        started = time.monotonic()
        try:
            resp = self._http.post(
                f"{self.base_url}/oauth2/token",
                data=form,
                headers={"Accept": "application/json"},
                timeout=self.timeout_s,
            )
        except requests.RequestException as e:
            # requests' messages name the URL only, never the form body.
            raise ApiError("OAuth2 token request failed", 0, type(e).__name__) from None
        if resp.status_code == 429:
            raise RateLimited(
                "OAuth2 token request",
                retry_after_seconds(resp.headers.get("Retry-After"), self.retry_after_default_s),
            )
        if resp.status_code not in (200, 201):
            raise ApiError(
                "OAuth2 token request", resp.status_code, api_error_detail(resp, [self._secret])
            )
        try:
            body = resp.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in") or 1799)
        except (ValueError, KeyError, TypeError):
            raise ApiError("OAuth2 token response", resp.status_code, "no access_token") from None
        self._token = token
        # Measured from before the request: the server's clock started no later than that.
        self._renew_at = started + max(1.0, expires_in) * self.refresh_fraction
        self.tokens_fetched += 1
        log.info("falcon: OAuth2 token obtained (expires in %.0fs)", expires_in)

    def request(self, method: str, url: str, what: str, **kw: Any) -> requests.Response:
        """A Bearer-authenticated API call; re-authenticates once when the token is refused."""
        extra = kw.pop("headers", {})
        for attempt in (1, 2):
            token = self.token()
            headers = {"Accept": "application/json", **extra}
            headers["Authorization"] = f"Bearer {token}"
            try:
                resp = self._http.request(
                    method, url, headers=headers, timeout=self.timeout_s, **kw
                )
            except requests.RequestException as e:
                raise ApiError(f"{what} failed", 0, type(e).__name__) from None
            if resp.status_code == 401 and attempt == 1:
                log.warning("falcon: %s: token refused (401), re-authenticating", what)
                self.invalidate(token)
                continue
            return resp
        return resp
