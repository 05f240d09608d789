"""``scangate verify``, ``receipt`` and ``outbox`` (and ``keys``, from :mod:`agent.cli.key_commands`).

``verify`` exits 0 when the log is intact, 1 when it found problems, 2 on a
usage error or an unreadable file (see docs/records.md).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agent.cli.key_commands import keys
from agent.config import load_config
from agent.records.errors import RecordError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from agent.records.verify import Verdict

__all__ = ["keys", "outbox", "receipt", "verify"]

_CONFIG_HELP = "Config file (default: the usual places); used for the rig id and [records] paths."
_config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=_CONFIG_HELP
)


class RecordNotFoundError(RecordError):
    """The requested record is not in the log."""


class LogNotIntactError(RecordError):
    """Verification found problems (exit status 1; the verdict lists them)."""

    exit_code = 1


class UnverifiedRecordError(RecordError):
    """A record's signature does not verify, so no receipt is issued for it."""

    exit_code = 1


# -- verify -----------------------------------------------------------------------------------------------


def _trusted_keys(key_files: tuple[Path, ...], config_path: Path | None) -> tuple[dict[str, Any], str]:
    from agent.records.key_store import open_key_store  # noqa: PLC0415
    from agent.records.keys import load_trusted_keys  # noqa: PLC0415

    if key_files:  # verifying another rig's log must not need this machine's config
        return load_trusted_keys(key_files, None)
    config = load_config(config_path)[0]
    store = open_key_store(config.records, config.rig.rig_id)
    keys, source = load_trusted_keys((), store, config.records.key_path)
    if not keys:
        raise click.UsageError(
            "no trusted key: pass the rig's public key with --key FILE (from 'scangate keys show --pem'),"
            f" or run on the rig itself (it has no key here: {store.describe()})"
        )
    return keys, source


_LIVENESS_KINDS = {
    "synthetic_liveness": "synthetic (demo stand-in camera)",
    "liveness_off": "liveness off in the rig's configuration",
    "liveness_not_recorded": "face identified with no liveness recorded",
}


def _notice_lines(verdict: Verdict, max_per_kind: int) -> list[str]:
    """The notices, at most ``max_per_kind`` of each code (a demo log has one per record)."""
    lines: list[str] = []
    shown: Counter[str] = Counter()
    for notice in verdict.notices:
        shown[notice.code] += 1
        if shown[notice.code] <= max_per_kind:
            lines.append(f"  - {notice.message}")
    lines += [
        f"  ... and {count - max_per_kind} more {code} (use --json for all)"
        for code, count in shown.items()
        if count > max_per_kind
    ]
    return lines


def _render_verdict(verdict: Verdict, trust: str, max_per_kind: int) -> str:
    lines = [f"Log:        {verdict.log}"]
    if verdict.records:
        span = f"sequence {verdict.first_sequence}–{verdict.last_sequence}"
        rigs = ", ".join(verdict.rig_ids) or "?"
        lines.append(f"Records:    {verdict.records} in {verdict.lines} lines ({span}); rig {rigs}")
    else:
        lines.append(f"Records:    none ({verdict.lines} lines)")
    signed_by = ", ".join(f"{key} ({count})" for key, count in verdict.key_ids.items()) or "-"
    lines.append(f"Signed by:  {signed_by}")
    lines.append(f"Trusted:    {', '.join(verdict.trusted_key_ids)} — {trust}")
    if verdict.checkpoint:
        cp = verdict.checkpoint
        lines.append(
            f"Checkpoint: registry key {cp['registry_key_id']}, issued {cp['issued_at']},"
            f" record {cp['sequence']} of rig {cp['rig_id']} (signature verified)"
        )
    if verdict.last_hash:
        lines.append(f"Last hash:  {verdict.last_hash}")
    if verdict.notices:
        lines.append(f"Notices ({len(verdict.notices)}):")
        lines += _notice_lines(verdict, max_per_kind)
    liveness = verdict.liveness_flag_counts
    if liveness:
        kinds = ", ".join(f"{count} {_LIVENESS_KINDS[code]}" for code, count in liveness.items())
        lines.append(
            f"Liveness:   {sum(liveness.values())} session(s) with no evidence that a live person was"
            f" present: {kinds}"
        )
    if verdict.past_destroy_by_sessions:
        lines.append(
            f"Retention:  {verdict.past_destroy_by_sessions} session(s) with captured files whose consent's"
            f" destroy-by date is over (as of {verdict.as_of}): destroy those scans"
        )
    total = sum(verdict.problem_counts.values())
    if total:
        lines.append(f"Problems ({total}):")
        shown: defaultdict[str, int] = defaultdict(int)
        for problem in verdict.problems:
            shown[problem.code] += 1
            if shown[problem.code] <= max_per_kind:
                lines.append(f"  {problem.code}: {problem.message}")
        for code, count in verdict.problem_counts.items():
            if count > min(shown[code], max_per_kind):
                lines.append(
                    f"  ... and {count - min(shown[code], max_per_kind)} more {code} (use --json for all)"
                )
        summary = ", ".join(f"{code}: {count}" for code, count in verdict.problem_counts.items())
        lines.append(f"VERDICT: NOT INTACT — {summary}")
    else:
        lines.append("Problems:   none")
        tail_note = (
            "the tail matches the registry's checkpoint"
            if verdict.checkpoint
            else "without a registry checkpoint (--checkpoint) removal of the newest records cannot be detected"
        )
        lines.append(
            f"VERDICT: INTACT — every record is validly signed and the chain is complete; {tail_note}"
        )
    return "\n".join(lines)


