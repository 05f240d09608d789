"""The registry's signed roster as a face :class:`~agent.faces.roster.RosterSource`.

``RegistryRosterSource(client, production_id).load_roster()`` fetches the
production roster, verifies its signature against the pinned keys, checks it
is this production's and for the face model the rig uses, and builds the
in-memory :class:`agent.faces.roster.Roster`. Templates live in memory only and
are never written to disk (no biometric data at rest): while the registry cannot
be reached and no roster was loaded, nobody is identified by face and capture
stays locked.
"""

from __future__ import annotations

import numpy as np

from agent.faces.engine import MODEL_NAME
from agent.faces.roster import Performer, Roster, Template
from agent.registry_client.client import RegistryClient
from agent.registry_client.errors import RegistryProtocolError
from agent.wire import Roster as WireRoster


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
            RegistryUnavailableError: the registry is down (there is no saved roster to fall back on).
            RegistryAuthError, RegistryProtocolError, RegistryTLSError: see RegistryClient.
        """
        return roster_from_wire(self.client.roster(self.production_id))
