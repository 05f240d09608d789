"""HTTP to the registry: one requests.Session, timeouts, bounded retries, capped answers.

Every call has a (connect, read) timeout and a total deadline for the body;
answers are streamed and refused beyond a size limit, so a hostile or broken
registry can neither hang the rig nor exhaust its memory. urllib3's Retry
repeats only idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS) after
connection errors, read timeouts and HTTP 502/503/504; POSTs are never retried
automatically (see :meth:`Transport.post_json` for the one idempotent POST).
Redirects are not followed (the token must not travel to another address).
Failures become the domain errors of :mod:`agent.registry_client.errors`.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import requests.auth
import urllib3.exceptions
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from agent import __version__
from agent.netaddr import is_loopback_host
from agent.registry_client.errors import (
    RegistryAuthError,
    RegistryNotConfiguredError,
    RegistryProtocolError,
    RegistryTLSError,
    RegistryUnavailableError,
)
from agent.registry_client.settings import RegistrySettings
from agent.signing import loads_for_canonical
from agent.wire import ErrorBody, WireModel, describe_validation_error

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = (502, 503, 504)
_TEMPORARY_CLIENT_STATUSES = frozenset({408, 425, 429})
_ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
"""RFC 6750 ``b64token``: what an Authorization: Bearer header can carry."""

M = TypeVar("M", bound=WireModel)

log = logging.getLogger(__name__)


class _TooLargeError(Exception):
    pass


class _BearerAuth(requests.auth.AuthBase):
    """Adds 'Authorization: Bearer <token>' to every request."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


def build_retry(settings: RegistrySettings) -> Retry:
    """The urllib3 retry policy: idempotent methods only, 502/503/504, no Retry-After waits."""
    return Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        other=0,
        redirect=0,
        backoff_factor=settings.backoff_factor_s,
        backoff_max=10.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=IDEMPOTENT_METHODS,
        raise_on_status=False,
        raise_on_redirect=False,
        # a hostile server could otherwise park the rig for hours with 'Retry-After: 99999'
        respect_retry_after_header=False,
    )


