"""Offline copies of registry answers, on disk, written atomically.

Files (JSON, mode 0600, under ``[registry] cache_dir``)::

    keys.json                               the registry key list (always kept)
    revocations.json                        feed cursor + revoked consent ids (always kept)
    consents/<production>/<performer>.json  signed consent records (offline_consents = true)
    roster/<production>.json                signed roster (cache_roster = true; OFF by default)

Each file holds ``{"format", "fetched_at", "data"}`` where ``data`` is the
registry's answer as received. Nothing read from here is trusted on its own:
consent records and rosters are signed by the registry and re-verified on
every read (by the policy and the roster source), so editing a file yields a
refusal, never an unlock. ``fetched_at`` itself is not signed; someone able
to write to the cache folder could make an old copy look fresh, which is one
reason the offline copy is off by default (see docs/registry-client.md).

The roster holds face templates, which are biometric data: it is written only
when ``cache_roster`` is on, and an existing roster copy is deleted as soon as
a cache with ``cache_roster`` off is opened.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from agent.durable import replace_file_atomically
from agent.private_files import private_dir
from agent.registry_client.errors import RegistryError
from agent.settings_base import StrictModel
from agent.wire import ConsentRecord, KeyList, Roster, UtcDateTime, describe_validation_error, format_utc

CACHE_FORMAT = "scangate.registry-cache/1"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class OfflineCacheError(RegistryError):
    """An offline copy exists but cannot be read or is not in the expected form."""


class _CacheFile(StrictModel):
    format: Literal["scangate.registry-cache/1"] = Field(description="Cache file format.")
    fetched_at: UtcDateTime = Field(description="When the data was fetched from the registry.")
    data: Any = Field(description="The registry's answer as received.")


class RevocationState(StrictModel):
    """Where the revocation feed was read up to, and every consent id it named."""

    cursor: int = Field(0, ge=0, description="The feed cursor to poll from next ('since').")
    revoked: dict[str, UtcDateTime] = Field(
        default_factory=dict,
        description="Consent ids named by the feed, with when they stopped being active.",
    )


@dataclass(frozen=True)
class CachedConsents:
    """Consent records from the offline copy (still to be verified) and when they were fetched."""

    records: tuple[ConsentRecord, ...]
    fetched_at: datetime


@dataclass(frozen=True)
class CachedRoster:
    """A roster from the offline copy (still to be verified) and when it was fetched."""

    roster: Roster
    fetched_at: datetime


def _safe_id(value: str) -> str:
    if not _SAFE_ID.match(value) or ".." in value:
        raise OfflineCacheError(f"cannot use {value!r} in a cache file name")
    return value


def atomic_write_json(path: Path, value: Any) -> None:
    """Write JSON to ``path`` so that a crash leaves the old copy or the new one, never a mix."""
    private_dir(path.parent)
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    replace_file_atomically(path, data)


class OfflineCache:
    """The registry client's files in ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path, *, consents: bool, roster: bool) -> None:
        self.directory = directory
        self.consents_enabled = consents
        self.roster_enabled = roster
        if not roster:
            self.purge_rosters()

    # --- paths ------------------------------------------------------------------------------------

    def _consents_path(self, production_id: str, performer_id: str) -> Path:
        return self.directory / "consents" / _safe_id(production_id) / f"{_safe_id(performer_id)}.json"

    def _roster_path(self, production_id: str) -> Path:
        return self.directory / "roster" / f"{_safe_id(production_id)}.json"

    @property
    def keys_path(self) -> Path:
        """The key list file."""
        return self.directory / "keys.json"

    @property
    def revocations_path(self) -> Path:
        """The revocation state file."""
        return self.directory / "revocations.json"

    # --- generic ----------------------------------------------------------------------------------

    def _write(self, path: Path, data: Any, fetched_at: datetime) -> None:
        atomic_write_json(path, {"format": CACHE_FORMAT, "fetched_at": format_utc(fetched_at), "data": data})

    def _read(self, path: Path) -> _CacheFile | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise OfflineCacheError(f"cannot read the offline copy: {exc}", where=str(path)) from None
        try:
            return _CacheFile.model_validate_json(raw)
        except ValidationError as exc:
            raise OfflineCacheError(
                "the offline copy is damaged: " + "; ".join(describe_validation_error(exc)[:5]),
                where=str(path),
                hint="delete the file; it is fetched again when the registry can be reached",
            ) from None

    # --- consents ---------------------------------------------------------------------------------

    def save_consents(
        self, production_id: str, performer_id: str, records: tuple[ConsentRecord, ...], fetched_at: datetime
    ) -> None:
        """Keep the signed records of one performer (no-op when offline consents are off)."""
        if not self.consents_enabled:
            return
        data = [record.wire_dict() for record in records]
        self._write(self._consents_path(production_id, performer_id), data, fetched_at)

    def load_consents(self, production_id: str, performer_id: str) -> CachedConsents | None:
        """The kept records of one performer, or None (also None when offline consents are off)."""
        if not self.consents_enabled:
            return None
        path = self._consents_path(production_id, performer_id)
        cached = self._read(path)
        if cached is None:
            return None
        if not isinstance(cached.data, list):
            raise OfflineCacheError("the offline copy holds no list of consents", where=str(path))
        try:
            records = tuple(ConsentRecord.model_validate(item) for item in cached.data)
        except ValidationError as exc:
            raise OfflineCacheError(
                "the offline copy holds an invalid consent record: "
                + "; ".join(describe_validation_error(exc)[:5]),
                where=str(path),
            ) from None
        return CachedConsents(records, cached.fetched_at)

    # --- roster -----------------------------------------------------------------------------------

    def save_roster(self, roster: Roster, fetched_at: datetime) -> None:
        """Keep the signed roster (no-op unless cache_roster is on)."""
        if self.roster_enabled:
            self._write(self._roster_path(roster.production_id), roster.wire_dict(), fetched_at)

    def load_roster(self, production_id: str) -> CachedRoster | None:
        """The kept roster of a production, or None."""
        if not self.roster_enabled:
            return None
        path = self._roster_path(production_id)
        cached = self._read(path)
        if cached is None:
            return None
        try:
            return CachedRoster(Roster.model_validate(cached.data), cached.fetched_at)
        except ValidationError as exc:
            raise OfflineCacheError(
                "the offline roster is invalid: " + "; ".join(describe_validation_error(exc)[:5]),
                where=str(path),
            ) from None

    def purge_rosters(self) -> None:
        """Delete every kept roster (biometric data)."""
        folder = self.directory / "roster"
        if folder.is_dir():
            for path in folder.glob("*.json"):
                path.unlink(missing_ok=True)

    # --- keys and revocations -----------------------------------------------------------------------

    def save_keys(self, key_list: KeyList, fetched_at: datetime) -> None:
        """Keep the registry's key list (public keys; trust still comes from the pinned ids)."""
        self._write(self.keys_path, key_list.model_dump(mode="json"), fetched_at)

    def load_keys(self) -> tuple[KeyList, datetime] | None:
        """The kept key list and when it was fetched, or None."""
        cached = self._read(self.keys_path)
        if cached is None:
            return None
        try:
            return KeyList.model_validate(cached.data), cached.fetched_at
        except ValidationError as exc:
            raise OfflineCacheError(
                "the saved key list is invalid: " + "; ".join(describe_validation_error(exc)[:5]),
                where=str(self.keys_path),
            ) from None

    def save_revocations(self, state: RevocationState, fetched_at: datetime) -> None:
        """Keep the revocation feed position and the revoked ids."""
        self._write(self.revocations_path, state.model_dump(mode="json"), fetched_at)

    def load_revocations(self) -> RevocationState:
        """The kept revocation state (empty when there is none)."""
        cached = self._read(self.revocations_path)
        if cached is None:
            return RevocationState()
        try:
            return RevocationState.model_validate(cached.data)
        except ValidationError as exc:
            raise OfflineCacheError(
                "the saved revocation state is invalid: " + "; ".join(describe_validation_error(exc)[:5]),
                where=str(self.revocations_path),
                hint="delete the file: the whole feed is then read again from the start",
            ) from None
