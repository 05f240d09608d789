"""``scangate registry serve``, ``init`` and ``upgrade``: the registry service's life cycle."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from pathlib import Path

import click

from registry import tokens
from registry.auth_limit import FAILED_AUTH_ENV_VAR, FailedAuthLimits
from registry.cli_options import db_option, open_database, template_key_option
from registry.db import DB_ENV_VAR, SCHEMA_VERSION, Database, normalise_db_url, redact_url
from registry.keys import load_active_signer
from registry.listen import PROXY_WARNING, bind_listening_socket, plan_listening
from registry.retention_service import DISABLED_WARNING, PurgeScheduler, parse_interval
from registry.setup import check_template_key, initialise
from registry.template_seal import TEMPLATE_KEY_ENV_VAR, TemplateKeySource

GRACEFUL_SHUTDOWN_S = 10
"""Seconds a stopping server waits for open requests. Rigs keep a keep-alive connection busy
with their consent rechecks, so a graceful stop without a limit never ends by itself."""


@click.command()
@db_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Beyond loopback: --tls-cert/--tls-key, or --behind-tls-proxy.",
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option(
    "--max-body-bytes",
    default=1024 * 1024,
    show_default=True,
    type=click.IntRange(1024),
    help="Request size limit.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every request (method, path, status, client; never the query string, which names performers).",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="PEM certificate (chain) to serve HTTPS with; needs --tls-key.",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="PEM private key of --tls-cert (unencrypted, mode 0600).",
)
@click.option(
    "--behind-tls-proxy",
    is_flag=True,
    help="Serve plain HTTP on a non-loopback --host because a TLS-terminating proxy sits in front"
    " (logged as a warning at start).",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Proxy addresses (comma-separated) whose X-Forwarded-For names the client; default: trust none,"
    " the client is the TCP peer.",
)
@click.option(
    "--failed-auth-limit",
    default=FailedAuthLimits.limit,
    show_default=True,
    type=click.IntRange(0),
    help="Failed authentications (401) one client address may have within --failed-auth-window"
    " before it is answered 429; 0 switches the limit off. Counted per worker process.",
)
@click.option(
    "--failed-auth-window",
    default=FailedAuthLimits.window_s,
    show_default=True,
    type=click.FloatRange(1, 86400),
    help="Seconds over which failed authentications are counted.",
)
@click.option(
    "--failed-auth-block",
    default=FailedAuthLimits.block_s,
    show_default=True,
    type=click.FloatRange(1, 86400),
    help="Seconds a client address over the limit is answered 429 (with Retry-After).",
)
@click.option(
    "--purge-interval",
    default="24h",
    show_default=True,
    help="Destroy consents past destroy_by at start and then this often (e.g. 24h, 30m, 1d);"
    " 0 disables it (logged as a warning).",
)
@template_key_option
def serve(
    db_url: str,
    host: str,
    port: int,
    workers: int,
    max_body_bytes: int,
    access_log: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    behind_tls_proxy: bool,
    forwarded_allow_ips: str | None,
    failed_auth_limit: int,
    failed_auth_window: float,
    failed_auth_block: float,
    template_key_path: Path | None,
    purge_interval: str,
) -> None:
    """Serve the registry: HTTPS with --tls-cert/--tls-key; plain HTTP only on loopback or behind a TLS proxy.

    Consents past destroy_by are destroyed before serving starts and then every --purge-interval.
    """
    import uvicorn  # noqa: PLC0415 - heavy: only `serve` needs the server stack

    from registry.access_log import access_log_config  # noqa: PLC0415
    from registry.app import MAX_BODY_ENV_VAR, create_app  # noqa: PLC0415

    plan = plan_listening(host, port, tls_cert, tls_key, behind_tls_proxy=behind_tls_proxy)
    interval = parse_interval(purge_interval)
    db_url = normalise_db_url(db_url)
    with open_database(db_url, template_key_path) as database:
        with database.read() as session:
            load_active_signer(session)  # fail fast, with a clear message, before forking workers
        check_template_key(database)
        template_key_file = database.template_keys.path
    if interval is None:
        logging.getLogger("registry.retention").warning(DISABLED_WARNING)
    else:
        scheduler = PurgeScheduler(db_url, interval)
        scheduler.run_once()
        scheduler.start()
    sock = bind_listening_socket(plan.host, plan.port)
    bound_port = int(sock.getsockname()[1])
    plan = dataclasses.replace(plan, port=bound_port)
    if plan.behind_tls_proxy:
        logging.getLogger("registry.serve").warning(PROXY_WARNING, plan.host, plan.port)
    cert_file = str(plan.tls_cert) if plan.tls_cert is not None else None
    key_file = str(plan.tls_key) if plan.tls_key is not None else None
    failed_auth = FailedAuthLimits(failed_auth_limit, failed_auth_window, failed_auth_block)
    # Without --forwarded-allow-ips no X-Forwarded-For is believed (uvicorn would trust 127.0.0.1's),
    # so no client can pick the address that the failed-authentication limit counts.
    proxy = {"proxy_headers": forwarded_allow_ips is not None, "forwarded_allow_ips": forwarded_allow_ips}
    click.echo(
        f"scangate registry: serving {redact_url(db_url)} on {plan.url} ({workers} worker(s), {server_stack()})"
    )
    if workers == 1:
        database = Database.open(db_url, TemplateKeySource(path=template_key_file))
        app = create_app(database, max_body_bytes=max_body_bytes, failed_auth=failed_auth)
        config = uvicorn.Config(
            app,
            host=plan.host,
            port=plan.port,
            access_log=access_log,
            log_config=access_log_config(),
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            ssl_certfile=cert_file,
            ssl_keyfile=key_file,
            **proxy,  # type: ignore[arg-type]
        )
        uvicorn.Server(config).run(sockets=[sock])
        return
    os.environ[DB_ENV_VAR] = db_url
    os.environ[MAX_BODY_ENV_VAR] = str(max_body_bytes)
    os.environ[TEMPLATE_KEY_ENV_VAR] = str(template_key_file)
    os.environ[FAILED_AUTH_ENV_VAR] = failed_auth.to_env()
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    config = uvicorn.Config(
        "registry.app:app_from_env",
        factory=True,
        host=plan.host,
        port=plan.port,
        workers=workers,
        access_log=access_log,
        log_config=access_log_config(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        ssl_certfile=cert_file,
        ssl_keyfile=key_file,
        **proxy,  # type: ignore[arg-type]
    )
    Multiprocess(config, sockets=[sock]).run()


def server_stack() -> str:
    """The event loop and HTTP parser uvicorn picks here ("auto": the C ones when installed)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    if (loop, parser) == ("uvloop", "httptools"):
        return "uvloop + httptools"
    return (
        f"{loop} + {parser}: install uvloop and httptools (scangate[registry]) for about twice the lookups/s"
    )