@click.command("verify")
@click.argument("log_path", metavar="LOG", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Trusted rig public key (PEM, 'keys show --json' output or base64url). Repeatable."
    " Default: this rig's own key.",
)
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The registry's signed checkpoint for this rig (JSON), to detect a truncated tail.",
)
@click.option(
    "--registry-key",
    "registry_key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The registry's public key(s), to verify --checkpoint: a key file, or the saved answer of"
    " GET /v1/keys. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Processes checking records (default: one per usable CPU, for logs of 1 MB or more).",
)
@click.option("--no-schema", is_flag=True, help="Skip record schema validation (signatures and chain only).")
@click.option(
    "--max-per-kind",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Problems (and notices) listed per kind in text output.",
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Judge consents' destroy-by dates as of this date (YYYY-MM-DD; default: today, UTC).",
)
@_config_option
def verify(
    log_path: Path,
    key_files: tuple[Path, ...],
    checkpoint_path: Path | None,
    registry_key_files: tuple[Path, ...],
    as_json: bool,
    jobs: int | None,
    no_schema: bool,
    max_per_kind: int,
    as_of: datetime | None,
    config_path: Path | None,
) -> None:
    """Verify a session log: every signature, the sequence, the hash chain and a checkpoint.

    Names each problem with its line and sequence number: modified record, bad
    signature, unknown key, missing, reordered or duplicated records, broken
    chain, torn line, truncated tail (with --checkpoint). Notices (not problems)
    name captures flagged by the gate, liveness that is no evidence, and captured
    files whose consent's destroy-by date is over. Exit status: 0 intact,
    1 problems found, 2 usage error or unreadable file.
    """
    from agent.records.checkpoint import load_checkpoint  # noqa: PLC0415
    from agent.records.keys import load_public_keys_file, trusted_keys  # noqa: PLC0415
    from agent.records.verify import verify_log  # noqa: PLC0415

    if checkpoint_path is not None and not registry_key_files:
        raise click.UsageError("--checkpoint needs --registry-key (an unverified checkpoint proves nothing)")
    keys_by_id, trust = _trusted_keys(key_files, config_path)
    checkpoint = None
    if checkpoint_path is not None:
        registry_keys = trusted_keys(
            [key for path in registry_key_files for key in load_public_keys_file(path)]
        )
        checkpoint = load_checkpoint(checkpoint_path, registry_keys)
    verdict = verify_log(
        log_path,
        keys_by_id,
        checkpoint=checkpoint,
        jobs=jobs,
        check_schema=not no_schema,
        as_of=as_of.date() if as_of is not None else None,
        start_method="fork",  # the command line runs no other thread: forked workers start at once
    )
    if as_json:
        click.echo(json.dumps({**verdict.to_dict(), "trust": trust}, indent=2))
    else:
        click.echo(_render_verdict(verdict, trust, max_per_kind))
    if not verdict.intact:
        total = sum(verdict.problem_counts.values())
        summary = ", ".join(f"{code}: {count}" for code, count in verdict.problem_counts.items())
        raise LogNotIntactError(f"the log is not intact: {total} problem(s) ({summary})", where=str(log_path))


# -- receipt ----------------------------------------------------------------------------------------------


def _find_record(log_path: Path, sequence: int | None, record_id: str | None) -> dict[str, Any]:
    from agent.records.log import read_last_record, read_records  # noqa: PLC0415

    if sequence is None and record_id is None:
        last = read_last_record(log_path)
        if last is None:
            raise RecordNotFoundError("the log holds no record", where=str(log_path))
        return last
    for record in read_records(log_path):
        if (sequence is not None and record.get("sequence") == sequence) or (
            record_id is not None and record.get("record_id") == record_id
        ):
            return record
    wanted = f"sequence {sequence}" if sequence is not None else f"record id {record_id}"
    raise RecordNotFoundError(f"no record with {wanted}", where=str(log_path))


