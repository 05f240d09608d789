"""``scangate registry``: run and administer the reference consent registry.

Admin commands work directly on the database (``--db``, or $SCANGATE_REGISTRY_DB),
each in one transaction: a command that fails changes nothing. Remote
administration uses the admin HTTP API (/v1/admin/...) with an admin token.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError

from agent.wire import ConsentRecord, ConsentStatus, DestructionReceipt, describe_validation_error
from registry import admin_ops, tokens
from registry.cli_options import db_option, open_database, template_key_option
from registry.cli_service import init, serve, upgrade
from registry.errors import InvalidInputError
from registry.keys import key_list, load_active_signer, new_signing_key, trusted_public_keys
from registry.retention import purge as run_purge
from registry.retention import receipt_page
from registry.retention_service import describe
from registry.schemas import (
    BadgeIssue,
    ConsentGrant,
    PerformerCreate,
    ProductionCreate,
    RigCreate,
    RigKeyAdd,
    StatusChange,
    TemplateEnrol,
    TokenIssue,
)
from registry.setup import check_template_key

M = TypeVar("M", bound=BaseModel)


def _print_consent(record: ConsentRecord, action: str) -> None:
    click.echo(
        f"{action} consent {record.consent_id} v{record.version} ({record.status.value}) for"
        f" {record.performer.performer_id} on {record.production.production_id}, signed by {record.signature.key_id}"
    )


@click.group(name="registry")
def registry() -> None:
    """Run and administer the reference consent registry (see docs/registry.md)."""


registry.add_command(serve)
registry.add_command(init)
registry.add_command(upgrade)


@registry.command("add-production")
@db_option
@click.option("--id", "production_id", required=True, help="Production id, e.g. 'feature-2025-raven'.")
@click.option("--name", required=True, help="Title of the production.")
@click.option("--producer", required=True, help="Producing company.")
def add_production(db_url: str, production_id: str, name: str, producer: str) -> None:
    """Add a production."""
    body = _validated(ProductionCreate, {"production_id": production_id, "name": name, "producer": producer})
    with open_database(db_url) as database, database.write() as session:
        admin_ops.add_production(session, body)
    click.echo(f"added production {production_id}")


@registry.command("add-performer")
@db_option
@click.option("--id", "performer_id", required=True, help="Performer id.")
@click.option("--name", "display_name", required=True, help="Display name.")
@click.option("--union", "union_membership", default=None, help="Union and membership number.")
@click.option("--representative", default=None, help="Agent, counsel or union representative.")
def add_performer(
    db_url: str,
    performer_id: str,
    display_name: str,
    union_membership: str | None,
    representative: str | None,
) -> None:
    """Add a performer (no biometric data; see `enrol`)."""
    body = _validated(
        PerformerCreate,
        {
            "performer_id": performer_id,
            "display_name": display_name,
            "union_membership": union_membership,
            "representative": representative,
        },
    )
    with open_database(db_url) as database, database.write() as session:
        admin_ops.add_performer(session, body)
    click.echo(f"added performer {performer_id}")


def _validated(model: type[M], data: Any, where: str | None = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        raise InvalidInputError(
            f"invalid {model.__name__} ({len(problems)} problem(s)):\n  - " + "\n  - ".join(problems),
            where=where,
        ) from None


def _encodings_from_photos(photos: tuple[Path, ...], config_path: Path | None) -> list[list[float]]:
    """One encoding per photo, through the agent's quality gate; all photos or none."""
    from agent.config import load_config  # noqa: PLC0415 - loads dlib only when enrolling photos
    from agent.errors import InputError  # noqa: PLC0415
    from agent.faces.analysis import FaceAnalyser  # noqa: PLC0415
    from agent.faces.imaging import load_image  # noqa: PLC0415

    config, _ = load_config(config_path)
    analyser = FaceAnalyser(config.identification)
    encodings: list[list[float]] = []
    problems: list[str] = []
    for path in photos:
        try:
            observation = analyser.observe(load_image(path))
        except InputError as exc:
            problems.append(exc.message())
            continue
        if observation.encoding is None:
            problems.append(f"{path}: {observation.reason}")
            continue
        encodings.append([float(value) for value in observation.encoding])
    if problems:
        raise InvalidInputError(
            f"{len(problems)} of {len(photos)} photo(s) cannot be used, nothing was enrolled:\n  - "
            + "\n  - ".join(problems),
            hint="use photos with exactly one sharp, large enough face",
        )
    return encodings


