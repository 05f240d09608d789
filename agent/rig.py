"""A whole rig assembled from configuration: the agent side of ``scangate run`` and the demo.

Builds, in an order that fails closed (records and gate first, so nothing can
unlock before evidence can be written): the rig key + signed log + upload
outbox, the capture gate (locked), the camera worker, the registry client, the
face roster (from the registry, or the local template store when no registry
is configured), the recognition worker, the session controller and the
revocation poller. Screens attach to :attr:`Rig.controller`,
:attr:`Rig.camera` and :attr:`Rig.recognition`; :meth:`Rig.health` feeds the
technician's health panel.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from agent.camera.status import CameraStatus
from agent.camera.worker import CameraWorker
from agent.config import ScanGateConfig
from agent.errors import ScanGateError
from agent.faces.roster import Roster
from agent.faces.sealing import passphrase_source
from agent.faces.store import TemplateStore
from agent.faces.subprocess_identifier import SubprocessIdentifier
from agent.gate.base import CaptureGate
from agent.gate.factory import build_gate
from agent.gate.models import SYSTEM_CLOCK, Clock, GateStatus
from agent.liveness.landmarks import MODEL_VERSION
from agent.provenance.certificates import CERTIFICATE_CACHE_NAME, CertificateSource
from agent.provenance.service import CredentialsWorker
from agent.records.outbox import OutboxCounts
from agent.records.recorder import SessionRecorder, http_uploader_from_settings
from agent.registry_client.client import RegistryClient
from agent.registry_client.lookup import ConsentLookup
from agent.registry_client.poller import PollerHealth, RevocationPoller
from agent.registry_client.roster_source import RegistryRosterSource
from agent.session.controller import ControllerSettings, SessionController
from agent.session.liveness_checks import SYNTHETIC_STEP_S, LivenessChecks
from agent.session.model import IdentificationMethod
from agent.session.ports import ConsentAnswer
from agent.session.recognition import RecognitionResult, RecognitionWorker
from agent.wire import Revocation
from agent.wire.fallback import FallbackVerifyRequest, FallbackVerifyResponse

log = logging.getLogger(__name__)
ROSTER_RETRY_S = 5.0
ROSTER_REFRESH_S = 60.0

WallClock = Callable[[], datetime]
"""The rig's wall clock (aware UTC). One is injected into every part that reads wall time."""


def system_wall_clock() -> datetime:
    """``datetime.now(UTC)``: the rig's real wall clock."""
    return datetime.now(UTC)


class _GateClock:
    """The gate's two clocks: the real monotonic clock and the rig's (injected) wall clock."""

    def __init__(self, wall: WallClock) -> None:
        self._wall = wall

    def monotonic(self) -> float:
        """``time.monotonic()`` (leases are timed on it; skewing the wall clock never touches it)."""
        return time.monotonic()

    def now(self) -> datetime:
        """The rig's wall clock."""
        return self._wall()


class FallbackRefusedError(ScanGateError):
    """The badge code and PIN were not accepted by the registry."""


class RegistryConsentService:
    """The controller's :class:`~agent.session.ports.ConsentService`: registry lookup + policy."""

    def __init__(self, lookup: ConsentLookup) -> None:
        self._lookup = lookup

    def lookup(
        self, performer_id: str, capture_types: frozenset[str], method: IdentificationMethod
    ) -> ConsentAnswer:
        """Fetch, verify and judge the performer's consent (see :class:`ConsentLookup`)."""
        result = self._lookup.check(performer_id, capture_types, method)
        return ConsentAnswer(check=result.consent_check(), record=result.consent)


class RegistryFallbackVerifier:
    """Badge/QR code + PIN, checked by the registry (the non-biometric fallback)."""

    def __init__(self, client: RegistryClient, production_id: str) -> None:
        self._client = client
        self._production_id = production_id

    def verify(self, badge_code: str, pin: str) -> tuple[str, str]:
        """(performer_id, display name) for a valid badge + PIN; raises FallbackRefusedError."""
        try:
            request = FallbackVerifyRequest(production_id=self._production_id, badge_code=badge_code, pin=pin)
        except ValueError:
            raise FallbackRefusedError(
                "the badge code or PIN is not in a valid form", hint="check the badge and type the PIN again"
            ) from None
        transport = self._client.transport
        path = "/v1/fallback/verify"
        # Each attempt is its own request: a wrong PIN must count against the badge's lockout.
        data = transport.post_json(path, request.model_dump(mode="json"), idempotency_key=uuid.uuid4().hex)
        answer = transport.validate(FallbackVerifyResponse, data, where=f"POST {transport.base_url}{path}")
        if not answer.verified or answer.performer_id is None:
            left = f" ({answer.attempts_left} attempts left)" if answer.attempts_left is not None else ""
            refusal = answer.refusal.value.replace("_", " ") if answer.refusal else "refused"
            raise FallbackRefusedError(f"badge check refused: {refusal}{left}")
        return answer.performer_id, ""  # the name comes with the consent record