@click.command("receipt")
@click.argument("log_path", metavar="LOG", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option(
    "--sequence", type=click.IntRange(min=1), help="The record's sequence number (default: the last)."
)
@click.option("--record-id", help="The record's id.")
@click.option(
    "--png", "png_path", type=click.Path(path_type=Path, dir_okay=False), help="Also write a QR image."
)
@click.option("--save", is_flag=True, help="Also write the QR image into [records] receipts_dir.")
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Public key to check the record with (default: this rig's own key).",
)
@_config_option
def receipt(
    log_path: Path | None,
    sequence: int | None,
    record_id: str | None,
    png_path: Path | None,
    save: bool,
    key_files: tuple[Path, ...],
    config_path: Path | None,
) -> None:
    """Print a performer's receipt for a session record (and optionally a QR code PNG).

    The record's signature is checked first: no receipt is issued for a record
    that does not verify. LOG defaults to the configured session log.
    """
    from agent.records.receipt import make_receipt, write_receipt_png  # noqa: PLC0415
    from agent.signing import SignatureError, verify_embedded  # noqa: PLC0415

    if sequence is not None and record_id is not None:
        raise click.UsageError("choose one of --sequence and --record-id")
    settings = load_config(config_path)[0].records
    if log_path is None:
        log_path = settings.log_path
    keys_by_id: dict[str, Ed25519PublicKey] = _trusted_keys(key_files, config_path)[0]
    record = _find_record(log_path, sequence, record_id)
    try:
        verify_embedded(record, keys_by_id)
    except SignatureError as exc:
        raise UnverifiedRecordError(
            f"record {record.get('sequence')} does not verify: {exc.what}",
            where=str(log_path),
            hint="run 'scangate verify' on the log",
        ) from None
    summary = make_receipt(record)
    click.echo(summary.text(), nl=False)
    if save and png_path is None:
        png_path = settings.receipts_dir / f"receipt-{summary.rig_id}-{summary.sequence}.png"
    if png_path is not None:
        write_receipt_png(summary, png_path)
        click.echo(f"QR receipt written to {png_path}", err=True)


# -- outbox -----------------------------------------------------------------------------------------------


@click.command("outbox")
@click.option("--requeue-rejected", is_flag=True, help="Queue records the registry rejected again.")
@click.option("--send", is_flag=True, help="Try to upload due records now (needs [records.upload]).")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@_config_option
def outbox(requeue_rejected: bool, send: bool, as_json: bool, config_path: Path | None) -> None:
    """Show the upload outbox: pending, delivered and rejected records (with reasons)."""
    from agent.records.outbox import Outbox  # noqa: PLC0415
    from agent.records.recorder import http_uploader_from_settings  # noqa: PLC0415

    config, _ = load_config(config_path)
    settings = config.records
    if not (send or requeue_rejected) and not settings.outbox_path.exists():
        _echo_no_outbox(settings.outbox_path, settings.log_path, as_json)
        return
    with Outbox(settings.outbox_path) as box:
        added = box.catch_up(settings.log_path) if settings.log_path.is_file() else 0
        requeued = box.requeue_rejected() if requeue_rejected else 0
        round_ = None
        if send:
            uploader = http_uploader_from_settings(settings.upload)
            try:
                round_ = box.deliver_due(uploader)
            finally:
                uploader.close()
        counts = box.counts()
        rejected = box.entries("rejected")
        head = box.entries("pending", limit=1)
    state = {
        "outbox": str(settings.outbox_path),
        "exists": True,
        "queued_from_log": added,
        "requeued": requeued,
        "pending": counts.pending,
        "delivered": counts.delivered,
        "rejected": counts.rejected,
        "next": vars(head[0]) if head else None,
        "rejected_records": [vars(entry) for entry in rejected],
        "round": vars(round_) if round_ is not None else None,
    }
    if as_json:
        click.echo(json.dumps(state, indent=2))
        return
    click.echo(
        f"outbox {state['outbox']}: {counts.pending} pending, {counts.delivered} delivered, {counts.rejected} rejected"
    )
    if head:
        entry = head[0]
        click.echo(
            f"next: record {entry.sequence}, {entry.attempts} failed attempt(s); last error: {entry.last_error or '-'}"
        )
    for entry in rejected:
        click.echo(f"rejected: record {entry.sequence} ({entry.record_hash[:16]}…): {entry.last_error}")
    if round_ is not None:
        click.echo(
            f"sent now: {round_.delivered} stored, {round_.duplicates} already held, {round_.rejected} rejected"
            + (f"; waiting: {round_.last_error}" if round_.last_error else "")
        )


def _echo_no_outbox(outbox_path: Path, log_path: Path, as_json: bool) -> None:
    """Showing the outbox must not create it: say there is none yet."""
    logged = log_path.is_file()
    note = (
        "not created yet; the log has records, which the rig (or 'scangate outbox --send') queues"
        if logged
        else "not created yet; the rig creates it when it records its first session"
    )
    if as_json:
        state = {
            "outbox": str(outbox_path),
            "exists": False,
            "note": note,
            "queued_from_log": 0,
            "requeued": 0,
        }
        counts: dict[str, object] = {
            "pending": 0,
            "delivered": 0,
            "rejected": 0,
            "next": None,
            "rejected_records": [],
        }
        click.echo(json.dumps({**state, **counts, "round": None}, indent=2))
    else:
        click.echo(f"outbox {outbox_path}: {note}")
