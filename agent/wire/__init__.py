"""The registry wire schema (protocol ``scangate.registry/1``), shared by the agent and the registry.

Strict pydantic models for every message between a rig and the consent
registry: unknown members and wrong types are rejected with a clear error, and
every field is described (the registry's OpenAPI document is generated from
these models). Signed objects (consent records, rosters, checkpoints, time
statements) use the agent.signing scheme; see docs/registry.md for the protocol.
"""

from agent.wire.base import (
    WIRE_VERSION,
    Identifier,
    KeyId,
    PublicKeyB64,
    Sha256Hex,
    SignedWireModel,
    UtcDateTime,
    WireDate,
    WireEnvelope,
    WireFormatError,
    WireModel,
    describe_validation_error,
    format_utc,
    parse_wire,
    utc_now,
)
from agent.wire.confirmation import Confirmation, ConfirmationDecision, ConfirmationReceipt
from agent.wire.consent import (
    CONSENT_SCHEMA,
    CaptureType,
    ConsentList,
    ConsentRecord,
    ConsentStatus,
    Guardian,
    Performer,
    Production,
    RepresentationBasis,
    destroy_by_passed,
)
from agent.wire.fallback import FallbackRefusal, FallbackVerifyRequest, FallbackVerifyResponse
from agent.wire.registry_info import (
    ErrorBody,
    ErrorCode,
    ErrorDetail,
    Health,
    KeyList,
    KeyStatus,
    RegistryKey,
    Revocation,
    RevocationFeed,
)
from agent.wire.registry_time import TIME_STATEMENT, Nonce, TimeStatement
from agent.wire.retention import DESTRUCTION_RECEIPT_SCHEMA, DestructionReceipt, TemplateOutcome
from agent.wire.roster import ENCODING_LENGTH, FACE_MODEL, FaceTemplate, Roster, RosterEntry
from agent.wire.session_records import (
    Checkpoint,
    KeyRotationReceipt,
    RecordIntake,
    SessionRecordEnvelope,
    SessionRecordReceipt,
)

__all__ = [
    "CONSENT_SCHEMA",
    "DESTRUCTION_RECEIPT_SCHEMA",
    "ENCODING_LENGTH",
    "FACE_MODEL",
    "TIME_STATEMENT",
    "WIRE_VERSION",
    "CaptureType",
    "Checkpoint",
    "Confirmation",
    "ConfirmationDecision",
    "ConfirmationReceipt",
    "ConsentList",
    "ConsentRecord",
    "ConsentStatus",
    "DestructionReceipt",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "FaceTemplate",
    "FallbackRefusal",
    "FallbackVerifyRequest",
    "FallbackVerifyResponse",
    "Guardian",
    "Health",
    "Identifier",
    "KeyId",
    "KeyList",
    "KeyRotationReceipt",
    "KeyStatus",
    "Nonce",
    "Performer",
    "Production",
    "PublicKeyB64",
    "RecordIntake",
    "RegistryKey",
    "RepresentationBasis",
    "Revocation",
    "RevocationFeed",
    "Roster",
    "RosterEntry",
    "SessionRecordEnvelope",
    "SessionRecordReceipt",
    "Sha256Hex",
    "SignedWireModel",
    "TemplateOutcome",
    "TimeStatement",
    "UtcDateTime",
    "WireDate",
    "WireEnvelope",
    "WireFormatError",
    "WireModel",
    "describe_validation_error",
    "destroy_by_passed",
    "format_utc",
    "parse_wire",
    "utc_now",
]
