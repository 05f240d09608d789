"""Who is calling, and what they may see: bearer-token authentication, roles and production scope.

Three roles (docs/security.md, "Roles"):

- **registry administrator**: everything;
- **production administrator**: administers one production (consents, rigs, rig tokens,
  badges, session records); cannot create productions or performers, enrol faces, rotate
  the registry key or issue admin tokens;
- **rig**: the rig endpoints, for the production it is registered for.

Scope rule: a scoped caller (rig or production administrator) never learns whether
something of another production exists. Ids that must be looked up (consents, rigs,
tokens) answer exactly as an unknown id when they belong to another production: same
status, same body, raised by the same function. A production administrator naming
another production answers as for an unknown production. A rig naming a production or
rig other than its own is refused (403) before anything is looked up, so that answer is
the same whether or not the id exists.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from agent.wire import format_utc, utc_now
from registry.admin_ops import unknown_consent, unknown_production, unknown_rig
from registry.credentials import token_digest
from registry.db import ConsentRow, RigRow, TokenRow
from registry.errors import ForbiddenError, UnauthorizedError
from registry.hot_reads import PreparedSelect, Reads, Row, SessionReads

REGISTRY_ADMIN: Final = "registry_admin"
PRODUCTION_ADMIN: Final = "production_admin"
Role = Literal["rig", "registry_admin", "production_admin"]

NOT_ACCEPTED = "bearer token not accepted"
NOT_ACCEPTED_HINT = "send a token issued by this registry: `scangate registry issue-token` (rigs)"


@dataclass(frozen=True)
class Caller:
    """Who is calling: a rig (with its production) or an administrator (with its role)."""

    kind: str
    """"rig" or "admin" (the token's kind)."""
    token_id: str
    rig_id: str | None = None
    production_id: str | None = None
    """The rig's production, or a production administrator's; None for a registry administrator."""
    role: Role = "rig"

    @property
    def scoped(self) -> bool:
        """True for callers limited to one production (rigs and production administrators)."""
        return self.role != REGISTRY_ADMIN


@dataclass(frozen=True)
class TokenFacts:
    """What authentication needs of a token's row, with its rig's row (one indexed join)."""

    token_id: str
    kind: str
    role: str | None
    production_id: str | None
    rig_id: str | None
    revoked_at: datetime | None
    expires_at: datetime
    registered_rig_id: str | None
    """The rig's row (None: no such rig, which issuing a token never allows)."""
    rig_production_id: str | None


def token_facts_select(*also: ColumnElement[Any] | InstrumentedAttribute[Any]) -> Select[*tuple[Any, ...]]:
    """SELECT a token's facts (the columns of :class:`TokenFacts`, in order) by digest, then ``also``.

    The caller may join more tables (outer joins keep the token's row when they match nothing).
    """
    return (
        select(
            TokenRow.token_id,
            TokenRow.kind,
            TokenRow.role,
            TokenRow.production_id,
            TokenRow.rig_id,
            TokenRow.revoked_at,
            TokenRow.expires_at,
            RigRow.rig_id,
            RigRow.production_id,
            *also,
        )
        .select_from(TokenRow)
        .outerjoin(RigRow, RigRow.rig_id == TokenRow.rig_id)
        .where(TokenRow.token_sha256 == bindparam("digest"))
    )


TOKEN_FACTS = PreparedSelect(token_facts_select())
_FACT_COUNT = len(fields(TokenFacts))


def _expiry_hint(row: TokenFacts) -> str:
    if row.kind == "rig":
        return (
            f"ask the registry administrator for a new token for rig {row.rig_id!r}"
            f" (`scangate registry issue-token --rig-id {row.rig_id}`) and install it on the rig"
        )
    return (
        "get a new admin token: `scangate registry issue-admin-token` on the registry's database,"
        " or ask a registry administrator"
    )


def authenticate(session: Session, token: str) -> Caller:
    """The caller a bearer token belongs to, read in ``session``'s transaction (see :func:`authenticate_in`)."""
    return authenticate_in(SessionReads(session), token)


def authenticate_in(reads: Reads, token: str) -> Caller:
    """The caller a bearer token belongs to.

    One indexed lookup by digest, joined to the rig's row; nothing is written and nothing
    is cached, so a revoked or expired token is refused from the next request on.
    An unknown token gets one fixed answer that says nothing about any token; only the
    holder of a real token learns that it was revoked or has expired, and when.

    Raises:
        UnauthorizedError: unknown, revoked or expired token.
    """
    found = reads.rows(TOKEN_FACTS, digest=token_digest(token))
    return caller_from_facts(found[0] if found else None)


def caller_from_facts(found: Row | None) -> Caller:
    """The caller of a row of :func:`token_facts_select` (None: no token has that digest).

    Raises:
        UnauthorizedError: unknown, revoked or expired token (see :func:`authenticate_in`).
    """
    row = TokenFacts(*found[:_FACT_COUNT]) if found else None
    if row is None:
        raise UnauthorizedError(NOT_ACCEPTED, hint=NOT_ACCEPTED_HINT)
    if row.revoked_at is not None:
        raise UnauthorizedError(
            f"bearer token {row.token_id} was revoked at {format_utc(row.revoked_at)}", hint=_expiry_hint(row)
        )
    if row.expires_at <= utc_now():
        raise UnauthorizedError(
            f"bearer token {row.token_id} expired at {format_utc(row.expires_at)}", hint=_expiry_hint(row)
        )
    if row.kind == "admin":
        role: Role = PRODUCTION_ADMIN if row.role == PRODUCTION_ADMIN else REGISTRY_ADMIN
        return Caller(kind="admin", token_id=row.token_id, production_id=row.production_id, role=role)
    if row.registered_rig_id is None:  # tokens are only issued for registered rigs
        raise UnauthorizedError(NOT_ACCEPTED, hint=NOT_ACCEPTED_HINT)
    return Caller(
        kind="rig", token_id=row.token_id, rig_id=row.registered_rig_id, production_id=row.rig_production_id
    )


def require_registry_admin(caller: Caller, what: str) -> None:
    """Only a registry administrator may do ``what`` (e.g. "create productions").

    The refusal depends on the token's role alone, never on an id, so it tells nothing
    about the registry's contents.
    """
    if caller.role != REGISTRY_ADMIN:
        raise ForbiddenError(
            f"only a registry administrator can {what}; this is a production administrator's token"
            f" (production {caller.production_id!r})",
            hint="ask a registry administrator",
        )


def production_in_scope(caller: Caller, production_id: str) -> None:
    """A production administrator names only its own production; any other answers as unknown."""
    if caller.role == PRODUCTION_ADMIN and production_id != caller.production_id:
        raise unknown_production(production_id)


def consent_in_scope(session: Session, caller: Caller, consent_id: str) -> ConsentRow:
    """The consent, if it exists and the caller may see it; otherwise exactly the unknown-consent error."""
    row = session.get(ConsentRow, consent_id)
    if row is None or (caller.scoped and row.production_id != caller.production_id):
        raise unknown_consent(consent_id)
    return row


def rig_in_scope(session: Session, caller: Caller, rig_id: str) -> RigRow:
    """The rig, if it exists and the caller may see it; otherwise exactly the unknown-rig error."""
    row = session.get(RigRow, rig_id)
    if row is None or (caller.scoped and row.production_id != caller.production_id):
        raise unknown_rig(rig_id)
    return row
