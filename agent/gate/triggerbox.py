"""ESPER TriggerBox backend: the box's shutter outputs are enabled only while unlocked.

Serial protocol (ESPER "Serial Instruction Set", firmware 1.2+): 115200 baud,
ASCII commands each ended by ``\\n``. ``s000000`` sets the shutter enable
array (one digit per output), ``f000000`` the focus enable array, ``F0``
de-asserts focus, ``S`` fires the enabled shutters, ``G`` prints
``ShutterArray:[EN DIS ...]``, ``O`` saves the settings to EEPROM. Commands
that print no data answer ``tenFour``; ``S`` answers nothing. Every command
string is configurable (see :class:`~agent.gate.settings.TriggerBoxGateSettings`).

Lock disables every shutter and focus output and then reads the shutter array
back to confirm; unlock enables ``enable_mask`` and confirms. Because the
mask also gates the box's own trigger input, a locked box ignores a hand-held
or linked trigger as well. At start the locked state is saved to EEPROM, so a
box that loses power comes back locked. The health check re-reads the array:
a changed mask or a lost port faults and locks the gate.

The box has no timer of its own: if the agent process dies or freezes, the
lease guardian process (:mod:`agent.gate.guardian`) sends the lock; see docs/gate.md.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import serial

from agent.gate.base import START_REASON, CaptureGate
from agent.gate.errors import GateFaultError
from agent.gate.models import CaptureEvent
from agent.gate.settings import TriggerBoxGateSettings
from agent.gate.token import CaptureToken

log = logging.getLogger(__name__)

_ARRAY_LINE = re.compile(r"ShutterArray:\s*\[(?P<items>[^\]]*)\]")


class TriggerBoxGate(CaptureGate):
    """A gate whose peer is an ESPER TriggerBox on a serial port (or any pyserial URL)."""

    backend_name: ClassVar[str] = "triggerbox"

    def __init__(self, settings: TriggerBoxGateSettings, **kwargs: Any) -> None:
        """Args: the ``[gate.backend]`` settings and :class:`CaptureGate` options."""
        super().__init__(**kwargs)
        self._settings = settings
        self._port: serial.SerialBase | None = None
        self._expected_mask = "0" * settings.outputs

    # -- hooks -----------------------------------------------------------------

    def _peer_open(self) -> None:
        try:
            self._port = serial.serial_for_url(
                self._settings.port,
                baudrate=self._settings.baudrate,
                timeout=self._settings.reply_timeout_s,
                write_timeout=self._settings.reply_timeout_s,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise GateFaultError(
                f"cannot open TriggerBox port {self._settings.port}: {exc}",
                hint="check the USB cable, the port name and that no other program holds the port",
            ) from None

    def _peer_lock(self, reason: str) -> None:
        closed = "0" * self._settings.outputs
        self._expected_mask = closed
        self._command(self._settings.shutter_command.format(mask=closed))
        if self._settings.focus_command:
            self._command(self._settings.focus_command.format(mask=closed))
        if self._settings.focus_release_command:
            self._command(self._settings.focus_release_command)
        self._verify(closed)
        if reason == START_REASON and self._settings.persist_command:
            self._command(self._settings.persist_command)

    def _peer_unlock(self, token: CaptureToken) -> None:
        mask = self._settings.enable_mask
        if self._settings.focus_command:
            self._command(self._settings.focus_command.format(mask=mask))
        self._expected_mask = mask
        self._command(self._settings.shutter_command.format(mask=mask))
        self._verify(mask)

    def _peer_poll(self) -> None:
        self._verify(self._expected_mask)

    def _peer_capture(self, capture_type: str) -> list[CaptureEvent]:
        return self._fire(
            capture_type,
            lambda: self._write(self._settings.fire_command),
            camera_id=f"triggerbox:{self._settings.enable_mask}",
        )

    def _peer_close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()

    # -- serial I/O ------------------------------------------------------------

    def _require_port(self) -> serial.SerialBase:
        if self._port is None or not self._port.is_open:
            raise GateFaultError(f"TriggerBox port {self._settings.port} is not open")
        return self._port

    def _write(self, command: str) -> None:
        port = self._require_port()
        try:
            port.reset_input_buffer()
            port.write(command.encode("ascii") + b"\n")
            port.flush()
        except (serial.SerialException, OSError) as exc:
            raise GateFaultError(
                f"TriggerBox port {self._settings.port} lost while sending {command!r}: {exc}",
                hint="reconnect the TriggerBox; ScanGate stays locked until then",
            ) from None

    def _read_line(self) -> str | None:
        port = self._require_port()
        try:
            raw: bytes = port.readline()
        except (serial.SerialException, OSError) as exc:
            raise GateFaultError(
                f"TriggerBox port {self._settings.port} lost while reading: {exc}",
                hint="reconnect the TriggerBox; ScanGate stays locked until then",
            ) from None
        if not raw:
            return None
        return raw.decode("ascii", errors="replace").strip()

    def _await(self, command: str, accept: re.Pattern[str] | str) -> str:
        """Read lines until one matches ``accept``; GateFaultError after the reply timeout."""
        deadline = self._clock.monotonic() + self._settings.reply_timeout_s
        while self._clock.monotonic() < deadline:
            line = self._read_line()
            if line is None:
                continue
            if isinstance(accept, str) and line == accept:
                return line
            if isinstance(accept, re.Pattern) and accept.search(line):
                return line
            log.debug("TriggerBox said %r while waiting for the reply to %r", line, command)
        raise GateFaultError(
            f"TriggerBox on {self._settings.port} did not answer {command!r} within"
            f" {self._settings.reply_timeout_s:g} s",
            hint="check that the box is in blue (serial) mode and the baud rate is right",
        )

    def _command(self, command: str) -> None:
        self._write(command)
        if self._settings.ack:
            self._await(command, self._settings.ack)

    def _verify(self, mask: str) -> None:
        query = self._settings.query_shutter_command
        if not query:
            return
        self._write(query)
        line = self._await(query, _ARRAY_LINE)
        match = _ARRAY_LINE.search(line)
        assert match is not None
        reported = "".join("1" if item == "EN" else "0" for item in match.group("items").split())
        if reported != mask:
            state = "enabled" if "1" in reported else "disabled"
            raise GateFaultError(
                f"TriggerBox reports shutter outputs {reported!r} ({state}), expected {mask!r}",
                hint="another program may have changed the box; ScanGate locks and stays locked",
            )
