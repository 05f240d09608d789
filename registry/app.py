"""The registry's FastAPI application.

``create_app(database)`` builds an app around an open database;
``app_from_env`` is the factory uvicorn imports in each worker process when the
registry runs with several workers (it reads the database URL from
``$SCANGATE_REGISTRY_DB``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent import __version__
from agent.wire import WIRE_VERSION
from registry import routes_admin, routes_provenance, routes_rig
from registry.auth_limit import FailedAuthLimiter, FailedAuthLimits
from registry.db import DB_ENV_VAR, Database
from registry.errors import DatabaseError
from registry.http_errors import DEFAULT_MAX_BODY_BYTES, BodySizeLimit, install_error_handlers
from registry.rig_ops import SignerCache
from registry.setup import check_schema, check_template_key

MAX_BODY_ENV_VAR = "SCANGATE_REGISTRY_MAX_BODY_BYTES"

DESCRIPTION = f"""
The ScanGate consent registry, protocol `{WIRE_VERSION}`.

Rigs fetch signed consent records, the signed production roster and the
revocation feed, report on-set confirmations and upload signed session records.
Consent records, rosters and checkpoints are signed with Ed25519 over the
RFC 8785 canonical JSON of every member but `signature`; verify them against
the keys of `GET /v1/keys` pinned in the rig's configuration.

Every error answer is an `ErrorBody`. Request bodies are limited in size (413). Tokens
expire; a client address with a burst of failed authentications is answered 429 for a while.
"""


def create_app(
    database: Database,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    failed_auth: FailedAuthLimits | None = None,
) -> FastAPI:
    """The registry app serving ``database``; ``failed_auth`` defaults to :class:`FailedAuthLimits`.

    Raises:
        DatabaseError: the database is not initialised, has another schema version, or its
            template key file is missing or another one.
    """
    check_schema(database)
    check_template_key(database)
    app = build_app(database, max_body_bytes=max_body_bytes, failed_auth=failed_auth)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        database.close()

    app.router.lifespan_context = lifespan
    return app


def build_app(
    database: Database | None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    failed_auth: FailedAuthLimits | None = None,
) -> FastAPI:
    """The app without any database check (``None``: only for producing the OpenAPI document)."""
    app = FastAPI(
        title="ScanGate consent registry",
        version=__version__,
        description=DESCRIPTION,
        separate_input_output_schemas=False,
        # Swagger UI and ReDoc pages load their scripts from an outside CDN, useless on an offline
        # set and a third party in every admin's browser; the document itself stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.database = database
    app.state.signer_cache = SignerCache()
    install_error_handlers(app)
    app.include_router(routes_rig.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_provenance.router)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    # outermost: a blocked address is refused before its body is read or its token looked up
    app.add_middleware(FailedAuthLimiter, limits=failed_auth or FailedAuthLimits())
    return app


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers: database from $SCANGATE_REGISTRY_DB."""
    url = os.environ.get(DB_ENV_VAR)
    if not url:
        raise DatabaseError(
            f"{DB_ENV_VAR} is not set", hint="start the server with `scangate registry serve`"
        )
    max_body = int(os.environ.get(MAX_BODY_ENV_VAR, DEFAULT_MAX_BODY_BYTES))
    return create_app(Database.open(url), max_body_bytes=max_body, failed_auth=FailedAuthLimits.from_env())