@dataclass(frozen=True)
class RigHealth:
    """Health of every part the technician must trust, for the console's health panel."""

    camera: CameraStatus
    registry_ok: bool
    registry_detail: str
    roster_size: int
    gate: GateStatus
    uploads: OutboxCounts | None


class Rig:
    """All agent parts of one rig, started and stopped together."""

    def __init__(
        self,
        config: ScanGateConfig,
        *,
        recorder: SessionRecorder,
        gate: CaptureGate,
        camera: CameraWorker,
        client: RegistryClient | None,
        controller: SessionController,
        recognition: RecognitionWorker,
        poller: RevocationPoller | None,
        roster_loader: Callable[[], Roster],
        identifier: SubprocessIdentifier,
        clock: WallClock = system_wall_clock,
        liveness_method: Literal["challenge", "synthetic", "off"] = "challenge",
        credentials: CredentialsWorker | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.liveness_method = liveness_method
        """How this rig establishes liveness: 'challenge', 'synthetic' (the demo only) or 'off'."""
        self.recorder = recorder
        self.gate = gate
        self.camera = camera
        self.client = client
        self.controller = controller
        self.recognition = recognition
        self.poller = poller
        self.credentials = credentials
        """Signs consented captures with C2PA after they are journaled (docs/provenance.md)."""
        self._roster_loader = roster_loader
        self._identifier = identifier
        self._roster: Roster | None = None
        self._roster_error: str | None = None
        self._stop = threading.Event()
        self._roster_thread = threading.Thread(
            target=self._keep_roster_fresh, name="scangate-roster", daemon=True
        )

    @classmethod
    def from_config(
        cls,
        config: ScanGateConfig,
        *,
        camera: CameraWorker | None = None,
        clock: WallClock | None = None,
        synthetic_liveness: bool = False,
        synthetic_step_s: float = SYNTHETIC_STEP_S,
        identifier: SubprocessIdentifier | None = None,
    ) -> Rig:
        """Assemble (but do not start) a rig; raises ScanGateError naming what is wrong.

        Args:
            config: the rig's configuration.
            camera: a camera worker to use instead of the configured source (benchmarks).
            clock: the rig's wall clock (aware UTC), given to every part that reads wall time:
                the registry client (which measures it against the registry's signed time),
                the session controller, the gate and the frame timestamps. Default: the system
                clock. Rehearsals inject a skewed one, e.g. ``lambda: datetime.now(UTC) -
                timedelta(hours=48)``: every consent is then refused with ``clock_skew``.
                (Session-log timestamps still come from the system clock.)
            synthetic_liveness: the demo's stand-in camera cannot do a challenge: a synthetic
                one "passes" each step, labelled ``synthetic`` on the screens and in the
                record. Only code (the demo) can ask for it; no configuration can.
            synthetic_step_s: how long each synthetic step holds the identified face (the
                windowed demo's default lets a viewer read each prompt; headless rehearsals
                hold it for less).
            identifier: an identification child already started (the demo's, which computed the
                stand-in's template with it), so the face models load once. The rig owns it from
                here; one with other settings than the configuration's is closed and replaced.
        """
        wall = clock or system_wall_clock
        gate_clock: Clock = SYSTEM_CLOCK if clock is None else _GateClock(wall)
        # Until the rig owns them, parts already opened (log lock, registry session) are
        # closed again if a later part cannot be built.
        with contextlib.ExitStack() as cleanup:
            rig_id, production_id = config.rig.rig_id, config.rig.production_id
            client = RegistryClient(config.registry, clock=wall) if config.registry.url else None
            if client is not None:
                cleanup.callback(client.close)
            uploader = None
            if config.records.upload.enabled:
                fallback_url = config.registry.url
                uploader = http_uploader_from_settings(config.records.upload, fallback_url)
            recorder = SessionRecorder.open(config.records, rig_id, uploader=uploader)
            cleanup.callback(recorder.close)
            if recorder.key.created:  # once in a rig's life; 'scangate keys init' avoids it
                log.warning(
                    "this rig had no signing key: created %s in %s; register its public key with the"
                    " registry (scangate keys show --pem), which refuses records from unknown keys",
                    recorder.key.key_id,
                    recorder.key.location,
                )
            signer = recorder.key.signer
            if camera is None:
                camera = CameraWorker.from_settings(config.camera)
            worker = camera

            def latest_frame() -> np.ndarray[Any, Any] | None:
                frame = worker.latest(timeout=0)
                return None if frame is None else frame.image

            gate = build_gate(
                config.gate,
                trusted_keys={signer.key_id: signer.public_key},
                rig_id=rig_id,
                frame_provider=latest_frame,
                clock=gate_clock,
            )
            poller: RevocationPoller | None = None

            def revoked_ids() -> frozenset[str]:
                # Revocations the poller has seen (and saved) also bind lookups judged from an offline copy.
                return poller.revoked_ids() if poller is not None else frozenset()

            if client is not None:
                lookup = ConsentLookup(
                    client,
                    production_id=production_id,
                    revoked_ids=revoked_ids,
                    guardian_co_confirmation_available=True,
                )
                consent_service: Any = RegistryConsentService(lookup)
                fallback: Any = RegistryFallbackVerifier(client, production_id)
                roster_source: Any = RegistryRosterSource(client, production_id)
            else:
                consent_service = _NoRegistry()
                fallback = None
                # No prompt: a rig's passphrase comes from its environment or not at all (locked).
                roster_source = TemplateStore(
                    config.templates.store_dir,
                    passphrase=passphrase_source(config.templates.passphrase_env),
                )
            liveness_on = synthetic_liveness or config.liveness.method == "challenge"
            timing = dataclasses.replace(
                config.session.timing(),
                liveness_required=liveness_on,
                liveness_retries=config.liveness.retries,
                liveness_max_age=timedelta(seconds=config.liveness.max_age_s),
            )
            liveness = (
                LivenessChecks(
                    "synthetic" if synthetic_liveness else "challenge",
                    config.liveness.steps,
                    config.liveness.thresholds(),
                    MODEL_VERSION,
                    synthetic_step_s=synthetic_step_s,
                )
                if liveness_on
                else None
            )
            credentials = CredentialsWorker(
                rig_id=rig_id,
                sign=signer.sign_bytes,
                certificates=CertificateSource(
                    (lambda: client.rig_certificate(rig_id, signer.key_id)) if client is not None else None,
                    signer.public_key,
                    config.records.key_path.parent / CERTIFICATE_CACHE_NAME,
                    wall,
                ),
            )
            controller = SessionController(
                ControllerSettings(
                    rig_id=rig_id,
                    production_id=production_id,
                    timing=timing,
                    lease_seconds=config.gate.lease_seconds,
                    renew_interval=config.gate.renew_interval_seconds,
                    tick_interval=config.session.tick_interval_s,
                    votes_required=config.identification.votes_required,
                    journal_path=config.records.log_path.with_name(
                        config.records.log_path.name + ".open-session.json"
                    ),
                ),
                gate=gate,
                consent=consent_service,
                records=recorder,
                signer=signer,
                fallback=fallback,
                liveness=liveness,
                clock=wall,
                credentials=credentials,
            )
            # dlib holds the GIL while it works: identify in a child process so the camera,
            # the session engine and the screens never stall behind it.
            landmarks = liveness_on and not synthetic_liveness
            if identifier is not None and (
                identifier.settings != config.identification or identifier.landmarks != landmarks
            ):
                log.info("the identification process given has other settings: starting one for this rig")
                identifier.close()
                identifier = None
            if identifier is None:
                identifier = SubprocessIdentifier(config.identification, Roster(()), landmarks=landmarks)
            cleanup.callback(identifier.close)
            recognition = RecognitionWorker(
                camera,
                identifier,
                identifying=lambda: controller.session_open,
                following=lambda: controller.challenge_running,
                identified=lambda: controller.identified_performer,
                counted=lambda captured_at: controller.counts_frame(_seen_at(wall, captured_at)),
            )
            if client is not None:
                poller = RevocationPoller(
                    client,
                    on_revoked=lambda items: _each_revocation(controller, items),
                    on_key_untrusted=controller.on_key_untrusted,
                )
            rig = cls(
                config,
                recorder=recorder,
                gate=gate,
                camera=camera,
                client=client,
                controller=controller,
                recognition=recognition,
                poller=poller,
                roster_loader=roster_source.load_roster,
                identifier=identifier,
                clock=wall,
                liveness_method="synthetic"
                if synthetic_liveness
                else ("challenge" if liveness_on else "off"),
                credentials=credentials,
            )
            cleanup.pop_all()
        return rig

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start every part: gate (asserting the lock) first, recognition last."""
        self.gate.start()
        if self.credentials is not None:
            self.credentials.start()
        self.camera.start()
        self.controller.start()
        self.recognition.add_listener(self._on_recognition)
        self._load_roster_once()
        self.recognition.start()
        self._roster_thread.start()
        if self.poller is not None:
            self.poller.start()

    def wait_for_face_models(self) -> None:
        """Block until the identification child has loaded the face models (the only place they load).

        Raises:
            FaceEngineError: they could not be loaded (the rig still runs, capture stays locked).
        """
        self._identifier.wait_ready()

    def stop(self) -> None:
        """Stop everything: frames first, then the engine (which writes an open session's
        record and locks the gate), then the rest; the gate is closed last but one."""
        self._stop.set()
        steps: list[Callable[[], None]] = [
            self.recognition.stop,
            self._identifier.close,
            self.controller.stop,
        ]
        if self.credentials is not None:
            steps.append(self.credentials.close)  # after the engine: its last record waited for it
        if self.poller is not None:
            steps.append(self.poller.stop)
        steps += [self.camera.stop, self.gate.close, self.recorder.close]
        if self.client is not None:
            steps.append(self.client.close)
        for step in steps:
            try:
                step()
            except Exception:  # keep going: the gate and the log must still be closed
                log.exception("stopping %s failed", getattr(step, "__qualname__", step))

    def __enter__(self) -> Rig:
        try:
            self.start()
        except BaseException:
            self.stop()  # __exit__ does not run when __enter__ fails
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- health

    def health(self) -> RigHealth:
        """A snapshot of every part's health (any thread)."""
        registry_ok, detail = True, "no registry configured: local template store"
        if self.poller is not None:
            poll: PollerHealth = self.poller.health()
            registry_ok = poll.ok and self._roster_error is None
            detail = poll.last_error or self._roster_error or "connected"
        elif self._roster_error:
            registry_ok, detail = False, self._roster_error
        try:
            uploads: OutboxCounts | None = self.recorder.outbox.counts()
        except ScanGateError:
            uploads = None
        return RigHealth(
            camera=self.camera.status(),
            registry_ok=registry_ok,
            registry_detail=detail,
            roster_size=len(self._roster) if self._roster is not None else 0,
            gate=self.gate.status(),
            uploads=uploads,
        )

    # ----------------------------------------------------------------- internals

    def _on_recognition(self, result: RecognitionResult) -> None:  # recognition thread
        # Judge presence from when the camera took the frame, not when the analysis finished.
        self.controller.on_frame(result.analysis, _seen_at(self.clock, result.frame_captured_at))

    def _load_roster_once(self) -> bool:
        try:
            roster = self._roster_loader()
        except ScanGateError as exc:
            self._roster_error = f"roster not loaded: {exc.what}"
            log.warning("%s", self._roster_error)
            return False
        except Exception as exc:  # the refresher thread must survive anything
            self._roster_error = f"roster not loaded: unexpected error: {exc}"
            log.exception("loading the roster failed")
            return False
        try:
            self._identifier.set_roster(roster)
        except ScanGateError as exc:
            self._roster_error = f"roster not handed to identification: {exc.what}"
            return False
        self._roster, self._roster_error = roster, None
        return True

    def _keep_roster_fresh(self) -> None:
        interval = ROSTER_REFRESH_S
        while not self._stop.wait(ROSTER_RETRY_S if self._roster_error else interval):
            self._load_roster_once()


class _NoRegistry:
    """Consent service of a rig without a registry: every lookup fails, so nothing unlocks."""

    def lookup(
        self, performer_id: str, capture_types: frozenset[str], method: IdentificationMethod
    ) -> ConsentAnswer:
        raise ScanGateError(
            "no consent registry is configured, so no consent can be checked",
            where="[registry] url",
            hint="set the registry address in the configuration",
        )


def _each_revocation(controller: SessionController, items: Sequence[Revocation]) -> None:
    for item in items:
        controller.on_revocation(item.consent_id)


def _seen_at(wall: WallClock, captured_at: float) -> datetime:
    """The wall time the camera took a frame at (``captured_at`` is ``time.monotonic()``)."""
    age = max(0.0, time.monotonic() - captured_at)
    return wall() - timedelta(seconds=age)
