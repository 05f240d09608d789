"""What a ScanGate C2PA manifest says: who captured, how, and what the performer consented to.

Three assertions (docs/provenance.md has a real manifest):

* ``c2pa.actions`` — one ``c2pa.created`` action, digital source type ``digitalCapture``,
  when, and the software agent (ScanGate and the rig id);
* ``cawg.training-mining`` — the Creator Assertions Working Group's training-and-data-mining
  assertion: each of ``cawg.ai_training``, ``cawg.ai_generative_training``,
  ``cawg.ai_inference`` and ``cawg.data_mining`` is ``notAllowed`` unless the consent allows
  that use, and then ``constrained`` with the consent's own words (never a bare ``allowed``:
  every ScanGate consent is for one production and one stated use);
* ``com.scangate.consent`` — :class:`ConsentAssertion`: the consent relied on, by reference
  and hash, and the permitted uses. A pseudonymous performer id, never a name, never face data.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import Field, StringConstraints

from agent import __version__
from agent.settings_base import StrictModel

CONSENT_LABEL: Final = "com.scangate.consent"
"""Label of the ScanGate consent assertion (its ``schema`` member carries the version)."""
CONSENT_SCHEMA: Final = "scangate.consent-assertion/1"
TRAINING_MINING_LABEL: Final = "cawg.training-mining"
ACTIONS_LABEL: Final = "c2pa.actions"
DIGITAL_CAPTURE: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
TRAINING_MINING_USES: Final = (
    "cawg.ai_training",
    "cawg.ai_generative_training",
    "cawg.ai_inference",
    "cawg.data_mining",
)

Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Timestamp = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")]
Date = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Use = Literal["allowed", "notAllowed", "constrained"]


class ConsentAssertion(StrictModel):
    """The ScanGate consent assertion (``com.scangate.consent``, schema ``scangate.consent-assertion/1``).

    Written only for consented captures. It binds the file to its session record
    (``session_record_id`` + ``capture_sha256``, the hash the record lists) and to the
    registry's consent (``consent_id``/``consent_version``/``consent_hash``, and the
    consent document's hash, which also lets anyone holding the file ask the registry
    whether the consent is still in force).
    """

    schema_: Literal["scangate.consent-assertion/1"] = Field(
        alias="schema", description="Assertion format version ('scangate.consent-assertion/1')."
    )
    consent_id: Id = Field(description="Registry id of the consent the capture relied on.")
    consent_version: int = Field(ge=1, description="Version of that consent record.")
    consent_hash: Hex64 = Field(description="Object hash of the signed consent record the rig relied on.")
    document_sha256: Hex64 = Field(description="Hash of the separately signed consent document.")
    registry_key_id: Id = Field(description="Key id of the registry key that signed the consent.")
    production_id: Id = Field(description="The production the consent is for.")
    performer_id: Id = Field(
        description="The registry's pseudonymous performer id (never the name: files travel far)."
    )
    rig_id: Id = Field(description="The rig that captured and signed.")
    session_record_id: Id = Field(description="Id of the session record that lists this capture.")
    capture_type: Id | None = Field(description="What was captured (face, facs_expressions, ...).")
    captured_at: Timestamp = Field(description="When the gate saw the capture (UTC).")
    capture_sha256: Hex64 = Field(
        description="SHA-256 of the file as captured, before the manifest was added (as in the record)."
    )
    capture_types_confirmed: list[Id] = Field(
        description="The capture types the performer confirmed in this session (possibly narrowed)."
    )
    use_categories: list[Id] = Field(description="The consent's machine-readable permitted uses.")
    intended_use_text: str = Field(max_length=20_000, description="The consent's intended use, verbatim.")
    ai_training_allowed: bool = Field(description="The consent allows training AI models on the scans.")
    synthetic_performance_allowed: bool = Field(
        description="The consent allows synthetic performances (digital replicas) from the scans."
    )
    third_party_licensing_allowed: bool = Field(description="The consent allows licensing to third parties.")
    valid_until: Timestamp = Field(description="End of the consent's capture window.")
    destroy_by: Date | None = Field(description="Date by which the scans must be destroyed, or null.")

    def data(self) -> dict[str, Any]:
        """The assertion's JSON, as embedded."""
        return self.model_dump(mode="json", by_alias=True)


def training_mining_entries(assertion: ConsentAssertion) -> dict[str, dict[str, str]]:
    """The CAWG training-and-data-mining entries the consent implies (docs/provenance.md, mapping).

    ``cawg.ai_training`` and ``cawg.data_mining`` follow ``ai_training_allowed``;
    ``cawg.ai_generative_training`` needs training *and* synthetic performances allowed;
    ``cawg.ai_inference`` follows ``synthetic_performance_allowed``. An allowed use is
    ``constrained`` with the consent's words, because every consent is for one production.
    """
    permitted = {
        "cawg.ai_training": assertion.ai_training_allowed,
        "cawg.ai_generative_training": assertion.ai_training_allowed
        and assertion.synthetic_performance_allowed,
        "cawg.ai_inference": assertion.synthetic_performance_allowed,
        "cawg.data_mining": assertion.ai_training_allowed,
    }
    words = (
        f"Only as the performer's consent {assertion.consent_id} (version {assertion.consent_version}) for"
        f" production {assertion.production_id} states: {assertion.intended_use_text}"
    )
    return {
        use: {"use": "constrained", "constraint_info": words} if allowed else {"use": "notAllowed"}
        for use, allowed in permitted.items()
    }


def manifest_definition(
    *, title: str, mime_type: str, rig_id: str, captured_at: str, consent: ConsentAssertion | None
) -> dict[str, Any]:
    """The C2PA manifest definition for one capture (``consent`` None: no consent assertion)."""
    assertions: list[dict[str, Any]] = [
        {
            "label": ACTIONS_LABEL,
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": DIGITAL_CAPTURE,
                        "when": captured_at,
                        "softwareAgent": {"name": f"ScanGate rig {rig_id}", "version": __version__},
                    }
                ]
            },
        }
    ]
    if consent is not None:
        assertions.append(
            {"label": TRAINING_MINING_LABEL, "data": {"entries": training_mining_entries(consent)}}
        )
        assertions.append({"label": CONSENT_LABEL, "data": consent.data()})
    return {
        "claim_generator_info": [{"name": "ScanGate", "version": __version__}],
        "title": title,
        "format": mime_type,
        "assertions": assertions,
    }
