"""``scangate keys init | show | rotate``: the rig's signing key (docs/security.md, "Rig key storage").

``show`` never creates anything; ``init`` creates the key in the configured store
(or moves a key file into the OS keyring with ``--import-file``); ``rotate`` runs
the recoverable rotation procedure of :mod:`agent.records.key_rotation`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.config import load_config

if TYPE_CHECKING:
    from agent.config import ScanGateConfig
    from agent.records.key_store import RigKeyStore
    from agent.records.keys import RigKey

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: the usual places); used for the rig id and [records] paths.",
)
_pem_option = click.option("--pem", "as_pem", is_flag=True, help="Print only the public key as PEM.")
_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print rig id, key id, public key and key store as JSON."
)


@click.group("keys")
def keys() -> None:
    """The rig's Ed25519 signing key: create it once (init), show its public half, rotate it."""


def _store(config: ScanGateConfig) -> RigKeyStore:
    from agent.records.key_store import open_key_store  # noqa: PLC0415

    return open_key_store(config.records, config.rig.rig_id)


@keys.command("init")
@click.option(
    "--import-file",
    is_flag=True,
    help="Move the existing key file ([records] key_path) into the OS keyring instead of creating a key.",
)
@_pem_option
@_json_option
@_config_option
def keys_init(import_file: bool, as_pem: bool, as_json: bool, config_path: Path | None) -> None:
    """Create the rig's signing key in its key store; refuses to replace an existing key.

    The store is [records] key_store: the OS keyring, or key_path (mode 0600). Then
    prints the key like 'keys show'. (A rig that starts recording without a key
    creates one itself, saying so in its log.)
    """
    from agent.records.keys import create_key_in  # noqa: PLC0415

    if as_pem and as_json:
        raise click.UsageError("choose one of --pem and --json")
    config, _ = load_config(config_path)
    if import_file:
        store, rig_key = _import_file(config)
        message = f"moved the rig key {rig_key.key_id} from {config.records.key_path} into {store.describe()}"
    else:
        store = _store(config)
        rig_key = create_key_in(store)
        where = f"at {rig_key.path}" if rig_key.path is not None else f"in {rig_key.location}"
        message = f"created a new rig signing key {where}"
    if not (as_pem or as_json):
        click.echo(message)
    _print_key(rig_key, config.rig.rig_id, store, as_pem=as_pem, as_json=as_json)


def _import_file(config: ScanGateConfig) -> tuple[RigKeyStore, RigKey]:
    """Copy the key file into the keyring (read back), then delete the file; safe to run again."""
    from agent.records.errors import KeyStoreError  # noqa: PLC0415
    from agent.records.key_store import FileKeyStore, keyring_store, private_key_pem  # noqa: PLC0415
    from agent.records.keys import load_key_from  # noqa: PLC0415

    files = FileKeyStore(config.records.key_path)
    key = files.read("current")
    if key is None:
        raise KeyStoreError("no rig key file to import", where=str(files.key_path))
    if files.read("next") is not None:
        raise KeyStoreError(
            "a key rotation is unfinished",
            where=files.describe("next"),
            hint="finish it first: scangate keys rotate",
        )
    target = keyring_store(config.records, config.rig.rig_id, why="--import-file: the rig key")
    existing = target.read("current")
    if existing is not None and private_key_pem(existing) != private_key_pem(key):
        raise KeyStoreError(
            "the OS keyring already holds a different key for this rig; nothing was changed",
            where=target.describe(),
            hint="keep the key that signed the rig's log; remove the other one by hand if it is not needed",
        )
    if existing is None:
        target.add("current", key)  # reads the key back before the file is deleted
    files.discard("current")
    return target, load_key_from(target)


@keys.command("show")
@_pem_option
@_json_option
@_config_option
def keys_show(as_pem: bool, as_json: bool, config_path: Path | None) -> None:
    """Print where the rig key lives, its id and public key (never the private key); never creates a key.

    Give the public key to the registry (scangate registry add-rig --public-key ...)
    and to anyone who should verify this rig's logs.
    """
    from agent.records.keys import load_key_from  # noqa: PLC0415

    if as_pem and as_json:
        raise click.UsageError("choose one of --pem and --json")
    config, _ = load_config(config_path)
    store = _store(config)
    _print_key(load_key_from(store), config.rig.rig_id, store, as_pem=as_pem, as_json=as_json)
    if not (as_pem or as_json) and store.read("next") is not None:
        click.echo(
            f"unfinished rotation:    a new key waits in {store.describe('next')}; run: scangate keys rotate"
        )


def _print_key(rig_key: RigKey, rig_id: str, store: RigKeyStore, *, as_pem: bool, as_json: bool) -> None:
    from agent.records.keys import describe_key  # noqa: PLC0415

    info = describe_key(rig_key, rig_id, store)
    if as_pem:
        click.echo(info.public_key_pem, nl=False)
    elif as_json:
        click.echo(json.dumps(info.model_dump(mode="json"), indent=2))
    else:
        click.echo(f"rig:                    {info.rig_id}")
        click.echo(f"key id:                 {info.key_id}")
        click.echo(f"public key (base64url): {info.public_key}")
        click.echo(f"private key:            {rig_key.location} (keep it secret; back it up)")
        click.echo(info.public_key_pem, nl=False)


@keys.command("rotate")
@click.option("--reason", help="Why the key is rotated (written into the signed rotation record).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@_config_option
def keys_rotate(reason: str | None, as_json: bool, config_path: Path | None) -> None:
    """Replace the rig key: new key, rotation record signed by the old key, registered, old key destroyed.

    Stop the agent first (it holds the session log). If this stops half-way (crash,
    registry down), capture stays locked and running it again finishes the rotation.
    Needs the registry ([records.upload] url or [registry] url) and the rig token.
    """
    from agent.records.key_rotation import rotate_key  # noqa: PLC0415
    from agent.records.recorder import http_uploader_from_settings  # noqa: PLC0415

    config, _ = load_config(config_path)
    store = _store(config)
    registrar = http_uploader_from_settings(config.records.upload, config.registry.url)
    try:
        result = rotate_key(config.records, config.rig.rig_id, store, registrar, reason=reason)
    finally:
        registrar.close()
    if as_json:
        click.echo(json.dumps(vars(result), indent=2))
        return
    verb = "finished the interrupted rotation" if result.resumed else "rotated the rig key"
    click.echo(f"{verb}: {result.retired_key_id} -> {result.new_key_id}")
    click.echo(
        f"rotation record:        {result.sequence} ({result.record_hash}); the old key signed records up to"
        " it and signs nothing after it"
    )
    click.echo(f"registry:               {result.registry}")
    click.echo(f"private key:            {store.describe()} (the old private key is destroyed)")
