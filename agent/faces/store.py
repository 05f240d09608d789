"""The local face template store: one sealed (encrypted) file in a folder, written atomically.

This is the embedded default roster source (the consent registry will supply
rosters through the same :class:`~agent.faces.roster.RosterSource` protocol).
The store keeps 128-d encodings, never photos: per template its id, version,
the SHA-256 of the source image and when it was created, plus the encoder model
name. Writers hold a file lock; the file is replaced atomically (temporary file,
fsync, ``os.replace``, fsync of the folder), so a crash never leaves half a store.

Templates are biometric data: the file is sealed with AES-256-GCM under a key derived
from the operator's passphrase (:mod:`agent.faces.sealing`), never kept in the clear.
A store left in the clear by an older ScanGate (``templates.json``) is refused, not read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import filelock
import numpy as np
from pydantic import Field, ValidationError

from agent.durable import replace_file_atomically
from agent.errors import TemplateStoreError
from agent.faces.engine import ENCODING_SIZE, MODEL_NAME, Encoding
from agent.faces.roster import Performer, Roster, Template
from agent.faces.sealing import seal, unseal
from agent.private_files import private_dir
from agent.settings_base import StrictModel

STORE_FILE_NAME = "templates.sealed"
PLAIN_STORE_FILE_NAME = "templates.json"
"""Where ScanGate before sealing kept templates in the clear; such a file is refused."""
LOCK_FILE_NAME = "templates.json.lock"
STORE_FORMAT = "scangate-template-store"
STORE_FORMAT_VERSION = 1
PERFORMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"
LOCK_TIMEOUT_S = 10.0


class TemplateRecord(StrictModel):
    """One stored face template (an encoding, never the photo)."""

    template_id: str = Field(
        min_length=1, description="Unique id of this template (recorded in session logs)."
    )
    version: int = Field(
        ge=1, description="Per-performer template version: 1 for the first template, then 2, 3, ..."
    )
    vector: list[float] = Field(
        min_length=ENCODING_SIZE, max_length=ENCODING_SIZE, description="The 128-d face encoding."
    )
    source_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the enrolment image file (the image itself is not kept).",
    )
    created_at: datetime = Field(description="When the template was enrolled (UTC).")


class PerformerRecord(StrictModel):
    """A performer and their templates."""

    performer_id: str = Field(
        min_length=1, max_length=128, pattern=PERFORMER_ID_PATTERN, description="Stable performer id."
    )
    display_name: str = Field(
        min_length=1, max_length=200, description="Name shown to technician and performer."
    )
    templates: list[TemplateRecord] = Field(description="Face templates, oldest first.")


class StoreFile(StrictModel):
    """The whole store file."""

    format: Literal["scangate-template-store"] = Field(description="File type marker.")
    format_version: Literal[1] = Field(description="Version of this file layout.")
    model: str = Field(description="Encoder that produced every vector in this store.")
    performers: list[PerformerRecord] = Field(description="Enrolled performers.")


@dataclass(frozen=True)
class EnrolmentSample:
    """One image's contribution to an enrolment: its encoding and the image's SHA-256."""

    encoding: Encoding
    source_sha256: str


class TemplateStore:
    """A folder holding the sealed ``templates.sealed``; implements :class:`~agent.faces.roster.RosterSource`.

    ``passphrase`` is asked for the store's passphrase when the file is read or written
    (see :func:`agent.faces.sealing.passphrase_source`); it raises TemplateStoreError
    when there is none.
    """

    def __init__(self, directory: Path | str, *, passphrase: Callable[[], str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / STORE_FILE_NAME
        self._passphrase = passphrase
        self._lock = filelock.FileLock(str(self.directory / LOCK_FILE_NAME), timeout=LOCK_TIMEOUT_S)

    def exists(self) -> bool:
        """True when the store file exists."""
        return self.path.is_file()

    def read(self) -> StoreFile:
        """Read and validate the store file.

        Raises:
            TemplateStoreError: the file is missing, unreadable, left in the clear, sealed under
                another passphrase or altered, not JSON, or invalid.
        """
        where = str(self.path)
        plain = self.directory / PLAIN_STORE_FILE_NAME
        if not self.path.exists() and plain.exists():
            raise TemplateStoreError(
                "this template store keeps face templates in the clear, which ScanGate no longer reads",
                where=str(plain),
                hint="enrol the performers again (the new store is encrypted), then delete templates.json",
            )
        try:
            text = unseal(self.path.read_bytes(), self._passphrase(), where=where).decode("utf-8")
        except FileNotFoundError:
            raise TemplateStoreError(
                "no template store here (nobody enrolled yet)",
                where=where,
                hint="enrol performers first: scangate enrol --store DIR --performer ID IMAGE...",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateStoreError(f"cannot read the template store: {exc}", where=where) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateStoreError(
                f"template store is not valid JSON ({exc})",
                where=where,
                hint="restore the file from a backup or re-enrol into a new store; it was left as is",
            ) from None
        try:
            store = StoreFile.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"]) or "(top level)"
            raise TemplateStoreError(
                f"template store is invalid ({exc.error_count()} problem(s); first at '{key}': {first['msg']})",
                where=where,
                hint="restore the file from a backup or re-enrol into a new store; it was left as is",
            ) from None
        if store.model != MODEL_NAME:
            raise TemplateStoreError(
                f"templates were made by encoder {store.model!r}, this agent uses {MODEL_NAME!r}",
                where=where,
                hint="re-enrol the performers with this version of ScanGate",
            )
        ids = [p.performer_id for p in store.performers]
        if len(set(ids)) != len(ids):
            raise TemplateStoreError("a performer appears twice in the template store", where=where)
        return store

    def load_roster(self) -> Roster:
        """The roster of every enrolled performer (raises TemplateStoreError, see :meth:`read`)."""
        store = self.read()
        try:
            performers = [
                Performer(
                    performer_id=p.performer_id,
                    display_name=p.display_name,
                    templates=tuple(
                        Template(template_id=t.template_id, version=t.version, vector=_vector(t.vector))
                        for t in p.templates
                    ),
                )
                for p in store.performers
            ]
        except ValueError as exc:
            raise TemplateStoreError(
                f"template store holds a bad template: {exc}", where=str(self.path)
            ) from None
        return Roster(performers, model=store.model)

    def enrol(
        self,
        performer_id: str,
        samples: Sequence[EnrolmentSample],
        *,
        display_name: str | None = None,
        now: datetime | None = None,
    ) -> list[TemplateRecord]:
        """Add templates for a performer (creating them if new) and return the new records.

        A new performer's display name defaults to the id; an existing performer keeps
        theirs unless ``display_name`` is given. Versions continue from the highest one.
        """
        return self.enrol_many([PerformerEnrolment(performer_id, samples, display_name)], now=now)[0]

    def enrol_many(
        self, enrolments: Sequence[PerformerEnrolment], *, now: datetime | None = None
    ) -> list[list[TemplateRecord]]:
        """Add templates for several performers in one write; all of them or none.

        Each performer is enrolled as :meth:`enrol` does; the store is read, unsealed,
        sealed and written once (the passphrase's key derivation is the slow part).
        Returns the new records per enrolment, in order.
        """
        if not enrolments or any(not e.samples for e in enrolments):
            raise TemplateStoreError("nothing to enrol: no face samples given", where=str(self.path))
        ids = [e.performer_id for e in enrolments]
        if len(set(ids)) != len(ids):
            raise TemplateStoreError(
                "a performer appears more than once in one enrolment", where=str(self.path)
            )
        created_at = (now or datetime.now(UTC)).astimezone(UTC)
        try:
            private_dir(self.directory)
        except OSError as exc:
            raise TemplateStoreError(
                f"cannot create the store folder: {exc}", where=str(self.directory)
            ) from None
        added_all: list[list[TemplateRecord]] = []
        try:
            with self._lock:
                store = self.read() if self.exists() else _empty_store()
                performers = list(store.performers)
                for enrolment in enrolments:
                    added, performers = _with_enrolment(
                        performers, enrolment, created_at, where=str(self.path)
                    )
                    added_all.append(added)
                self._write(store.model_copy(update={"performers": performers}))
        except filelock.Timeout:
            raise TemplateStoreError(
                f"template store is locked by another process for more than {LOCK_TIMEOUT_S:.0f} s",
                where=str(self.path),
                hint="wait for the other enrolment to finish",
            ) from None
        except OSError as exc:
            raise TemplateStoreError(
                f"cannot write the template store: {exc}", where=str(self.path)
            ) from None
        return added_all

    def _write(self, store: StoreFile) -> None:
        text = json.dumps(store.model_dump(mode="json"), indent=1) + "\n"
        sealed = seal(text.encode("utf-8"), self._passphrase(), where=str(self.path))
        replace_file_atomically(self.path, sealed, 0o600)


@dataclass(frozen=True)
class PerformerEnrolment:
    """The face samples to add for one performer (``display_name`` None: keep it / the id)."""

    performer_id: str
    samples: Sequence[EnrolmentSample]
    display_name: str | None = None


def _with_enrolment(
    performers: list[PerformerRecord], enrolment: PerformerEnrolment, created_at: datetime, *, where: str
) -> tuple[list[TemplateRecord], list[PerformerRecord]]:
    """The new template records of ``enrolment`` and the performer list with them added."""
    performer_id = enrolment.performer_id
    current = next((p for p in performers if p.performer_id == performer_id), None)
    next_version = 1 + max((t.version for t in current.templates), default=0) if current else 1
    try:
        added = [
            TemplateRecord(
                template_id=str(uuid.uuid4()),
                version=next_version + index,
                vector=[float(x) for x in sample.encoding],
                source_sha256=sample.source_sha256,
                created_at=created_at,
            )
            for index, sample in enumerate(enrolment.samples)
        ]
        updated = PerformerRecord(
            performer_id=performer_id,
            display_name=enrolment.display_name or (current.display_name if current else performer_id),
            templates=[*(current.templates if current else []), *added],
        )
    except ValidationError as exc:
        raise TemplateStoreError(
            f"cannot enrol {performer_id!r}: {exc.errors()[0]['msg']}",
            where=where,
            hint="performer ids use letters, digits and . _ @ - (starting with a letter or digit)",
        ) from None
    if current is None:
        return added, [*performers, updated]
    return added, [updated if p.performer_id == performer_id else p for p in performers]


def _empty_store() -> StoreFile:
    return StoreFile(
        format=STORE_FORMAT, format_version=STORE_FORMAT_VERSION, model=MODEL_NAME, performers=[]
    )


def _vector(values: list[float]) -> Encoding:
    return np.asarray(values, dtype=np.float64)
