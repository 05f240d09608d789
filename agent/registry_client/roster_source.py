"""The registry's signed roster as a face :class:`~agent.faces.roster.RosterSource`.

``RegistryRosterSource(client, production_id).load_roster()`` fetches the
production roster, verifies its signature against the pinned keys, checks it
is this production's and for the face model the rig uses, and builds the
in-memory :class:`agent.faces.roster.Roster`. Templates stay in memory; they
are written to disk only when ``[registry] cache_roster`` is on (off by
default: no biometric data at rest).

When the registry is unavailable and ``cache_roster`` is on, the saved roster
is used if its signed ``generated_at`` is not older than ``max_staleness_s``
(the signed time, not the unsigned file time, so an edited cache file cannot
make an old roster look fresh), measured against registry time — the last
clock measurement carried forward on the monotonic clock — when there is one,
so a rig clock turned back cannot make it look fresh either.
"""

from __future__ import annotations

import logging

import numpy as np

from agent.faces.engine import MODEL_NAME
from agent.faces.roster import Performer, Roster, Template
from agent.registry_client.cache import OfflineCacheError
from agent.registry_client.client import RegistryClient
from agent.registry_client.errors import RegistryProtocolError, RegistryUnavailableError
from agent.wire import Roster as WireRoster

log = logging.getLogger(__name__)


def roster_from_wire(roster: WireRoster) -> Roster:
    """The face roster of a (verified) wire roster.

    Raises:
        RegistryProtocolError: templates of another face model, or a performer listed twice.
    """
    performers = []
    for entry in roster.entries:
        for template in entry.templates:
            if template.model != MODEL_NAME:
                raise RegistryProtocolError(
                    f"template {template.template_id} was made with {template.model}, this rig uses {MODEL_NAME}"
                )
        performers.append(
            Performer(
                performer_id=entry.performer_id,
                display_name=entry.display_name,
                templates=tuple(
                    Template(
                        template_id=template.template_id,
                        version=template.version,
                        vector=np.asarray(template.encoding, dtype=np.float64),
                    )
                    for template in entry.templates
                ),
            )
        )
    try:
        return Roster(performers, model=MODEL_NAME)
    except ValueError as exc:
        raise RegistryProtocolError(f"the registry's roster is inconsistent: {exc}") from None


class RegistryRosterSource:
    """Supplies the session's roster from the consent registry (implements RosterSource)."""

    def __init__(self, client: RegistryClient, production_id: str) -> None:
        self.client = client
        self.production_id = production_id

    def load_roster(self) -> Roster:
        """Fetch, verify and convert the production roster.

        Raises:
            agent.signing.SignatureError: the roster's signature does not verify against a pinned key.
            RegistryUnavailableError: the registry is down and no fresh saved roster exists.
            RegistryAuthError, RegistryProtocolError, RegistryTLSError: see RegistryClient.
        """
        try:
            wire = self.client.roster(self.production_id)
        except RegistryUnavailableError as exc:
            wire = self._saved(exc)
        else:
            try:
                self.client.cache.save_roster(wire, self.client.clock())
            except (OSError, OfflineCacheError) as error:
                log.warning("could not save the roster: %s", error)
        return roster_from_wire(wire)

    def _saved(self, cause: RegistryUnavailableError) -> WireRoster:
        try:
            cached = self.client.cache.load_roster(self.production_id)
        except OfflineCacheError as exc:
            raise RegistryUnavailableError(
                f"{cause.what}; the saved roster cannot be used either: {exc.what}", where=cause.where
            ) from None
        if cached is None:
            raise cause
        where = str(self.client.cache.directory / "roster")
        self.client.verify_roster(cached.roster, self.production_id, where=where)
        rig_now = self.client.clock()
        reading = self.client.last_clock_reading(rig_now)
        now = reading.registry_time(rig_now) if reading is not None else rig_now
        age = now - cached.roster.generated_at
        if age > self.client.settings.max_staleness or age.total_seconds() < 0:
            raise RegistryUnavailableError(
                f"{cause.what}; the saved roster is too old to use (generated {age} ago,"
                f" limit {self.client.settings.max_staleness})",
                where=cause.where,
                hint=cause.hint,
            )
        log.warning("registry unavailable (%s); using the saved roster", cause.what)
        return cached.roster
