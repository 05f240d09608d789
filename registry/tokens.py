"""Bearer tokens: issue (with a lifetime), list and revoke; shared by the admin CLI and HTTP API.

Lifetimes (docs/security.md, "Tokens and their lifetimes"): rig tokens 90 days by
default (at most 366), admin tokens 12 hours (at most 30 days). Like the rest of
``admin_ops``, each function works inside the caller's write transaction.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from agent.wire import format_utc, utc_now
from registry.access import PRODUCTION_ADMIN, REGISTRY_ADMIN, Caller, rig_in_scope
from registry.admin_ops import require_production, require_rig
from registry.credentials import new_token, new_token_id, token_digest
from registry.db import RigRow, TokenRow
from registry.errors import ConflictError, InvalidInputError, NotFoundError
from registry.schemas import AdminRole, TokenInfo, TokenIssued, TokenList, TokenRevoked

RIG_TOKEN_LIFETIME = timedelta(days=90)
ADMIN_TOKEN_LIFETIME = timedelta(hours=12)
MAX_RIG_TOKEN_LIFETIME = timedelta(days=366)
MAX_ADMIN_TOKEN_LIFETIME = timedelta(days=30)
_LIFETIME = re.compile(r"([1-9][0-9]{0,5})([mhd])")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def _spelled(lifetime: timedelta) -> str:
    if lifetime % timedelta(days=1) == timedelta(0):
        return f"{lifetime.days}d"
    return f"{int(lifetime.total_seconds() // 3600)}h"


def parse_lifetime(text: str, *, kind: Literal["rig", "admin"], what: str = "expires_in") -> timedelta:
    """A token lifetime from text such as "90d", "12h" or "30m", within the kind's maximum.

    Raises:
        InvalidInputError: not a lifetime, or longer than the maximum (``what`` names the option).
    """
    found = _LIFETIME.fullmatch(text.strip())
    if found is None:
        raise InvalidInputError(
            f"{what} {text!r} is not a lifetime",
            hint="give a whole number and a unit: 30m (minutes), 12h (hours) or 90d (days)",
        )
    lifetime = int(found.group(1)) * _UNITS[found.group(2)]
    longest = MAX_RIG_TOKEN_LIFETIME if kind == "rig" else MAX_ADMIN_TOKEN_LIFETIME
    if lifetime > longest:
        raise InvalidInputError(
            f"{what} {text!r} is longer than an {kind} token may live ({_spelled(longest)})",
            hint="issue a new token before this one expires instead",
        )
    return lifetime


def _lifetime(expires_in: str | None, kind: Literal["rig", "admin"], what: str) -> timedelta:
    if expires_in is None:
        return RIG_TOKEN_LIFETIME if kind == "rig" else ADMIN_TOKEN_LIFETIME
    return parse_lifetime(expires_in, kind=kind, what=what)


def _role(row: TokenRow) -> AdminRole | None:
    if row.kind != "admin":
        return None
    return PRODUCTION_ADMIN if row.role == PRODUCTION_ADMIN else REGISTRY_ADMIN


def _issued(row: TokenRow, token: str) -> TokenIssued:
    return TokenIssued(
        token_id=row.token_id,
        kind="rig" if row.kind == "rig" else "admin",
        role=_role(row),
        rig_id=row.rig_id,
        production_id=row.production_id,
        expires_at=row.expires_at,
        token=token,
    )


def _add(session: Session, row: TokenRow) -> None:
    session.add(row)
    session.flush()


def issue_rig_token(
    session: Session,
    caller: Caller | None,
    rig_id: str,
    label: str,
    expires_in: str | None = None,
    *,
    what: str = "expires_in",
) -> TokenIssued:
    """A new bearer token for a rig the caller may administer (``None``: the CLI, on the database)."""
    lifetime = _lifetime(expires_in, "rig", what)  # first: the answer must not depend on the rig
    if caller is None:
        require_rig(session, rig_id)
    else:
        rig_in_scope(session, caller, rig_id)
    token, now = new_token("rig"), utc_now()
    row = TokenRow(
        token_id=new_token_id(),
        token_sha256=token_digest(token),
        kind="rig",
        role=None,
        rig_id=rig_id,
        production_id=None,
        label=label,
        created_at=now,
        expires_at=now + lifetime,
        revoked_at=None,
    )
    _add(session, row)
    return _issued(row, token)


def issue_admin_token(
    session: Session,
    production_id: str | None,
    label: str,
    expires_in: str | None = None,
    *,
    what: str = "expires_in",
) -> TokenIssued:
    """A registry-admin token, or a production-admin token when ``production_id`` is given.

    Only the CLI (database access) and registry administrators reach this.
    """
    lifetime = _lifetime(expires_in, "admin", what)
    if production_id is not None:
        require_production(session, production_id)
    token, now = new_token("admin"), utc_now()
    row = TokenRow(
        token_id=new_token_id(),
        token_sha256=token_digest(token),
        kind="admin",
        role=REGISTRY_ADMIN if production_id is None else PRODUCTION_ADMIN,
        rig_id=None,
        production_id=production_id,
        label=label,
        created_at=now,
        expires_at=now + lifetime,
        revoked_at=None,
    )
    _add(session, row)
    return _issued(row, token)


def unknown_token(token_id: str) -> NotFoundError:
    """The answer for a token id that does not exist, or that the caller may not see."""
    return NotFoundError(
        f"unknown token id {token_id!r}", hint="list tokens: `scangate registry list-tokens`"
    )


def _token_production(session: Session, row: TokenRow) -> str | None:
    if row.rig_id is not None:
        return session.scalar(select(RigRow.production_id).where(RigRow.rig_id == row.rig_id))
    return row.production_id


def revoke_token(session: Session, caller: Caller | None, token_id: str) -> TokenRevoked:
    """Stop accepting a token from now on (``None``: the CLI, on the database).

    A production administrator may revoke the rig and production-admin tokens of its
    production; any other token id answers as unknown.
    """
    row = session.get(TokenRow, token_id)
    if row is None or (
        caller is not None and caller.scoped and _token_production(session, row) != caller.production_id
    ):
        raise unknown_token(token_id)
    if row.revoked_at is not None:
        raise ConflictError(f"token {token_id!r} was already revoked")
    row.revoked_at = utc_now()
    session.flush()
    return TokenRevoked(token_id=token_id, revoked_at=row.revoked_at)


def list_tokens(session: Session, caller: Caller | None) -> TokenList:
    """Every token the caller may see (``None``: all), oldest first; never a token or its hash."""
    query = (
        select(TokenRow, RigRow.production_id)
        .outerjoin(RigRow, RigRow.rig_id == TokenRow.rig_id)
        .order_by(TokenRow.created_at, TokenRow.token_id)
    )
    if caller is not None and caller.scoped:
        query = query.where(
            or_(RigRow.production_id == caller.production_id, TokenRow.production_id == caller.production_id)
        )
    items = []
    for row, rig_production in session.execute(query).all():
        items.append(
            TokenInfo(
                token_id=row.token_id,
                kind="rig" if row.kind == "rig" else "admin",
                role=_role(row),
                rig_id=row.rig_id,
                production_id=rig_production if row.kind == "rig" else row.production_id,
                label=row.label,
                created_at=row.created_at,
                expires_at=row.expires_at,
                revoked_at=row.revoked_at,
            )
        )
    return TokenList(tokens=tuple(items))


def token_state(info: TokenInfo) -> str:
    """ "active", "expired" or "revoked" (as of now)."""
    if info.revoked_at is not None:
        return "revoked"
    return "expired" if info.expires_at <= utc_now() else "active"


def describe_expiry(issued: TokenIssued) -> str:
    """E.g. "expires 2030-01-01T12:00:00Z" for CLI output."""
    return f"expires {format_utc(issued.expires_at)}"