@registry.command()
@db_option
@click.option("--performer", "performer_id", required=True, help="The performer to enrol.")
@click.option(
    "--encodings",
    "encodings_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="JSON file with a list of 128-float encodings, instead of photos.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="ScanGate config whose [identification] settings gate the photos (default: the usual places).",
)
@click.argument("photos", nargs=-1, type=click.Path(path_type=Path))
@template_key_option
def enrol(
    db_url: str,
    performer_id: str,
    encodings_file: Path | None,
    config_path: Path | None,
    photos: tuple[Path, ...],
    template_key_path: Path | None,
) -> None:
    """Enrol face templates for a performer from PHOTOS (one face each), or from --encodings.

    Creates a new enrolment version (the roster sends the latest). Only the
    128-d encodings are stored, never the photos. If any photo fails the
    quality gate, nothing is enrolled.
    """
    if bool(photos) == (encodings_file is not None):
        raise click.UsageError("give either PHOTOS or --encodings FILE")
    if encodings_file is not None:
        data = _read_structured_file(encodings_file)
        body = _validated(
            TemplateEnrol, {"encodings": data, "source": encodings_file.name}, where=str(encodings_file)
        )
    else:
        with open_database(db_url) as database, database.read() as session:  # check before the slow part
            admin_ops.require_performer(session, performer_id)
        body = TemplateEnrol(
            encodings=_encodings_from_photos(photos, config_path), source=f"{len(photos)} photo(s)"
        )
    with open_database(db_url, template_key_path) as database:
        check_template_key(database)
        with database.write() as session:
            enrolled = admin_ops.enrol_templates(session, performer_id, body.encodings, body.source)
    click.echo(f"enrolled {performer_id}: version {enrolled.version}, {len(enrolled.templates)} template(s)")


def _read_structured_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read file: {exc}", where=str(path)) from None
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        return json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise InvalidInputError(f"not valid {kind}: {exc}", where=str(path)) from None


@registry.command()
@db_option
@click.argument("grant_file", type=click.Path(path_type=Path, dir_okay=False))
def grant(db_url: str, grant_file: Path) -> None:
    """Grant a consent described in GRANT_FILE (JSON, or TOML by extension).

    The file holds the consent's terms (see docs/registry.md, "Grant files");
    the registry fills in performer and production details, the version, the
    issue time and its signature.
    """
    body = _validated(ConsentGrant, _read_structured_file(grant_file), where=str(grant_file))
    with open_database(db_url) as database, database.write() as session:
        record = admin_ops.grant_consent(session, body, load_active_signer(session))
    _print_consent(record, "granted")


def _change_status(db_url: str, consent_id: str, status: ConsentStatus, reason: str) -> None:
    # validated like the admin API's body: the reason goes into the revocation feed, whose
    # entries rigs validate, so an over-long one would break the feed for the whole production
    body = _validated(StatusChange, {"reason": reason})
    with open_database(db_url) as database, database.write() as session:
        record = admin_ops.change_consent_status(
            session, consent_id, status, body.reason, load_active_signer(session)
        )
    _print_consent(record, status.value)


@registry.command()
@db_option
@click.argument("consent_id")
@click.option("--reason", default="", help="Why (shown in the revocation feed).")
def revoke(db_url: str, consent_id: str, reason: str) -> None:
    """Revoke a consent for good (rigs see it in the revocation feed)."""
    _change_status(db_url, consent_id, ConsentStatus.REVOKED, reason)


@registry.command()
@db_option
@click.argument("consent_id")
@click.option("--reason", default="", help="Why (shown in the revocation feed).")
def suspend(db_url: str, consent_id: str, reason: str) -> None:
    """Suspend a consent (lift it later by granting a version that supersedes it)."""
    _change_status(db_url, consent_id, ConsentStatus.SUSPENDED, reason)


@registry.command("rotate-key")
@db_option
def rotate_key(db_url: str) -> None:
    """Generate a new signing key; the old one is retired but stays listed for verification."""
    with open_database(db_url) as database, database.write() as session:
        row = new_signing_key(session)
    click.echo(f"new active signing key {row.key_id}; add it to the rigs' pinned keys")


@registry.command()
@db_option
def keys(db_url: str) -> None:
    """List the registry's signing keys (public halves)."""
    with open_database(db_url) as database, database.read() as session:
        listing = key_list(session)
    for key in listing.keys:
        click.echo(f"{key.key_id}  {key.status.value:8}  {key.public_key}")


