"""Offline copies of registry answers, on disk, written atomically.

Files (JSON, mode 0600, under ``[registry] cache_dir``)::

    keys.json                               the registry key list (always kept)
    revocations.json                        feed cursor + revoked consent ids (always kept)
    consents/<production>/<performer>.json  signed consent records (offline_consents = true)

Each file holds ``{"format", "fetched_at", "data"}`` where ``data`` is the
registry's answer as received. Nothing read from here is trusted on its own:
consent records are signed by the registry and re-verified on every read (by the
policy), so editing a file yields a refusal, never an unlock. ``fetched_at``
itself is not signed; someone able to write to the cache folder could make an
old copy look fresh, which is one reason the offline copy is off by default
(see docs/registry-client.md).

Retention: a consent record whose ``destroy_by`` day is over is deleted from
the copy when the cache is opened (judged on the rig's clock, the only one known
then) and is never returned by :meth:`OfflineCache.load_consents` (judged on the
time the caller gives, registry time when measured).

The roster holds face templates (biometric data) and is never written here. A
``roster/`` folder left by a version that could cache it is deleted when the
cache is opened.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from agent.durable import replace_file_atomically
from agent.private_files import private_dir
from agent.registry_client.errors import RegistryError
from agent.settings_base import StrictModel
from agent.wire import (
    ConsentRecord,
    KeyList,
    UtcDateTime,
    describe_validation_error,
    destroy_by_passed,
    format_utc,
)

log = logging.getLogger(__name__)

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

    def __init__(self, directory: Path, *, consents: bool, now: datetime) -> None:
        """Open the cache: delete a legacy roster folder and every consent copy past destroy_by at ``now``."""
        self.directory = directory
        self.consents_enabled = consents
        self.remove_legacy_rosters()
        self.drop_past_destroy_by(now)

    # --- paths ------------------------------------------------------------------------------------

    def _consents_path(self, production_id: str, performer_id: str) -> Path:
        return self.directory / "consents" / _safe_id(production_id) / f"{_safe_id(performer_id)}.json"

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

    def load_consents(self, production_id: str, performer_id: str, now: datetime) -> CachedConsents | None:
        """The kept records of one performer still within destroy_by at ``now``, or None.

        None also when offline consents are off, or when no kept record is left; records past
        destroy_by are deleted from the file as they are found.
        """
        if not self.consents_enabled:
            return None
        path = self._consents_path(production_id, performer_id)
        cached = self._read(path)
        if cached is None:
            return None
        records = self._records(cached, path)
        kept = self._drop_past(path, cached, records, now)
        return CachedConsents(kept, cached.fetched_at) if kept else None

    @staticmethod
    def _records(cached: _CacheFile, path: Path) -> tuple[ConsentRecord, ...]:
        if not isinstance(cached.data, list):
            raise OfflineCacheError("the offline copy holds no list of consents", where=str(path))
        try:
            return tuple(ConsentRecord.model_validate(item) for item in cached.data)
        except ValidationError as exc:
            raise OfflineCacheError(
                "the offline copy holds an invalid consent record: "
                + "; ".join(describe_validation_error(exc)[:5]),
                where=str(path),
            ) from None

    def _drop_past(
        self, path: Path, cached: _CacheFile, records: tuple[ConsentRecord, ...], now: datetime
    ) -> tuple[ConsentRecord, ...]:
        """The records within destroy_by; the file is rewritten without the others (deleted if none is left)."""
        kept = tuple(record for record in records if not destroy_by_passed(record.destroy_by, now))
        if len(kept) == len(records):
            return kept
        if kept:
            self._write(path, [record.wire_dict() for record in kept], cached.fetched_at)
        else:
            path.unlink(missing_ok=True)
        log.info("deleted %d cached consent(s) past destroy_by from %s", len(records) - len(kept), path)
        return kept

    def drop_past_destroy_by(self, now: datetime) -> None:
        """Delete every kept consent record past destroy_by at ``now`` (whether offline consents are on or not).

        A copy that cannot be read is left alone here (it is reported when used).
        """
        folder = self.directory / "consents"
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*/*.json")):
            try:
                cached = self._read(path)
                if cached is not None:
                    self._drop_past(path, cached, self._records(cached, path), now)
            except (OfflineCacheError, OSError) as exc:
                log.warning("could not check %s for consents past destroy_by: %s", path, exc)

    def remove_legacy_rosters(self) -> None:
        """Delete the roster folder an older version wrote with ``cache_roster = true`` (face templates)."""
        folder = self.directory / "roster"
        try:
            if folder.is_symlink() or folder.is_file():
                folder.unlink()
            elif folder.is_dir():
                shutil.rmtree(folder)
            else:
                return
        except OSError as exc:
            log.error(
                "could not delete the saved roster (face templates) in %s: %s; delete it by hand", folder, exc
            )
            return
        log.warning("deleted the saved roster (face templates) left by an older version in %s", folder)

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
