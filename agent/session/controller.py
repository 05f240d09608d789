"""The session controller: runs the state machine on its own thread and carries out effects.

Threads:
* the **engine thread** owns the state. It takes inputs from one queue (commands
  from screens, frame results from the recognition worker, gate and registry
  notifications), stamps them with the clock, applies the pure transition
  function, and carries out the effects: lock/unlock the gate, renew the lease,
  write the record. With no input it ticks every ``tick_interval`` seconds.
* a small **lookup pool** runs registry calls (which may take seconds) and puts
  their answers back on the queue, so STOP is never stuck behind the network.

Fail closed: any exception while carrying out an effect becomes a ``Fault``
event (gate locked, fault record written). If the engine thread itself hangs or
dies, the gate lease is not renewed and the gate locks by itself.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.errors import ScanGateError
from agent.faces.identifier import FrameAnalysis
from agent.gate.base import CaptureGate
from agent.gate.errors import CaptureNotKeptError, GateFaultError
from agent.gate.models import CaptureEvent, GateStatus, UnlockGrant
from agent.gate.token import mint_capture_token
from agent.liveness.challenge import Thresholds
from agent.provenance.outcomes import CredentialsPort
from agent.session import events as ev
from agent.session.badge_check import BadgeCheck
from agent.session.board import SnapshotBoard, SnapshotListener
from agent.session.consent_checks import ConsentChecks, ConsentCheckWiring
from agent.session.corrections import RecordedSessions
from agent.session.credentials import CREDENTIALS_WAIT, CaptureCredentials
from agent.session.evidence import JournalKeeper
from agent.session.frames import FrameEvents
from agent.session.journal import SessionJournal
from agent.session.lease import LeaseRenewal, lapse_of, lapse_seen_now
from agent.session.liveness_checks import LivenessChecks
from agent.session.machine import IllegalTransitionError, transition
from agent.session.model import (
    ACTIVE_PHASES,
    Capture,
    IdentificationMethod,
    Phase,
    SessionState,
    Timing,
)
from agent.session.ports import ConsentService, FallbackVerifier, RecordSink
from agent.session.recording import build_record_draft, capture_from_event
from agent.session.snapshot import SessionSnapshot, describe
from agent.signing import Signer, object_hash_hex

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_QUEUED_FRAMES = 64


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ControllerSettings:
    """Tunables of the controller (from the ``[session]`` config section)."""

    rig_id: str
    production_id: str
    timing: Timing = field(default_factory=Timing)
    lease_seconds: float = 1.0
    renew_interval: float = 0.3
    tick_interval: float = 0.05
    votes_required: int = 3
    journal_path: Path | None = None


@dataclass(frozen=True)
class _Command:
    """An input, stamped when it happened, that becomes an event when the engine gets to it.

    Stamping at enqueue time keeps the order of facts right when the engine is
    slow: frames seen and a gate lapse that happened while the engine was busy
    are judged at the moment they happened, not when they were processed.
    """

    make: Callable[[datetime], ev.Event | None]
    at: datetime


class SessionController:
    """Runs one rig's sessions. Thread-safe: every public method only enqueues."""

    def __init__(
        self,
        settings: ControllerSettings,
        *,
        gate: CaptureGate,
        consent: ConsentService,
        records: RecordSink,
        signer: Signer,
        fallback: FallbackVerifier | None = None,
        liveness: LivenessChecks | None = None,
        clock: Clock = _utc_now,
        credentials: CredentialsPort | None = None,
    ) -> None:
        self.settings = settings
        self._gate = gate
        self._records = records
        self._signer = signer
        self._clock = clock
        self._state = SessionState()
        self._inbox: queue.Queue[_Command | None] = queue.Queue()
        self._lookups = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scangate-lookup")
        # STOP locks the gate from here at once, whatever the engine thread is busy with.
        self._urgent = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scangate-stop")
        self._triggers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scangate-capture")
        self._frame_events = FrameEvents(settings.votes_required)
        if settings.timing.liveness_required and liveness is None:
            raise ValueError("liveness is required but no way to run a challenge was given")
        self._liveness = liveness or LivenessChecks("challenge", 2, Thresholds(), "none")
        self._consent_checks = ConsentChecks(
            ConsentCheckWiring(consent, self._lookups, lambda: self._state, self._put, self._note, clock),
            settings.timing.consent_recheck_interval,
        )
        self._queued_frames = 0
        self._frame_lock = threading.Lock()
        self._next_record_attempt: datetime | None = None
        self._lease = LeaseRenewal(gate, settings.renew_interval, self._put_at)
        self._last_record: dict[str, Any] | None = None
        self._last_record_hash: str | None = None  # hashed once here, not on every snapshot
        self._recorded = RecordedSessions(records, self._note)
        self._board = SnapshotBoard(clock, self._state)
        self._thread = threading.Thread(target=self._run, name="scangate-session", daemon=True)
        journal = SessionJournal(settings.journal_path) if settings.journal_path else None
        self._keeper = JournalKeeper(journal, settings.production_id)
        # Signing runs on its own thread after each capture is journaled; its outcomes re-journal the draft.
        self._credentials = CaptureCredentials(
            credentials, settings.rig_id, lambda: self._put(self._credentials_arrived)
        )
        self._badge_check = BadgeCheck(
            fallback,
            self._lookups,
            post=self._put,
            for_session=self._for_session,
            note_later=self._note_later,
            clock=clock,
        )
        gate.add_capture_listener(self._on_capture)
        gate.add_status_listener(self._on_gate_status)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the engine thread (the gate must already be started, i.e. locked).

        A session a previous run never finished gets its fault record first.
        """
        self._record_unfinished_session()
        self._thread.start()

    def _record_unfinished_session(self) -> None:
        draft = self._keeper.recover(self._clock())
        if draft is None:
            return
        stored = dict(self._records.append(draft))  # raises: the rig must not start without it
        self._keeper.clear()
        self._last_record, self._last_record_hash = stored, object_hash_hex(stored)
        self._note(f"Record #{stored.get('sequence')}: a session the agent never finished (it had stopped)")
        # Shown from now on, not from the engine thread's first turn (late on a loaded CPU).
        self._publish()

    def stop(self, timeout: float = 5.0) -> None:
        """End any open session (its record is written), lock the gate and stop the engine.

        Everything queued before the stop, and the technician's end of the open
        session, is processed first, so a session in progress still gets its record.
        """
        if self._thread.is_alive():
            self.end_session()
            self._inbox.put(None)
            self._thread.join(timeout)
        for pool in (self._lookups, self._urgent, self._triggers):
            pool.shutdown(wait=False, cancel_futures=True)
        self._gate.lock("agent stopping")

    def add_listener(self, listener: SnapshotListener) -> None:
        """Call ``listener`` (on the engine thread) with a snapshot after every change."""
        self._board.add_listener(listener)

    def snapshot(self) -> SessionSnapshot:
        """The latest snapshot (any thread)."""
        return self._board.latest()

    @property
    def session_open(self) -> bool:
        """A session is in progress (any thread; a momentary view): only then are faces identified."""
        return self._state.phase in ACTIVE_PHASES

    @property
    def identified_performer(self) -> str | None:
        """The performer this session's votes of real face encodings confirmed (any thread; a momentary view).

        None outside a session, before the votes agreed, and for a badge + PIN identification.
        The identification process follows a face between encodings only under this name.
        """
        state = self._state
        identity = state.context.identity
        if state.phase not in ACTIVE_PHASES or identity is None:
            return None
        return identity.performer_id if identity.method is IdentificationMethod.FACE else None

    def counts_frame(self, seen_at: datetime) -> bool:
        """Whether the open session counts a frame the camera took at ``seen_at`` (any thread; a momentary view).

        It counts only frames taken after it started (:class:`FrameEvents` drops the others), so
        the recognition worker need not identify them. True when no session is open.
        """
        state = self._state
        started = state.context.started_at
        return state.phase not in ACTIVE_PHASES or started is None or seen_at >= started

    @property
    def challenge_running(self) -> bool:
        """A liveness challenge with real landmarks is running (any thread; a momentary view)."""
        return self._liveness.method == "challenge" and self._liveness.running

    # ----------------------------------------------------------------- commands

    def start_session(self, technician: str, capture_types: frozenset[str]) -> str:
        """Technician: start a session for these capture types; returns the session id."""
        session_id = uuid.uuid4().hex
        self._put(lambda at: ev.SessionStarted(at, session_id, technician, frozenset(capture_types)))
        return session_id

    def end_session(self) -> None:
        """Technician: end the session (also acknowledges a fault)."""
        self._put(ev.TechnicianEnded)

    def request_fallback(self) -> None:
        """Technician: identify the performer by badge/QR code + PIN instead of the face."""
        self._put(ev.FallbackRequested)

    def confirm(
        self,
        capture_types: frozenset[str],
        guardian_co_confirmed: bool = False,
        *,
        session_id: str | None = None,
    ) -> None:
        """Performer: confirm the terms for these capture types (a subset narrows).

        Screens pass the ``session_id`` of the terms they showed: a tap that arrives
        after that session ended is dropped instead of confirming another session.
        """
        event = lambda at: ev.PerformerConfirmed(at, frozenset(capture_types), guardian_co_confirmed)  # noqa: E731
        self._put(self._for_session(session_id, event) if session_id else event)

    def decline(self, *, session_id: str | None = None) -> None:
        """Performer: decline the terms (``session_id``: see :meth:`confirm`)."""
        self._put(self._for_session(session_id, ev.PerformerDeclined) if session_id else ev.PerformerDeclined)

    def stop_capture(self) -> None:
        """Performer: STOP. The gate is locked at once, then the session ends."""
        self._put(ev.PerformerStopped)  # queued first, so the record says who stopped
        self._urgent.submit(self._gate.lock, "performer_stopped")

    def submit_fallback(self, badge_code: str, pin: str, witness: str) -> None:
        """Performer + technician: badge code and PIN, witnessed; checked with the registry."""
        self._put(lambda at: self._start_fallback_check(badge_code, pin, witness, at))

    def capture(self, capture_type: str) -> None:
        """Technician: trigger a capture through the gate (refused by the gate unless unlocked)."""

        def trigger() -> None:
            try:
                self._gate.capture(capture_type)
            except CaptureNotKeptError as exc:
                self._note_later(f"Capture made but not kept safely: {exc.what}")
            except ScanGateError as exc:
                self._note_later(f"Capture refused: {exc.what}")

        self._triggers.submit(trigger)

    def inject_stall(self, seconds: float) -> None:
        """Rehearsal fault injection: block the engine thread for ``seconds``.

        Simulates a hung agent: lease renewals stop, so the gate must lock by
        itself within the lease; when the engine resumes it sees the lapse and
        ends the session as a fault. Used by ``scangate demo --scenario gate-crash``.
        """
        self._inbox.put(_Command(lambda _at: _sleep(seconds), self._clock()))

    # ----------------------------------------------------------------- inputs from workers

    def on_frame(self, analysis: FrameAnalysis, seen_at: datetime | None = None) -> None:
        """Recognition worker: one analysed frame.

        ``seen_at`` is when the camera took the frame (default: now); presence and
        absence are judged from it, not from when the analysis finished. Frames keep
        their order with everything else in the queue; if the engine stalls, at most
        ``MAX_QUEUED_FRAMES`` wait (recognition delivers a few per second) and the
        rest are dropped: fewer analysed frames can only end in a recognition stall
        (fail closed), never in a made-up absence, which only frames showing nobody prove.
        """
        with self._frame_lock:
            if self._queued_frames >= MAX_QUEUED_FRAMES:
                return
            self._queued_frames += 1
        self._inbox.put(_Command(lambda at: self._take_frame(analysis, at), seen_at or self._clock()))

    def on_revocation(self, consent_id: str) -> None:
        """Revocation poller: a consent was revoked."""
        self._put(lambda at: ev.ConsentRevoked(at, consent_id))

    def on_key_untrusted(self, key_id: str) -> None:
        """Registry client: a registry key is no longer trusted."""
        self._put(lambda at: ev.RegistryKeyUntrusted(at, key_id))

    def on_fault(self, component: str, detail: str) -> None:
        """Any component: something failed that makes capture unsafe."""
        self._put(lambda at: ev.Fault(at, component, detail))

    # ----------------------------------------------------------------- engine thread

    def _put(self, make: Callable[[datetime], ev.Event | None]) -> None:
        self._inbox.put(_Command(make, self._clock()))

    def _put_at(self, make: Callable[[datetime], ev.Event | None], at: datetime) -> None:
        """Queue an input stamped at ``at`` (when it happened, not when it was queued)."""
        self._inbox.put(_Command(make, at))

    def _note_later(self, text: str) -> None:
        """Add a line to the session's event list from any thread (the engine thread appends it)."""
        self._put(lambda at: self._note(text, at))

    def _for_session(
        self, session_id: str, make: Callable[[datetime], ev.Event]
    ) -> Callable[[datetime], ev.Event | None]:
        """Drop an asynchronous answer if its session is over by the time it arrives."""
        return lambda at: make(at) if self._state.context.session_id == session_id else None

    def _run(self) -> None:
        while True:
            try:
                command = self._inbox.get(timeout=self.settings.tick_interval)
            except queue.Empty:
                command = _Command(ev.Tick, self._clock())
            if command is None:
                self._final_record_attempt()
                break
            try:
                self._gate_lapse_first()
                at = command.at
                event = command.make(at)
                if event is not None:
                    self._dispatch(event, at)
                self._housekeeping(self._clock())
            except Exception as exc:  # the engine must never die silently with the gate open
                log.exception("session engine error")
                self._emergency_lock(f"internal error: {exc}")

    def _gate_lapse_first(self) -> None:
        """If the gate locked itself (lease lapsed while this process was frozen or starved), say so
        before judging anything else: the lock, not a late frame or tick, ended the unlock."""
        if self._state.phase is not Phase.UNLOCKED:
            return
        lapse = lapse_seen_now(self._gate)
        if lapse is not None:
            self._lease.stopped()
            self._dispatch(lapse, lapse.at)

    def _dispatch(self, event: ev.Event, at: datetime, depth: int = 0) -> None:
        before = self._state
        try:
            after, effects = transition(before, event, self.settings.timing)
        except IllegalTransitionError as exc:
            log.error("illegal event: %s", exc)
            after, effects = transition(before, ev.Fault(at, "internal", exc.what), self.settings.timing)
        # Journal first: a capture reported on the gate's thread sees the new session only once
        # its journal exists, so every capture it accepts can be journaled.
        self._journal_transition(before, after, at)
        self._state = after
        if after.phase is not before.phase:
            self._note(describe(after.phase, after.context)[0], at)
        for effect in effects:
            try:
                self._execute(effect, at)
            except Exception as exc:
                log.exception("effect %s failed", type(effect).__name__)
                if depth < 2:
                    self._dispatch(ev.Fault(at, ev.component_of(effect), str(exc)), at, depth + 1)
                else:
                    self._emergency_lock(f"{type(effect).__name__} failed: {exc}")
        self._publish()

    def _journal_transition(self, before: SessionState, after: SessionState, at: datetime) -> None:
        if after.phase is Phase.IDENTIFYING and before.phase is Phase.IDLE:
            self._consent_checks.session_opened()
        try:
            self._keeper.after_transition(
                before, after, self._consent_checks.record, at, self._credentials.entries(after.context)
            )
        except OSError as exc:
            # Without the journal a crash would lose this session's evidence: capture must not go on.
            log.error("cannot write the open-session journal: %s", exc)
            if after.phase in (Phase.AWAITING_CONFIRMATION, Phase.UNLOCKED):
                detail = f"the open-session journal cannot be written ({exc.strerror or exc})"
                self._put_at(lambda when: ev.Fault(when, "records", detail), at)

    def _execute(self, effect: ev.Effect, at: datetime) -> None:
        if isinstance(effect, ev.LockGate):
            self._lease.stopped()
            status = self._gate.lock(effect.reason.value)
            if status.peer_locked is False:
                raise GateFaultError(
                    "the gate could not confirm the lock with the rig: it may still be ARMED",
                    hint="check the capture hardware before anyone is scanned",
                )
        elif isinstance(effect, ev.UnlockGate):
            self._unlock(effect, at)
        elif isinstance(effect, ev.StartChallenge):
            self._liveness.start(effect, at)
            self._note(f"Liveness check for the performer (attempt {effect.attempt})", at)
        elif isinstance(effect, ev.FetchConsent):
            self._liveness.stop()
            self._consent_checks.fetch(effect.performer_id)
        elif isinstance(effect, ev.WriteRecord):
            self._write_record(at)
        elif isinstance(effect, ev.RequestFallback):
            self._note("Face check not used: badge/QR code + PIN with a technician witness", at)
        elif isinstance(effect, ev.PresentTerms):
            self._note("Terms shown to the performer", at)

    def _unlock(self, effect: ev.UnlockGate, at: datetime) -> None:
        ctx = self._state.context
        assert ctx.identity is not None
        token = mint_capture_token(
            self._signer,
            session_id=ctx.session_id,
            rig_id=self.settings.rig_id,
            performer_id=ctx.identity.performer_id,
            production_id=self.settings.production_id,
            capture_types=sorted(effect.capture_types),
            lifetime=max(effect.deadline - at, timedelta(seconds=1)),
            now=at,
        )
        self._gate.unlock(UnlockGrant(token=token, lease_seconds=self.settings.lease_seconds))
        self._lease.started(at)
        self._dispatch(ev.GateUnlocked(at), at)

    @property
    def _record_pending(self) -> bool:
        """The session has ended (or faulted) and its one record is not written yet."""
        state = self._state
        return state.phase in (Phase.CLOSING, Phase.LOCKED_FAULT) and not state.context.record_written

    def _write_record(self, at: datetime, *, stopping: bool = False) -> None:
        ctx = self._state.context
        if stopping:
            self._credentials.wait(ctx.session_id, CREDENTIALS_WAIT.total_seconds())
        elif not self._credentials.ready_to_record(ctx.session_id, at):
            self._next_record_attempt = at + timedelta(milliseconds=50)  # the gate is locked: wait briefly
            return
        try:
            draft = build_record_draft(
                ctx,
                production_id=self.settings.production_id,
                consent=self._consent_checks.record,
                ended_at=at,
                credentials=self._credentials.entries(ctx, final=True),
            )
            stored = dict(self._records.append(draft))
        except Exception:
            self._next_record_attempt = at + timedelta(seconds=1)
            raise
        # The record is in the log: nothing below may fail, or a retry would append it again.
        self._last_record, self._last_record_hash = stored, object_hash_hex(stored)
        self._keeper.clear()
        self._credentials.recorded(ctx)
        self._recorded.remember(ctx.session_id, draft, stored)
        self._note(f"Session record #{stored.get('sequence')} written ({ctx.session_id[:8]})", at)
        self._consent_checks.record = None
        self._dispatch(ev.RecordWritten(at), at)

    def _housekeeping(self, at: datetime) -> None:
        self._consent_checks.recheck_if_due(at)
        if self._state.phase is Phase.CHALLENGING and (expired := self._liveness.on_tick(at)) is not None:
            self._dispatch(expired, at)
        if self._state.phase is Phase.UNLOCKED:
            self._lease.renew_if_due(at)
        due = self._next_record_attempt is None or at >= self._next_record_attempt
        if self._record_pending and due:
            try:
                self._write_record(at)
            except Exception as exc:
                log.error("writing the session record failed again: %s", exc)

    def _take_frame(self, analysis: FrameAnalysis, seen_at: datetime) -> None:
        with self._frame_lock:
            self._queued_frames -= 1
        for event in self._frame_events.events_for(analysis, seen_at, self._state.context):
            self._dispatch(event, seen_at)
        if self._state.phase is Phase.CHALLENGING:
            outcome = self._liveness.on_frame(analysis, seen_at)
            if outcome is not None:
                self._dispatch(outcome, seen_at)

    def _start_fallback_check(self, badge_code: str, pin: str, witness: str, at: datetime) -> None:
        """On the engine thread: bind the badge check to the current session, then run it."""
        fault = self._badge_check.start(self._state.context.session_id, badge_code, pin, witness, at)
        if fault is not None:
            self._dispatch(fault, at)

    def _on_capture(self, event: CaptureEvent) -> None:
        """On the gate's thread, before the gate acknowledges the capture: journal it durably.

        Raises:
            CaptureNotKeptError: it could not be journaled (a crash could lose it). The gate then
                locks before acknowledging; the capture still reaches the record, which is a fault
                naming the journal (the capture is queued first, so the fault's record lists it).
        """
        capture = capture_from_event(event)
        try:
            self._keeper.capture(capture)
        except Exception as exc:  # whatever failed, the capture is not safe from a crash
            log.exception("cannot journal capture %s", capture.name)
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problem = (
                f"the open-session journal could not be written for a capture ({why}); a crash could lose it"
            )
            self._put(lambda at: self._capture_arrived(capture, at, event))
            self._put(lambda at: ev.Fault(at, "records", problem))
            raise CaptureNotKeptError(problem) from None
        self._put(lambda at: self._capture_arrived(capture, at, event))

    def _capture_arrived(self, capture: Capture, at: datetime, event: CaptureEvent) -> ev.Event | None:
        """A capture for the session being recorded is an event (and, consented, is signed from here on:
        after it was journaled); one for an already recorded session (also the faulted one still on
        screen) gets a correction record (records are never rewritten)."""
        owner, ctx = capture.session_id, self._state.context
        recording = owner == ctx.session_id and not ctx.record_written
        if recording:
            self._credentials.on_capture(capture, event, ctx, self._consent_checks.record)
        if owner is None or recording or owner not in self._recorded:
            return ev.CaptureRecorded(at, capture)
        self._recorded.correct(owner, capture, at)
        return None

    def _credentials_arrived(self, at: datetime) -> None:
        """A signing outcome arrived: journal the draft again, so a crash keeps what is known."""
        state = self._state
        if state.phase is Phase.IDLE or state.context.record_written:
            return None
        self._journal_transition(state, state, at)
        return None

    def _final_record_attempt(self) -> None:
        if self._record_pending:
            try:
                self._write_record(self._clock(), stopping=True)
            except Exception:
                log.exception("the last session record could not be written before stopping")

    def _on_gate_status(self, status: GateStatus) -> None:
        lapse = lapse_of(status)
        if lapse is not None:
            # Stamped when the gate locked, not when this engine (perhaps frozen meanwhile) gets to it.
            self._put_at(
                lambda at: replace(lapse, at=at) if self._state.phase is Phase.UNLOCKED else None, lapse.at
            )
        elif not status.healthy:
            reason = status.last_error or status.reason
            self._put(
                lambda at: ev.Fault(at, "gate", reason) if self._state.phase is not Phase.IDLE else None
            )

    def _emergency_lock(self, reason: str) -> None:
        try:
            self._gate.lock(reason)
        except Exception:
            log.exception("emergency lock failed")

    # ----------------------------------------------------------------- snapshots

    def _note(self, text: str, at: datetime | None = None) -> None:
        self._board.note(text, at)

    def _publish(self) -> None:
        record = self._consent_checks.record
        self._board.publish(
            self._state, record, self._last_record, self._last_record_hash, self._liveness.view
        )


def _sleep(seconds: float) -> None:
    threading.Event().wait(seconds)
