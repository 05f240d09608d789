"""Settings of session records (the ``[records]`` table): log, rig key, upload outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field

from agent.settings_base import ConfigPath, StrictModel


def _data_dir() -> Path:
    # same folder as agent.config.default_data_dir (not imported: agent.config imports this module)
    return Path(platformdirs.user_data_dir("scangate", appauthor=False))


class RecordUploadSettings(StrictModel):
    """Uploading signed records to the registry through the durable outbox."""

    enabled: bool = Field(False, description="Upload records to the registry (they are always kept locally).")
    url: str | None = Field(
        None,
        description="Registry base URL, e.g. 'https://registry.example:8443'; records go to"
        " <url>/v1/session-records. Unset: the consent registry's URL.",
    )
    token_env: str = Field(
        "SCANGATE_REGISTRY_TOKEN",
        min_length=1,
        description="Environment variable holding the rig's bearer token (tokens never go in config files).",
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="Seconds to wait for the registry's answer.")
    initial_backoff_s: float = Field(
        2.0, gt=0, description="First wait after a failed upload; doubles per failure (with jitter)."
    )
    max_backoff_s: float = Field(300.0, gt=0, description="Longest wait between upload attempts.")
    ca_bundle: ConfigPath | None = Field(
        None,
        description="CA certificate bundle to verify the registry's TLS certificate (unset: system CAs).",
    )


class RecordSettings(StrictModel):
    """Where the signed session log, the rig key and the upload outbox live."""

    log_path: ConfigPath = Field(
        default_factory=lambda: _data_dir() / "records" / "session-log.jsonl",
        description="The append-only session log (JSON Lines, one signed record per line).",
    )
    key_store: Literal["auto", "keyring", "file"] = Field(
        "auto",
        description="Where the rig's private key lives: 'keyring' (the OS keyring: Secret Service,"
        " Windows Credential Manager, macOS Keychain), 'file' (key_path, mode 0600 in a 0700 folder) or"
        " 'auto' (an existing key file; else the OS keyring when a secure one is available; else the file).",
    )
    keyring_service: str = Field(
        "scangate",
        min_length=1,
        max_length=64,
        description="Service name of the rig key's OS keyring entry (the entry's user name is the rig id).",
    )
    key_path: ConfigPath = Field(
        default_factory=lambda: _data_dir() / "keys" / "rig-ed25519.pem",
        description="The rig's Ed25519 private key file (PEM, mode 0600; created on first use) when the"
        " key lives in a file; beside it, <key_path>.retired.json lists the public keys rotated away.",
    )
    outbox_path: ConfigPath = Field(
        default_factory=lambda: _data_dir() / "records" / "outbox.sqlite3",
        description="SQLite database of records waiting to be uploaded.",
    )
    receipts_dir: ConfigPath = Field(
        default_factory=lambda: _data_dir() / "receipts",
        description="Folder for performer receipts (QR code images).",
    )
    upload: RecordUploadSettings = Field(
        default_factory=RecordUploadSettings, description="Upload to the registry."
    )