class Transport:
    """The HTTP layer of the registry client (one session, shared by all calls; thread-safe for GETs)."""

    def __init__(self, settings: RegistrySettings, session: requests.Session | None = None) -> None:
        if settings.url is None:
            raise RegistryNotConfiguredError(
                "no consent registry is configured",
                where="registry.url",
                hint="set [registry] url (and pinned_key_ids) in the rig's config file",
            )
        self.settings = settings
        self.base_url = settings.url
        self.session = session or requests.Session()
        adapter = HTTPAdapter(max_retries=build_retry(settings))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # passed on every request: a session-level value would lose to $REQUESTS_CA_BUNDLE
        self.verify: str | bool = True
        if settings.ca_bundle is not None:
            check_ca_bundle(settings.ca_bundle)
            self.verify = str(settings.ca_bundle)
        _warn_if_plain_http_to_network(settings.url)
        self.session.verify = self.verify
        self.session.headers.update(
            {"Accept": "application/json", "User-Agent": f"scangate-agent/{__version__}"}
        )
        try:
            token = settings.resolve_token()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise RegistryAuthError(
                f"cannot read the registry token file: {reason}",
                where=str(settings.token_file),
                hint="check registry.token_file, or provide the token in $" + settings.token_env,
            ) from None
        if token is not None and not _BEARER_TOKEN.fullmatch(token):
            # it could not even be sent: requests would fail on the header, with a confusing error
            raise RegistryAuthError(
                "the registry token is malformed: expected one word of letters, digits and -._~+/",
                where=_token_source(settings),
                hint="copy the token exactly as `scangate registry issue-token` printed it",
            )
        self.has_token = token is not None
        if token is not None:
            # as session auth (not a plain header) so that a ~/.netrc entry cannot replace it
            self.session.auth = _BearerAuth(token)

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    # --- calls ------------------------------------------------------------------------------------

    def get(
        self,
        model: type[M],
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        max_bytes: int | None = None,
        authenticated: bool = True,
    ) -> M:
        """GET ``path`` and validate the JSON answer as ``model``."""
        data = self.get_json(path, params, max_bytes=max_bytes, authenticated=authenticated)
        return self.validate(model, data, where=self._where("GET", path))

    def get_json(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        max_bytes: int | None = None,
        authenticated: bool = True,
    ) -> Any:
        """GET ``path``; the decoded JSON value of a 2xx answer."""
        return self._call("GET", path, params=params, max_bytes=max_bytes, authenticated=authenticated)

    def post_json(self, path: str, body: Any, *, idempotency_key: str) -> Any:
        """POST a JSON body to an endpoint that is idempotent by design; the decoded 2xx answer.

        urllib3 never retries a POST. This method retries it itself (same
        attempts and backoff as GETs) because the caller guarantees that the
        registry stores the body at most once under ``idempotency_key`` (sent
        as the ``Idempotency-Key`` header, e.g. consent id + session id for
        confirmations). Auth and protocol errors are not retried.
        """
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            try:
                return self._call(
                    "POST", path, json_body=body, extra_headers={"Idempotency-Key": idempotency_key}
                )
            except RegistryUnavailableError:
                if attempt + 1 >= attempts:
                    raise
                time.sleep(min(10.0, self.settings.backoff_factor_s * (2**attempt)))
        raise AssertionError("unreachable")

    @staticmethod
    def validate(model: type[M], data: Any, *, where: str) -> M:
        """Validate decoded JSON as a wire model; RegistryProtocolError listing every problem."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = describe_validation_error(exc)
            raise RegistryProtocolError(
                f"the registry's answer is not a valid {model.__name__}"
                f" ({len(problems)} problem(s)):\n  - " + "\n  - ".join(problems[:20]),
                where=where,
                hint="the registry may speak another protocol version, or something between the rig"
                " and the registry altered the answer; capture stays locked",
            ) from None

    # --- internals --------------------------------------------------------------------------------

    def _where(self, method: str, path: str) -> str:
        return f"{method} {self.base_url}{path}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        extra_headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        authenticated: bool = True,
    ) -> Any:
        where = self._where(method, path)
        if authenticated and not self.has_token:
            raise RegistryAuthError(
                "no registry token is configured for this rig",
                where=where,
                hint=f"provision the rig: put its token in ${self.settings.token_env} or registry.token_file",
            )
        limit = max_bytes or self.settings.max_response_bytes
        deadline = time.monotonic() + self.settings.total_timeout_s
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                headers=extra_headers,
                timeout=self.settings.timeout,
                allow_redirects=False,
                stream=True,
                verify=self.verify,
            )
        except requests.exceptions.SSLError as exc:
            raise RegistryTLSError(
                f"the registry's TLS certificate could not be verified: {_root_cause(exc)}",
                where=where,
                hint="check registry.url and registry.ca_bundle (the CA that signed the registry's"
                " certificate); never talk to an unverified registry",
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise _unavailable(where, exc) from None
        except requests.exceptions.RequestException as exc:
            raise RegistryUnavailableError(
                f"request to the registry failed: {_root_cause(exc)}", where=where, hint="retry later"
            ) from None
        with response:
            if response.status_code >= 300:
                body = self._read(response, _ERROR_BODY_LIMIT, deadline, where, truncate=True)
                raise _status_error(response.status_code, body, where)
            body = self._read(response, limit, deadline, where)
        try:
            value, _fast = loads_for_canonical(body)
        except (ValueError, RecursionError) as exc:
            raise RegistryProtocolError(
                f"the registry's answer is not valid JSON: {str(exc)[:200]}",
                where=where,
                hint="something other than a ScanGate registry answered, or the answer was damaged;"
                " check registry.url",
            ) from None
        return value

    def _read(
        self, response: requests.Response, limit: int, deadline: float, where: str, *, truncate: bool = False
    ) -> bytes:
        """The body, at most ``limit`` bytes (after decompression), arriving before ``deadline``.

        Reads with ``read1`` (whatever has arrived, at most one chunk) so that the
        deadline is checked while a slow peer trickles bytes; a plain ``read(n)``
        would block until n bytes came.
        """
        declared = response.headers.get("Content-Length", "")
        try:
            if declared.isdigit() and int(declared) > limit and not truncate:
                raise _TooLargeError
            parts: list[bytes] = []
            size = 0
            while True:
                chunk = response.raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    if truncate:
                        parts.append(chunk[: limit - (size - len(chunk))])
                        break
                    raise _TooLargeError
                parts.append(chunk)
                if time.monotonic() > deadline:
                    raise RegistryUnavailableError(
                        f"the registry's answer took longer than {self.settings.total_timeout_s:g} s",
                        where=where,
                        hint="the registry or the network is very slow; retry later",
                    )
            return b"".join(parts)
        except _TooLargeError:
            raise RegistryProtocolError(
                f"the registry's answer is larger than the {limit} byte limit; it was not read",
                where=where,
                hint="a registry answer this large is not plausible; if the roster really is this big,"
                " raise registry.max_roster_bytes",
            ) from None
        except urllib3.exceptions.DecodeError as exc:
            raise RegistryProtocolError(
                f"the registry's answer could not be decompressed: {_root_cause(exc)}", where=where
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # timeout, reset, broken chunking
            raise _unavailable(where, exc) from None


def check_ca_bundle(path: Path, setting: str = "registry.ca_bundle") -> None:
    """Load ``path`` as a CA bundle now, so a bad one stops the rig at start, not at the first call.

    ``setting`` names the configuration key the path came from, for the error.

    Raises:
        RegistryTLSError: the file is missing, unreadable or holds no usable PEM certificate.
    """
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RegistryTLSError(
            f"the CA bundle for the registry's TLS certificate cannot be used: {reason}",
            where=f"{setting} = {path}",
            hint=f"point {setting} at the PEM file of the CA that signed the registry's"
            " certificate (from the registry's operator), or remove it to use the system's CAs",
        ) from None


def _warn_if_plain_http_to_network(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        # allowed only by allow_insecure_http (the settings refuse it otherwise): say so on every start
        log.warning(
            "talking to the registry at %s over plain HTTP (registry.allow_insecure_http): the rig"
            " token and consent data travel unencrypted; use https:// outside an isolated test network",
            url,
        )


def _token_source(settings: RegistrySettings) -> str:
    if settings.token is not None:
        return "registry.token"
    if settings.token_file is not None:
        return str(settings.token_file)
    return "$" + settings.token_env


def _root_cause(exc: BaseException) -> str:
    """The innermost useful message of a requests/urllib3 exception chain."""
    seen = exc
    while True:
        reason = getattr(seen, "reason", None)
        inner = reason if isinstance(reason, BaseException) else None
        if inner is None and seen.args and isinstance(seen.args[0], BaseException):
            inner = seen.args[0]
        if inner is None or inner is seen:
            break
        seen = inner
    return str(seen)[:300] or type(seen).__name__


def _unavailable(where: str, exc: BaseException) -> RegistryUnavailableError:
    timed_out = (
        isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))
        or "timed out" in str(exc).lower()
    )
    what = "the registry did not answer in time" if timed_out else "the registry could not be reached"
    return RegistryUnavailableError(
        f"{what}: {_root_cause(exc)}",
        where=where,
        hint="check the network and that the registry is running; ScanGate retries later and capture"
        " stays locked meanwhile",
    )


def _registry_message(body: bytes) -> str:
    try:
        value, _ = loads_for_canonical(body)
        return ErrorBody.model_validate(value).error.message
    except (ValueError, ValidationError, RecursionError):
        return ""


def _status_error(status: int, body: bytes, where: str) -> Exception:
    message = _registry_message(body)
    said = f" (registry says: {message})" if message else ""
    if status in (401, 403):
        hint = (
            "re-provision the rig: issue a new rig token (`scangate registry issue-token`) and put it in"
            " the configured token source"
            if status == 401
            else "check rig.production_id against the production the rig is registered for,"
            " or re-provision the rig token"
        )
        refused = "not accepted" if status == 401 else "not allowed here"
        return RegistryAuthError(f"HTTP {status}: the rig's token is {refused}{said}", where=where, hint=hint)
    if status >= 500 or status in _TEMPORARY_CLIENT_STATUSES:
        return RegistryUnavailableError(
            f"HTTP {status}: the registry failed to answer{said}",
            where=where,
            hint="a temporary registry problem; ScanGate retries later and capture stays locked meanwhile",
        )
    if 300 <= status < 400:
        return RegistryProtocolError(
            f"HTTP {status}: the registry answered with a redirect, which is never followed",
            where=where,
            hint="set registry.url to the registry's final address (e.g. https:// instead of http://)",
        )
    return RegistryProtocolError(
        f"HTTP {status}: the registry rejected the request{said}",
        where=where,
        hint="the rig and the registry may speak different protocol versions; check registry.url",
    )
