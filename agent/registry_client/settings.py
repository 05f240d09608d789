"""Settings of the consent registry client (the ``[registry]`` table).

The bearer token is looked up, in order, in ``token`` (discouraged: config
files get copied around), the file ``token_file``, and the environment
variable ``token_env``. Plain ``http://`` is accepted only for loopback
addresses unless ``allow_insecure_http`` is set, so a rig token never crosses
a network in clear text by accident (and when it is set, the client logs a
WARNING at every start). ``https://`` is always verified: against
``ca_bundle`` when set (checked when the client starts), else the system's CAs.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, StringConstraints, field_validator, model_validator

from agent.netaddr import is_loopback_host
from agent.settings_base import ConfigPath, StrictModel

DEFAULT_TOKEN_ENV = "SCANGATE_REGISTRY_TOKEN"
MIB = 1024 * 1024

PinnedKeyId = Annotated[str, StringConstraints(pattern=r"^ed25519:[0-9a-f]{32}$")]


def default_cache_dir() -> Path:
    """The platform's per-user cache folder for registry data (keys, revocations, offline copies)."""
    return Path(platformdirs.user_cache_dir("scangate", appauthor=False)) / "registry"


class RegistrySettings(StrictModel):
    """How the rig reaches the consent registry and which registry keys it trusts."""

    url: str | None = Field(
        None,
        description="Base URL of the consent registry, e.g. 'https://registry.example:8443'."
        " Unset: no registry is configured and no consent can be checked (capture stays locked).",
    )
    token: SecretStr | None = Field(
        None,
        description="The rig's bearer token, inline. Discouraged (config files get copied): prefer"
        " token_file or the token_env environment variable.",
    )
    token_file: ConfigPath | None = Field(
        None, description="File holding the rig's bearer token (one line; keep it mode 0600)."
    )
    token_env: str = Field(
        DEFAULT_TOKEN_ENV,
        min_length=1,
        description="Environment variable holding the rig's bearer token (used when neither token nor"
        " token_file is set).",
    )
    ca_bundle: ConfigPath | None = Field(
        None,
        description="CA certificate bundle (PEM) to verify the registry's TLS certificate."
        " Unset: the system's trusted CAs. Checked when the client starts; verification is never"
        " switched off.",
    )
    allow_insecure_http: bool = Field(
        False,
        description="Allow plain http:// to a non-loopback address (the token would travel unencrypted)."
        " Only for isolated test networks; a WARNING is logged at every start.",
    )
    pinned_key_ids: tuple[PinnedKeyId, ...] = Field(
        (),
        description="Registry signing key ids this rig trusts ('ed25519:' + 32 hex digits, from"
        " `scangate registry keys` or GET /v1/keys). A record signed by any other key is refused.",
    )
    trust_retired_keys: bool = Field(
        True,
        description="Keep trusting a pinned key after the registry retired it, for records it signed"
        " before its retirement. Set false after a suspected key compromise: then only the active key"
        " counts and sessions under a retired key re-lock.",
    )
    connect_timeout_s: float = Field(
        3.05, gt=0, le=60, description="Seconds to wait for a connection to the registry."
    )
    read_timeout_s: float = Field(
        5.0, gt=0, le=300, description="Seconds to wait for the registry between bytes of an answer."
    )
    total_timeout_s: float = Field(
        15.0,
        gt=0,
        le=600,
        description="Longest time one answer may take to arrive in full (guards against a registry"
        " that trickles bytes).",
    )
    retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Retries of idempotent calls after a connection error, a timeout or HTTP"
        " 502/503/504. Confirmations are retried too (the registry stores them idempotently).",
    )
    backoff_factor_s: float = Field(
        0.3,
        ge=0,
        le=10,
        description="Backoff between retries: 0, then factor*2, factor*4, ... seconds.",
    )
    max_response_bytes: int = Field(
        2 * MIB,
        ge=4096,
        le=64 * MIB,
        description="Largest answer accepted from the registry (consents, keys, feeds); larger ones"
        " are refused as a protocol error.",
    )
    max_roster_bytes: int = Field(
        32 * MIB,
        ge=4096,
        le=512 * MIB,
        description="Largest roster answer accepted (face templates: about 2.5 kB per template).",
    )
    keys_refresh_s: float = Field(
        300.0,
        gt=0,
        description="How long the registry key list is reused before it is fetched again.",
    )
    cache_dir: ConfigPath = Field(
        default_factory=default_cache_dir,
        description="Folder for the key list, the revocation feed position and (if enabled) offline"
        " copies of consents and the roster.",
    )
    offline_consents: bool = Field(
        False,
        description="Keep the signed consent records fetched from the registry and use them while the"
        " registry cannot be reached, for at most max_staleness_s. Off: no registry, no unlock.",
    )
    max_staleness_s: float = Field(
        900.0,
        ge=0,
        le=7 * 24 * 3600,
        description="Oldest offline copy (seconds since it was fetched) that may still be used; older"
        " copies are refused with the reason 'cache_stale'.",
    )
    max_clock_skew_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Largest offset (seconds) between this rig's clock and the registry's signed time"
        " that is accepted. Consent is always judged on registry time; beyond this limit (or when the"
        " measurement's round trip is too slow to tell) every consent is refused with 'clock_skew'"
        " until the rig's clock is fixed (NTP).",
    )
    revocation_poll_interval_s: float = Field(
        10.0, ge=0.1, le=3600, description="How often the revocation feed is polled (seconds)."
    )

    @field_validator("url")
    @classmethod
    def _url_is_safe(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http(s) URL with a host, e.g. 'https://registry.example:8443'")
        if parts.query or parts.fragment:
            raise ValueError("the registry URL takes no query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> RegistrySettings:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set either token or token_file, not both")
        if self.url is not None and not self.allow_insecure_http:
            parts = urlsplit(self.url)
            if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
                raise ValueError(
                    "plain http:// to a non-loopback registry would send the rig token unencrypted;"
                    " use https:// (or set allow_insecure_http = true on an isolated test network)"
                )
        return self

    @property
    def timeout(self) -> tuple[float, float]:
        """The (connect, read) timeout pair given to every request."""
        return (self.connect_timeout_s, self.read_timeout_s)

    @property
    def max_staleness(self) -> timedelta:
        """``max_staleness_s`` as a timedelta."""
        return timedelta(seconds=self.max_staleness_s)

    @property
    def max_clock_skew(self) -> timedelta:
        """``max_clock_skew_s`` as a timedelta."""
        return timedelta(seconds=self.max_clock_skew_s)

    def resolve_token(self) -> str | None:
        """The bearer token from token, token_file or $token_env; None when none is set.

        Raises:
            OSError: token_file is set but cannot be read.
        """
        if self.token is not None:
            return self.token.get_secret_value().strip() or None
        if self.token_file is not None:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        return os.environ.get(self.token_env, "").strip() or None
