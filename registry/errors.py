"""Registry errors: each maps to one HTTP status and one stable wire error code.

The admin CLI prints them as one clear message (they are ScanGateErrors); the
HTTP layer turns them into the JSON error body of agent.wire.ErrorBody.
"""

from __future__ import annotations

from typing import Any

from agent.errors import ScanGateError
from agent.wire import ErrorCode


class RegistryError(ScanGateError):
    """Base of every expected registry failure."""

    status_code = 400
    code = ErrorCode.BAD_REQUEST

    def __init__(
        self, what: str, *, where: str | None = None, hint: str | None = None, detail: Any = None
    ) -> None:
        super().__init__(what, where=where, hint=hint)
        self.detail = detail


class InvalidInputError(RegistryError):
    """The input is well-formed JSON but breaks a rule (bad value, inconsistent members)."""

    status_code = 422
    code = ErrorCode.VALIDATION_FAILED


class NotFoundError(RegistryError):
    """The named performer, production, consent, rig, token or badge does not exist."""

    status_code = 404
    code = ErrorCode.NOT_FOUND


class ConflictError(RegistryError):
    """The change conflicts with what the registry holds (duplicate id, wrong status, fork)."""

    status_code = 409
    code = ErrorCode.CONFLICT


class UnauthorizedError(RegistryError):
    """No bearer token, or a token the registry does not accept."""

    status_code = 401
    code = ErrorCode.UNAUTHORIZED


class ForbiddenError(RegistryError):
    """The token is valid but not allowed to do this (other rig, other production)."""

    status_code = 403
    code = ErrorCode.FORBIDDEN


class RecordSignatureError(RegistryError):
    """An uploaded session record's signature is missing, from an unknown key, or does not verify."""

    status_code = 400
    code = ErrorCode.BAD_SIGNATURE


class RetiredKeyError(RecordSignatureError):
    """An uploaded record is signed by a rig key that a rotation record retired before its sequence."""

    code = ErrorCode.RETIRED_KEY


class DatabaseError(RegistryError):
    """The registry database cannot be opened, is not initialised, or is inconsistent."""

    status_code = 500
    code = ErrorCode.INTERNAL_ERROR
