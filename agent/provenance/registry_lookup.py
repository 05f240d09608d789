"""``provenance --registry URL``: the production CA and the consent's status, from the registry.

Both endpoints are public (no token): whoever holds a scan can ask. The consent status is
asked with the consent document's hash from the file's consent assertion (a registry
answers 404 otherwise) and is signed by the registry; its signature is checked against the
registry's own key list and its time is the registry's, on which destroy-by is judged.
"""

from __future__ import annotations

from typing import Any, TypeVar

import requests

from agent.errors import ScanGateError
from agent.provenance.assertions import ConsentAssertion
from agent.provenance.verify import ProvenanceReport, TrustAnchor, anchor_from_production_ca
from agent.signing import SignatureError, public_key_from_b64
from agent.wire import KeyList, WireFormatError, WireModel, parse_wire
from agent.wire.provenance import ConsentStatusStatement, ProductionCa

TIMEOUT_S = 10.0
M = TypeVar("M", bound=WireModel)


class RegistryLookupError(ScanGateError):
    """The registry could not answer (unreachable, an error status, a malformed or unsigned answer)."""


class RegistryLookup:
    """Asks one registry, caching the CA per production and the key list."""

    def __init__(self, url: str, session: requests.Session | None = None) -> None:
        """Args: the registry's base URL, an HTTP session (tests; a new one by default)."""
        self.url = url.rstrip("/")
        self._http = session or requests.Session()
        self._anchors: dict[str, TrustAnchor] = {}
        self._keys: KeyList | None = None

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()

    def _get(self, model: type[M], path: str, params: dict[str, str] | None = None) -> M | None:
        """The answer as ``model``; None for 404."""
        where = f"GET {self.url}{path}"
        try:
            response = self._http.get(self.url + path, params=params, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise RegistryLookupError(f"the registry cannot be reached: {exc}", where=where) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryLookupError(f"the registry answered HTTP {response.status_code}", where=where)
        try:
            data: Any = response.json()
            return parse_wire(model, data, where=where)
        except (ValueError, WireFormatError) as exc:
            raise RegistryLookupError(f"malformed answer: {exc}", where=where) from None

    def anchor(self, production_id: str) -> TrustAnchor:
        """The production's CA and CRL (raises RegistryLookupError when the registry has none)."""
        if production_id not in self._anchors:
            path = f"/v1/productions/{production_id}/ca"
            answer = self._get(ProductionCa, path)
            if answer is None:
                raise RegistryLookupError(
                    f"the registry knows no production {production_id!r}", where=self.url
                )
            self._anchors[production_id] = anchor_from_production_ca(answer, f"{self.url}{path}")
        return self._anchors[production_id]

    def check_consent(self, report: ProvenanceReport, consent: ConsentAssertion) -> None:
        """Add the consent's status now to the report: a problem unless active and before destroy-by."""
        statement = self._get(
            ConsentStatusStatement,
            f"/v1/consents/{consent.consent_id}/status",
            {"document_sha256": consent.document_sha256},
        )
        if statement is None:
            report.registry = {"url": self.url, "status": None}
            report.problem(
                "consent_unknown",
                f"the registry at {self.url} does not know consent {consent.consent_id} with this document"
                " (destroyed, or never granted there)",
            )
            return
        self._verify(statement)
        report.registry = {
            "url": self.url,
            "status": statement.status.value,
            "revoked_at": statement.wire_dict()["revoked_at"],
            "superseded_by": statement.superseded_by,
            "destroy_by": statement.wire_dict()["destroy_by"],
            "registry_time": statement.wire_dict()["registry_time"],
            "registry_key_id": statement.signature.key_id,
        }
        if statement.status.value != "active":
            since = f" on {report.registry['revoked_at']}" if statement.revoked_at else ""
            newer = f" by {statement.superseded_by}" if statement.superseded_by else ""
            report.problem(
                f"consent_{statement.status.value}",
                f"consent {consent.consent_id} was {statement.status.value}{newer}{since}: the uses this file"
                " carries are no longer permitted",
            )
        if statement.destroy_by is not None and statement.registry_time.date() > statement.destroy_by:
            report.problem(
                "past_destroy_by",
                f"consent {consent.consent_id} required the scans to be destroyed by"
                f" {statement.destroy_by.isoformat()} (registry time now {report.registry['registry_time']})",
            )

    def _verify(self, statement: ConsentStatusStatement) -> None:
        if self._keys is None:
            self._keys = self._get(KeyList, "/v1/keys")
        keys = {k.key_id: public_key_from_b64(k.public_key) for k in (self._keys.keys if self._keys else ())}
        try:
            statement.verify(keys)
        except SignatureError as exc:
            raise RegistryLookupError(
                f"the consent status is not validly signed by the registry: {exc.what}", where=self.url
            ) from None