def _public_key_arg(value: str) -> str:
    """A public key given inline or as @FILE (a file holding the base64url key)."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read public key file: {exc}", where=str(path)) from None
    return value.strip()


@registry.command("add-rig")
@db_option
@click.option("--rig-id", required=True, help="The rig's id (rig.rig_id in its config).")
@click.option("--production", "production_id", required=True, help="The production the rig serves.")
@click.option("--public-key", required=True, help="Rig record-signing public key (base64url), or @FILE.")
@click.option("--name", default="Scanning rig", show_default=True, help="Human-readable rig name.")
def add_rig(db_url: str, rig_id: str, production_id: str, public_key: str, name: str) -> None:
    """Register a rig (then issue it a token with `issue-token`)."""
    body = _validated(
        RigCreate,
        {
            "rig_id": rig_id,
            "production_id": production_id,
            "public_key": _public_key_arg(public_key),
            "name": name,
        },
    )
    with open_database(db_url) as database, database.write() as session:
        info = admin_ops.register_rig(session, body)
    click.echo(f"registered rig {info.rig_id} for {info.production_id} with key {', '.join(info.key_ids)}")


@registry.command("add-rig-key")
@db_option
@click.option("--rig-id", required=True, help="The rig.")
@click.option("--public-key", required=True, help="The rig's new public key (base64url), or @FILE.")
@click.option("--keep-others", is_flag=True, help="Do not mark the rig's other keys retired.")
def add_rig_key(db_url: str, rig_id: str, public_key: str, keep_others: bool) -> None:
    """Add a rotated rig public key (old keys still verify old records)."""
    body = _validated(
        RigKeyAdd, {"public_key": _public_key_arg(public_key), "retire_others": not keep_others}
    )
    with open_database(db_url) as database, database.write() as session:
        info = admin_ops.add_rig_key(session, rig_id, body.public_key, retire_others=body.retire_others)
    click.echo(f"rig {info.rig_id} keys: {', '.join(info.key_ids)}")


_EXPIRES_HELP = "Lifetime: a whole number and m, h or d (e.g. 30m, 12h, 90d)."


@registry.command("issue-token")
@db_option
@click.option("--rig-id", required=True, help="The rig the token is for.")
@click.option("--label", default="", help="Free note (where the token is installed).")
@click.option("--expires-in", default="90d", show_default=True, help=_EXPIRES_HELP + " At most 366d.")
def issue_token(db_url: str, rig_id: str, label: str, expires_in: str) -> None:
    """Issue a bearer token for a rig; it is printed once and stored only as a hash."""
    body = _validated(TokenIssue, {"label": label})
    with open_database(db_url) as database, database.write() as session:
        issued = tokens.issue_rig_token(session, None, rig_id, body.label, expires_in, what="--expires-in")
    click.echo(
        f"token {issued.token_id} for rig {rig_id}, {tokens.describe_expiry(issued)}, shown only now:"
        f" {issued.token}"
    )


@registry.command("issue-admin-token")
@db_option
@click.option(
    "--production",
    "production_id",
    default=None,
    help="Make a production administrator's token, limited to this production"
    " (default: a registry administrator's).",
)
@click.option("--label", default="", help="Free note (who holds it).")
@click.option("--expires-in", default="12h", show_default=True, help=_EXPIRES_HELP + " At most 30d.")
def issue_admin_token(db_url: str, production_id: str | None, label: str, expires_in: str) -> None:
    """Issue an admin token for the admin HTTP API; printed once, stored as a hash.

    Works on the database directly, so whoever can reach the database can always make a
    new registry administrator's token (e.g. when the one from `init` has expired).
    """
    body = _validated(TokenIssue, {"label": label})
    with open_database(db_url) as database, database.write() as session:
        issued = tokens.issue_admin_token(session, production_id, body.label, expires_in, what="--expires-in")
    role = f"production admin token for {production_id}" if production_id else "registry admin token"
    click.echo(f"{role} {issued.token_id}, {tokens.describe_expiry(issued)}, shown only now: {issued.token}")


@registry.command("list-tokens")
@db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document (TokenList) instead of a table.")
def list_tokens(db_url: str, as_json: bool) -> None:
    """List rig and admin tokens: id, role, rig or production, label, dates, state (never the token)."""
    with open_database(db_url) as database, database.read() as session:
        listing = tokens.list_tokens(session, None)
    if as_json:
        click.echo(listing.model_dump_json(indent=2))
        return
    click.echo(
        "token_id              state    role              rig/production      expires               label"
    )
    for item in listing.tokens:
        role = item.role or "rig"
        whom = item.rig_id if item.kind == "rig" else (item.production_id or "(all)")
        click.echo(
            f"{item.token_id:21} {tokens.token_state(item):8} {role:17} {whom or '':19}"
            f" {item.expires_at.strftime('%Y-%m-%dT%H:%M:%SZ'):21} {item.label}"
        )


@registry.command("revoke-token")
@db_option
@click.argument("token_id")
def revoke_token(db_url: str, token_id: str) -> None:
    """Stop accepting a rig or admin token (by its token id; see `list-tokens`)."""
    with open_database(db_url) as database, database.write() as session:
        done = tokens.revoke_token(session, None, token_id)
    click.echo(f"revoked token {done.token_id}")


@registry.command("issue-badge")
@db_option
@click.option("--production", "production_id", required=True, help="The production.")
@click.option("--performer", "performer_id", required=True, help="The performer.")
@click.option("--code", "badge_code", default=None, help="Badge code (generated when omitted).")
@click.option("--pin", default=None, help="PIN, 4-12 digits (random 6 digits when omitted).")
def issue_badge(
    db_url: str, production_id: str, performer_id: str, badge_code: str | None, pin: str | None
) -> None:
    """Issue a fallback badge (code + PIN) for identifying a performer without face matching."""
    body = _validated(
        BadgeIssue,
        {"production_id": production_id, "performer_id": performer_id, "badge_code": badge_code, "pin": pin},
    )
    with open_database(db_url) as database, database.write() as session:
        issued = admin_ops.issue_badge(session, body)
    click.echo(
        f"badge {issued.badge_code} for {performer_id} on {production_id}; PIN, shown only now: {issued.pin}"
    )


@registry.command()
@db_option
@click.option("--dry-run", is_flag=True, help="Only list what would be destroyed; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def purge(db_url: str, dry_run: bool, as_json: bool) -> None:
    """Destroy consents whose destroy_by date is over (registry clock, UTC) and issue signed receipts."""
    with open_database(db_url) as database:
        report = run_purge(database, dry_run=dry_run)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else describe(report))


@registry.command()
@db_option
@click.option("--consent", "consent_id", default=None, help="Only the receipt of this consent.")
@click.option("--performer", "performer_id", default=None, help="Only receipts of this performer.")
@click.option("--production", "production_id", default=None, help="Only receipts of this production.")
@click.option("--json", "as_json", is_flag=True, help="Print the signed receipts as JSON (one list).")
def receipts(
    db_url: str, consent_id: str | None, performer_id: str | None, production_id: str | None, as_json: bool
) -> None:
    """List destruction receipts, each verified against the registry's keys."""
    found: list[DestructionReceipt] = []
    with open_database(db_url) as database, database.read() as session:
        trusted = trusted_public_keys(key_list(session))
        after, more = 0, True
        while more:
            page = receipt_page(
                session,
                after=after,
                consent_id=consent_id,
                performer_id=performer_id,
                production_id=production_id,
            )
            found.extend(page.receipts)
            after, more = page.next_after, page.has_more
    for receipt in found:
        receipt.verify(trusted)  # raises SignatureError (exit 2) if a stored receipt was altered
    if as_json:
        click.echo(json.dumps([receipt.wire_dict() for receipt in found], indent=2))
        return
    for receipt in found:
        click.echo(
            f"{receipt.receipt_id}  {receipt.destroyed_at:%Y-%m-%d %H:%M}Z  consent {receipt.consent_id}"
            f" v{receipt.consent_version}  {receipt.performer_id} on {receipt.production_id}"
            f"  templates: {receipt.face_templates.value}  signed by {receipt.signature.key_id} (verified)"
        )
    click.echo(f"{len(found)} receipt(s)")


@registry.command()
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the document here (default: print it).",
)
@click.option("--check", is_flag=True, help="Exit non-zero when --output differs from the current document.")
def openapi(output: Path | None, check: bool) -> None:
    """Print or write the registry's OpenAPI document (registry/openapi.json in the repo)."""
    from registry.openapi import check_openapi_file, openapi_text  # noqa: PLC0415 - loads FastAPI

    if check:
        if output is None:
            raise click.UsageError("--check needs --output FILE")
        check_openapi_file(output)
        click.echo(f"{output} is up to date")
        return
    text = openapi_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
