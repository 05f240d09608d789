"""ScanGate configuration: TOML files loaded into strict pydantic models.

A config file is found, in order, at the path given on the command line, at
``$SCANGATE_CONFIG``, or at ``scangate.toml`` in the platform's user config
directory (platformdirs). With none of these, the built-in defaults apply.
Every error names the file, the key and the problem.
"""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import platformdirs
from pydantic import BaseModel, Field, ValidationError

from agent.camera.settings import CameraSettings
from agent.errors import ConfigError
from agent.faces.sealing import DEFAULT_PASSPHRASE_ENV
from agent.faces.settings import IdentificationSettings
from agent.gate.settings import GateSettings
from agent.liveness.settings import LivenessSettings
from agent.records.settings import RecordSettings
from agent.registry_client.settings import RegistrySettings
from agent.session.settings import SessionSettings
from agent.settings_base import ConfigPath, StrictModel

APP_NAME = "scangate"
CONFIG_ENV_VAR = "SCANGATE_CONFIG"
CONFIG_FILE_NAME = "scangate.toml"


def default_data_dir() -> Path:
    """The platform's per-user data directory for ScanGate (keys, logs, templates)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class RigSettings(StrictModel):
    """Who this rig is and which production it serves."""

    rig_id: str = Field(
        "rig-1",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Stable identifier of this rig, as registered with the consent registry.",
    )
    name: str = Field("Scanning rig", min_length=1, description="Human-readable rig name shown on screens.")
    production_id: str = Field(
        "demo-production",
        min_length=1,
        description="The production this rig captures for; consents for any other production are refused.",
    )


class TemplateStoreSettings(StrictModel):
    """Where the local (embedded) face template store lives, and where its passphrase comes from."""

    store_dir: ConfigPath = Field(
        default_factory=lambda: default_data_dir() / "templates",
        description="Folder of the local template store (used when no registry supplies the roster).",
    )
    passphrase_env: str = Field(
        DEFAULT_PASSPHRASE_ENV,
        min_length=1,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable holding the passphrase the template store is"
        " encrypted under (AES-256-GCM, key derived with scrypt; at least 12 characters). The"
        " passphrase itself is never written in the configuration. Without it the store is neither"
        " read nor written (enrol and identify ask for it on a terminal); a rig without it has no"
        " roster, so capture stays locked.",
    )


class ScreenSettings(StrictModel):
    """Which display is the performer's touchscreen (``scangate run`` and the kiosk service)."""

    performer_output: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f]+$",
        description="Name of the display output the performer's touchscreen is connected to, as the"
        ' windowing system names it (X11: `xrandr --listmonitors`, e.g. "HDMI-2"). The performer'
        " screen goes full-screen there and the console on another screen. When that output is not"
        " connected the performer screen is not shown (nobody can confirm, so capture stays locked)"
        " and the console says so, naming the outputs it found. Unset: the first screen that is not"
        " the primary one, if any; with a single screen the performer screen is an ordinary window.",
    )


class ScanGateConfig(StrictModel):
    """The whole ScanGate configuration (one TOML file)."""

    rig: RigSettings = Field(default_factory=RigSettings, description="Rig identity.")
    camera: CameraSettings = Field(default_factory=CameraSettings, description="Rig camera.")
    identification: IdentificationSettings = Field(
        default_factory=IdentificationSettings, description="Face identification."
    )
    templates: TemplateStoreSettings = Field(
        default_factory=TemplateStoreSettings, description="Local face template store."
    )
    gate: GateSettings = Field(
        default_factory=GateSettings, description="Capture gate (interlock) and its lease."
    )
    records: RecordSettings = Field(
        default_factory=RecordSettings, description="Signed session records: log, rig key, upload outbox."
    )
    liveness: LivenessSettings = Field(
        default_factory=LivenessSettings,
        description="Liveness: the challenge a face-identified performer passes before the terms are shown.",
    )
    session: SessionSettings = Field(
        default_factory=SessionSettings, description="Session engine: when capture re-locks by itself."
    )
    registry: RegistrySettings = Field(
        default_factory=RegistrySettings,
        description="Consent registry: address, token, pinned keys, timeouts, offline copy.",
    )
    screens: ScreenSettings = Field(
        default_factory=ScreenSettings, description="Displays: which one is the performer's touchscreen."
    )