@click.command()
@db_option
@template_key_option
def init(db_url: str, template_key_path: Path | None) -> None:
    """Create the tables, the first signing key, the first admin token and (if none) the template key."""
    database = Database.open(db_url, TemplateKeySource(path=template_key_path))
    try:
        done = initialise(database)
    finally:
        database.close()
    click.echo(f"initialised {redact_url(db_url)}; signing key {done.key_id}")
    issued = done.admin_token
    click.echo(
        f"registry admin token ({issued.token_id}), {tokens.describe_expiry(issued)}, shown only now:"
        f" {issued.token}"
    )
    click.echo(
        "admin tokens last 12 hours; make a new one any time with `scangate registry issue-admin-token`"
        " (it works on the database directly)"
    )
    made = "created" if done.template_key_created else "using existing"
    click.echo(
        f"face templates are sealed with template key {done.template_key_id} ({made} {done.template_key_origin});"
        " every registry process serving this database needs that file, and backups of the database"
        " are useless for faces without it"
    )


@click.command()
@db_option
@template_key_option
def upgrade(db_url: str, template_key_path: Path | None) -> None:
    """Upgrade a database of an earlier schema version (back it up and stop every `serve` first)."""
    from registry.upgrade import upgrade as run_upgrade  # noqa: PLC0415

    database = Database.open(db_url, TemplateKeySource(path=template_key_path))
    try:
        done = run_upgrade(database)
    finally:
        database.close()
    made = "created" if done.template_key_created else "using existing"
    click.echo(
        f"upgraded {redact_url(db_url)} from schema {done.from_version} to {SCHEMA_VERSION}:"
        f" {done.templates_sealed} face template(s) sealed with template key {done.template_key_id}"
        f" ({made} {done.template_key_origin}), {done.consents} consent(s), {done.tokens} token(s)"
        " now expiring (rigs in 90 days, administrators in 12 hours: re-issue them with `issue-token`)"
    )
