"""Settings of the capture gate (the ``[gate]`` table).

``[gate.backend]`` chooses the backend by ``kind``; each kind has its own keys.
The lease keys apply to every backend.
"""

from __future__ import annotations

import ipaddress
import re
import string
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, field_validator, model_validator

from agent.settings_base import ConfigPath, StrictModel

COMMAND_PLACEHOLDERS = frozenset(
    {
        "session_id",
        "session_dir",
        "capture_root",
        "capture_type",
        "token_id",
        "performer_id",
        "production_id",
        "reason",
    }
)
"""Names usable as ``{name}`` in configured command lines."""


def _check_placeholders(text: str, known: frozenset[str]) -> str:
    """``text`` when every ``{name}`` in it is one of ``known``; ValueError naming the problem."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValueError(f"bad placeholder in {text!r}: {exc} (write {{{{ and }}}} for braces)") from None
    unknown = names - known
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in {text!r}; known: {sorted(known)}")
    return text


def _default_capture_root() -> Path:
    return Path(platformdirs.user_data_dir("scangate", appauthor=False)) / "captures"


def _default_token_file() -> Path:
    return Path(platformdirs.user_data_dir("scangate", appauthor=False)) / "gate-api.token"


class BuiltinGateSettings(StrictModel):
    """Built-in still capture: ScanGate writes rig camera frames into the session folder."""

    kind: Literal["builtin"] = Field("builtin", description="Backend kind: built-in OpenCV still capture.")
    image_format: Literal["png", "jpeg"] = Field("png", description="File format of captured stills.")
    jpeg_quality: int = Field(95, ge=50, le=100, description="JPEG quality (only for image_format = 'jpeg').")


Argv = Annotated[list[str], Field(min_length=1)]


class CommandGateSettings(StrictModel):
    """Configured programs lock, unlock and capture (e.g. gphoto2). Run directly, never through a shell."""

    kind: Literal["command"] = Field(description="Backend kind: configured commands.")
    unlock_command: Argv | None = Field(
        None, description="Program and arguments that arm the rig (None: nothing to run)."
    )
    lock_command: Argv | None = Field(
        None,
        description="Program and arguments that disarm the rig. Without one, only captures made through"
        " capture_command are gated.",
    )
    capture_command: Argv | None = Field(
        None,
        description="Program and arguments that capture, e.g. ['gphoto2', '--capture-image-and-download'].",
    )
    status_command: Argv | None = Field(
        None, description="Optional health check run every health_check_interval_s; non-zero exit = fault."
    )
    command_timeout_s: float = Field(
        5.0, gt=0, le=120, description="Time limit for unlock/lock/status commands."
    )
    capture_timeout_s: float = Field(60.0, gt=0, le=3600, description="Time limit for the capture command.")
    discovery: Literal["stdout", "folder", "none"] = Field(
        "stdout",
        description="How captured files are found: 'stdout' (paths printed by the capture command),"
        " 'folder' (new files in watch_dir) or 'none'.",
    )
    stdout_path_pattern: str = Field(
        r"^(?:Saving file as\s+)?(?P<path>\S.*?)\s*$",
        description="Regular expression applied to each stdout line; group 'path' names a file (lines"
        " naming no existing file are ignored). The default also understands gphoto2's 'Saving file as X'.",
    )
    watch_dir: ConfigPath | None = Field(
        None, description="Folder watched by discovery = 'folder' (default: the session folder)."
    )

    @field_validator("unlock_command", "lock_command", "capture_command", "status_command")
    @classmethod
    def _known_placeholders(cls, argv: list[str] | None) -> list[str] | None:
        for arg in argv or []:
            _check_placeholders(arg, COMMAND_PLACEHOLDERS)
        return argv

    @field_validator("stdout_path_pattern")
    @classmethod
    def _pattern_has_path_group(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if "path" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group 'path', e.g. (?P<path>.+)")
        return value


class TriggerBoxGateSettings(StrictModel):
    """ESPER TriggerBox on a USB serial port: shutter outputs enabled only while unlocked."""

    kind: Literal["triggerbox"] = Field(description="Backend kind: ESPER TriggerBox over serial.")
    port: str = Field(
        min_length=1,
        description="Serial port or pyserial URL: '/dev/ttyUSB0', 'COM3', or 'loop://' for a dry run.",
    )
    baudrate: int = Field(115200, gt=0, description="Serial speed; TriggerBox firmware 1.2+ uses 115200.")
    outputs: int = Field(6, ge=1, le=32, description="Number of camera outputs on the box.")
    enable_mask: str = Field(
        "111111",
        pattern=r"^[01]+$",
        description="Which outputs are enabled while unlocked ('1' = enabled), one digit per output.",
    )
    shutter_command: str = Field("s{mask}", description="Sets the shutter enable array; {mask} is filled in.")
    focus_command: str | None = Field(
        "f{mask}", description="Sets the focus enable array (None: focus outputs left alone)."
    )
    focus_release_command: str | None = Field(
        "F0", description="De-asserts the focus outputs on lock (None: not sent)."
    )
    fire_command: str = Field(
        "S", description="Fires the enabled shutters (the box sends no acknowledgement)."
    )
    query_shutter_command: str | None = Field(
        "G",
        description="Asks for the shutter array ('ShutterArray:[EN DIS ...]') to verify lock/unlock and on"
        " every health check (None: no verification).",
    )
    persist_command: str | None = Field(
        "O",
        description="Saves the box settings to EEPROM right after the start-up lock, so a power cycle"
        " brings the box back locked (None: not sent).",
    )
    ack: str | None = Field(
        "tenFour", description="Acknowledgement line the box prints after each command (None: do not wait)."
    )
    reply_timeout_s: float = Field(
        0.5, gt=0, le=10, description="How long to wait for an acknowledgement or reply."
    )

    @field_validator("shutter_command", "focus_command")
    @classmethod
    def _mask_placeholder_only(cls, command: str | None) -> str | None:
        # A typo here would make the lock itself impossible to send, leaving the box as it is.
        return None if command is None else _check_placeholders(command, frozenset({"mask"}))

    @model_validator(mode="after")
    def _mask_matches_outputs(self) -> TriggerBoxGateSettings:
        if len(self.enable_mask) != self.outputs:
            raise ValueError(f"enable_mask must have {self.outputs} digits (one per output)")
        if "1" not in self.enable_mask:
            raise ValueError("enable_mask enables no output; unlocking would do nothing")
        return self


class SmartShooterGateSettings(StrictModel):
    """Smart Shooter External API (ZeroMQ + JSON)."""

    kind: Literal["smartshooter"] = Field(description="Backend kind: Smart Shooter External API.")
    request_endpoint: str = Field(
        "tcp://127.0.0.1:54544", description="ZeroMQ REQ/REP endpoint of Smart Shooter's request server."
    )
    event_endpoint: str = Field(
        "tcp://127.0.0.1:54543", description="ZeroMQ PUB endpoint of Smart Shooter's event publisher."
    )
    request_timeout_s: float = Field(2.0, gt=0, le=60, description="How long to wait for a reply.")
    camera_selection: Literal["All", "Single", "Multiple", "Group"] = Field(
        "All", description="Which cameras the gate connects, disconnects and shoots."
    )
    camera_keys: list[str] = Field(
        default_factory=list, description="CameraKey (Single: exactly one) or CameraKeys (Multiple)."
    )
    camera_group: str | None = Field(None, description="CameraGroup for camera_selection = 'Group'.")
    lock_mode: Literal["disconnect", "refuse_only"] = Field(
        "disconnect",
        description="'disconnect': lock disconnects the cameras in Smart Shooter and unlock connects them;"
        " 'refuse_only': the gate only refuses to send Shoot (Smart Shooter itself can still shoot).",
    )

    @model_validator(mode="after")
    def _selection_complete(self) -> SmartShooterGateSettings:
        if self.camera_selection == "Single" and len(self.camera_keys) != 1:
            raise ValueError("camera_selection 'Single' needs exactly one camera_keys entry")
        if self.camera_selection == "Multiple" and not self.camera_keys:
            raise ValueError("camera_selection 'Multiple' needs camera_keys")
        if self.camera_selection == "Group" and not self.camera_group:
            raise ValueError("camera_selection 'Group' needs camera_group")
        return self


class HttpApiGateSettings(StrictModel):
    """Loopback HTTP gate API for other capture software (asks before capturing, reports files)."""

    kind: Literal["http_api"] = Field(description="Backend kind: loopback HTTP gate API.")
    host: str = Field("127.0.0.1", description="Address to listen on; only loopback addresses are accepted.")
    port: int = Field(54580, ge=0, le=65535, description="TCP port (0: any free port).")
    require_auth: bool = Field(
        True,
        description="Require 'Authorization: Bearer <token>', the token being read from auth_token_file.",
    )
    auth_token_file: ConfigPath = Field(
        default_factory=_default_token_file,
        description="File holding the bearer token (created with a random token and 0600 permissions if missing).",
    )

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        host = "127.0.0.1" if value == "localhost" else value
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError("host must be a loopback IP address such as 127.0.0.1 or ::1") from None
        if not address.is_loopback:
            raise ValueError("the gate API only listens on loopback (127.0.0.1 or ::1)")
        return host


GateBackendSettings = Annotated[
    BuiltinGateSettings
    | CommandGateSettings
    | TriggerBoxGateSettings
    | SmartShooterGateSettings
    | HttpApiGateSettings,
    Field(discriminator="kind"),
]


class GateSettings(StrictModel):
    """The capture gate: which backend, the lease, and where captures go."""

    backend: GateBackendSettings = Field(
        default_factory=BuiltinGateSettings,
        description="Which backend: kind = 'builtin', 'command', 'triggerbox', 'smartshooter' or 'http_api'.",
    )
    lease_seconds: float = Field(
        1.5,
        ge=0.2,
        le=30,
        description="An unlock lapses (and the gate locks itself) this long after the last renewal.",
    )
    renew_interval_seconds: float = Field(
        0.5, gt=0, description="How often the session engine renews the lease; well below lease_seconds."
    )
    capture_root: ConfigPath = Field(
        default_factory=_default_capture_root,
        description="Captures go to <capture_root>/<session_id>/, quarantined ones to .../quarantine/.",
    )
    capture_dirs: list[ConfigPath] = Field(
        default_factory=list,
        description="Further folders (e.g. Smart Shooter's download folder) from which out-of-window files"
        " are moved into quarantine; flagged files elsewhere are reported but not moved.",
    )
    arrival_grace_seconds: float = Field(
        2.0,
        ge=0,
        le=30,
        description="Photos reported by a peer this long after the gate locked still count as inside the"
        " window (they were downloading). 0 is strictest.",
    )
    health_check_interval_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often the gate's peer is checked (port present, still locked, ...).",
    )
    guardian: bool = Field(
        True,
        description="Run a lease guardian process that locks the rig if the agent process dies or freezes"
        " (command, triggerbox and smartshooter backends; the others cannot outlive the agent).",
    )
    guardian_margin_seconds: float = Field(
        0.15,
        ge=0.05,
        le=10,
        description="The guardian acts this long after the lease deadline, leaving the agent's own"
        " watchdog the first move.",
    )

    @model_validator(mode="after")
    def _renew_well_within_lease(self) -> GateSettings:
        if self.renew_interval_seconds * 2 > self.lease_seconds:
            raise ValueError(
                "renew_interval_seconds must be at most half of lease_seconds, so one late renewal"
                " does not lock the gate"
            )
        return self