def user_config_path() -> Path:
    """Where ScanGate looks for a config file when none is given."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILE_NAME


def find_config_path(explicit: Path | None = None) -> Path | None:
    """The config file to use: explicit path, then $SCANGATE_CONFIG, then the user config dir."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env)
    candidate = user_config_path()
    return candidate if candidate.is_file() else None


@functools.cache
def _union_tags() -> frozenset[str]:
    """Values of every ``kind`` discriminator in the config models.

    Pydantic puts the chosen tag of a discriminated union into an error's
    location (``camera.source.video.path``); it is not a key the user wrote.
    """
    tags: set[str] = set()
    seen: set[type[BaseModel]] = set()
    pending: list[Any] = [ScanGateConfig]
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                continue
            seen.add(annotation)
            for name, field in annotation.model_fields.items():
                if name == "kind" and get_origin(field.annotation) is Literal:
                    tags.update(str(arg) for arg in get_args(field.annotation))
                pending.append(field.annotation)
        else:
            pending.extend(get_args(annotation))
    return frozenset(tags)


REMOVED_KEYS: dict[str, str] = {
    "registry.cache_roster": "this option was removed: registry rosters hold face templates (biometric"
    " data) and now stay in memory only, never on disk (it wrote them unencrypted); delete the line."
    " A roster saved by an older version is deleted when the rig starts",
}
"""Keys that existed once, by location, with why they went and what to do (instead of 'unknown key')."""


def _format_location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in _union_tags():
            continue
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def parse_config(text: str, *, source: str, config_dir: Path | None) -> ScanGateConfig:
    """Parse TOML text into a validated :class:`ScanGateConfig`.

    Raises:
        ConfigError: naming ``source``, the key and the problem, for TOML syntax
            errors and for every invalid or unknown key.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"not valid TOML: {exc}", where=source, hint="fix the syntax at the line and column given"
        ) from None
    try:
        return ScanGateConfig.model_validate(data, context={"config_dir": config_dir})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = _format_location(err["loc"])
            message = REMOVED_KEYS.get(key) if err["type"] == "extra_forbidden" else None
            problems.append(f"key '{key}': {message or _toml_words(err)}")
        plural = "s" if len(problems) > 1 else ""
        raise ConfigError(
            f"invalid configuration ({len(problems)} problem{plural}):\n  - " + "\n  - ".join(problems),
            where=source,
        ) from None


_EXPECTED = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text in quotes",
    "list_type": 'must be a list (e.g. ["a", "b"])',
    "tuple_type": 'must be a list (e.g. ["a", "b"])',
    "set_type": 'must be a list (e.g. ["a", "b"])',
    "dict_type": "must be a [section] table",
    "model_type": "must be a [section] table",
    "model_attributes_type": "must be a [section] table",
}


def _toml_value(value: object) -> str:
    """How a TOML value looks to the person who wrote it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"{value!r}"


def _toml_words(err: Any) -> str:
    """A pydantic error said in the words of someone editing a TOML file."""
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against config/scangate.default.toml)"
    if kind == "missing":
        return "is required"
    if kind in _EXPECTED:
        return f"{_EXPECTED[kind]}, not {_toml_value(err.get('input'))}"
    message = str(err["msg"]).removeprefix("Value error, ")
    return message.replace("Input should be", "must be").replace("valid tuple", "list")


def load_config(path: Path | None = None) -> tuple[ScanGateConfig, Path | None]:
    """Load the config from ``path`` (or the usual places); defaults when none exists.

    Returns:
        The validated config and the file it came from (None for built-in defaults).
    """
    found = find_config_path(path)
    if found is None:
        return ScanGateConfig(), None
    try:
        text = found.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found",
            where=str(found),
            hint="check the path, or run without one to use defaults",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", where=str(found)) from None
    return parse_config(text, source=str(found), config_dir=found.resolve().parent), found
