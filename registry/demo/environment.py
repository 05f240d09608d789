"""Everything a demo rig needs, created in one folder: registry, keys, stand-in camera, config."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import platformdirs

from agent.config import ScanGateConfig, load_config
from agent.errors import ScanGateError
from agent.private_files import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    private_dir,
    private_file_opener,
    restrict,
)
from agent.records.keys import load_or_create_rig_key, public_key_pem
from agent.signing import public_key_to_b64
from agent.wire.consent import ConsentStatus
from registry import admin_ops
from registry.demo.launch import PRODUCTION_ID, RIG_ID, RIG_NAME
from registry.embedded import EmbeddedRegistry, start_embedded_registry
from registry.keys import load_active_signer
from registry.rig_ca import production_ca
from registry.setup import SeedPerformer, SeedResult, seed
from registry.stand_in import FRAME_SIZE, compute_stand_in_encoding, stand_in_frame
from registry.template_seal import TemplateKey

log = logging.getLogger(__name__)

STAND_IN_ID = "perf-collins"
STAND_IN_NAME = "Eileen Collins"
OTHER_ID = "perf-okafor"
OTHER_NAME = "Ada Okafor"
BADGE_CODE = "BADGE-0042"
BADGE_PIN = "2468"
STAND_IN_FPS = 25
DEMO_MARKER = ".scangate-demo"
GateBackendKind = Literal["builtin", "http_api"]
"""Gate backends a demo rig can use: ScanGate's own stills, or the loopback gate API."""


@dataclass
class DemoEnvironment:
    """A prepared demo: its folder, running registry, seed result and rig config."""

    out_dir: Path
    registry: EmbeddedRegistry
    seed: SeedResult
    config_path: Path
    config: ScanGateConfig

    def revoke_stand_in_consent(self, reason: str = "performer withdrew consent") -> None:
        """Revoke the stand-in performer's consent in the registry (the 'revoked' scenario)."""
        consent = self.seed.consents[STAND_IN_ID]
        with self.registry.database.write() as session:
            admin_ops.change_consent_status(
                session, consent.consent_id, ConsentStatus.REVOKED, reason, load_active_signer(session)
            )

    def close(self) -> None:
        """Stop the embedded registry."""
        self.registry.stop()


STAND_IN_SECONDS = 4.0
STAND_IN_CACHE_ENV = "SCANGATE_STAND_IN_CACHE_DIR"
"""Overrides where the rendered stand-in clip is cached (default: the user cache folder)."""
_STAND_IN_CLIP_VERSION = 1
"""Bump when the clip's rendering changes: the cache key includes it."""


def stand_in_cache_dir() -> Path:
    """Where rendered stand-in clips are kept between demo runs (owner-only)."""
    configured = os.environ.get(STAND_IN_CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("scangate", appauthor=False)) / "stand-in"


def stand_in_clip_key(seconds: float = STAND_IN_SECONDS) -> str:
    """What the rendered clip depends on, hashed: the portrait's pixels and how it is rendered."""
    digest = hashlib.sha256(
        f"v{_STAND_IN_CLIP_VERSION} {FRAME_SIZE} {STAND_IN_FPS} {seconds!r} opencv {cv2.__version__}".encode()
    )
    digest.update(np.ascontiguousarray(stand_in_frame()).tobytes())
    return digest.hexdigest()[:32]


def cached_stand_in_video(seconds: float = STAND_IN_SECONDS, *, cache_dir: Path | None = None) -> Path:
    """The stand-in clip, rendered once per content key into the cache folder (0700, file 0600).

    Rendering the 100 frames takes 2.5-4 s, which every rehearsal paid because each demo
    folder is new. The file appears under its final name only when complete (written
    beside it, then renamed), so a crash never leaves a half clip to be reused.
    """
    folder = cache_dir if cache_dir is not None else stand_in_cache_dir()
    path = folder / f"performer-{stand_in_clip_key(seconds)}.avi"
    if path.is_file() and path.stat().st_size > 0:
        return path
    private_dir(folder)
    partial = folder / f".partial-{os.getpid()}-{path.name}"  # keeps .avi: OpenCV picks the container by it
    try:
        write_stand_in_video(partial, seconds)
        restrict(partial, PRIVATE_FILE_MODE)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def link_stand_in_video(clip: Path) -> None:
    """Make ``clip`` the stand-in clip: a link to the cached rendering, or a rendering of its own.

    The demo folder names the clip (``stand-in/performer.avi``) and the camera and the
    biometric-data checks know it by that name; the link resolves to the one cached file.
    Where a link cannot be made or the cache cannot be written, the clip is rendered in place.
    """
    if clip.exists():
        return
    clip.unlink(missing_ok=True)  # a link whose cached file was cleaned away
    private_dir(clip.parent)
    try:
        clip.symlink_to(cached_stand_in_video())
    except OSError as exc:
        log.info("stand-in clip cache not usable (%s); rendering the clip in the demo folder", exc)
        clip.unlink(missing_ok=True)
        write_stand_in_video(clip)


def write_stand_in_video(path: Path, seconds: float = STAND_IN_SECONDS) -> Path:
    """A looping clip of the stand-in performer, swaying slightly, as an MJPEG AVI."""
    private_dir(path.parent)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), STAND_IN_FPS, FRAME_SIZE)
    if not writer.isOpened():
        raise ScanGateError("cannot write the stand-in camera clip", where=str(path))
    try:
        frames = int(seconds * STAND_IN_FPS)
        for index in range(frames):
            phase = 2 * np.pi * index / frames
            offset = (int(24 * np.sin(phase)), int(8 * np.sin(2 * phase)))
            writer.write(cv2.cvtColor(stand_in_frame(offset), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def stand_in_encoding() -> list[float]:
    """The stand-in performer's 128-d face template, computed from the portrait.

    Computed once per process (loading the face models for it took 0.8-2.4 s per demo run);
    kept in memory only, never written anywhere.
    """
    return list(_stand_in_encoding())


@functools.cache
def _stand_in_encoding() -> tuple[float, ...]:
    return compute_stand_in_encoding()


def _unrelated_template(seed_value: int = 7) -> list[float]:
    """A template far from any real face: the other performer never matches the stand-in."""
    rng = np.random.default_rng(seed_value)
    vector = rng.normal(0.0, 0.09, 128)
    return [float(v) for v in vector]


def prepare_demo(
    out_dir: Path,
    *,
    enrol_stand_in: bool = True,
    biometric_consent: bool = True,
    fresh: bool = True,
    gate_backend: GateBackendKind = "builtin",
    session_settings: Mapping[str, float] | None = None,
    liveness_settings: Mapping[str, float] | None = None,
    stand_in_template: Sequence[float] | None = None,
) -> DemoEnvironment:
    """Create (or refresh) a demo rig in ``out_dir`` and start its embedded registry.

    Args:
        out_dir: folder for everything the demo writes (registry database, keys,
            stand-in clip, captures, the signed session log, config).
        enrol_stand_in: put the stand-in performer's face on the roster; without it
            the stand-in is an unknown face (the 'impostor' scenario).
        biometric_consent: whether the stand-in consented to face checks; without it
            the registry leaves them off the roster and the badge + PIN fallback
            identifies them (the 'fallback' scenario).
        fresh: remove the previous demo's registry database and session log first.
        gate_backend: ``builtin`` (ScanGate captures stills itself) or ``http_api``
            (capture software reports files through the loopback gate API, on a free port).
        session_settings: ``[session]`` values to set beside the demo's own, e.g. a
            short ``consent_max_age_s`` for the 'registry-lost-while-unlocked' rehearsal.
        liveness_settings: ``[liveness]`` values, e.g. a short ``step_time_limit_s`` for the
            'challenge-timeout' rehearsal.
        stand_in_template: the stand-in's face template when the caller already has it
            (``scangate demo`` computes it in another process while it imports Qt);
            otherwise it is computed here.
    """
    out_dir = out_dir.resolve()
    private_dir(out_dir)
    marker = out_dir / DEMO_MARKER
    if any(out_dir.iterdir()) and not marker.exists():
        raise ScanGateError(
            "this folder is not empty and was not made by the demo; the demo replaces session logs"
            " and captures in its folder, so it will not use this one",
            where=str(out_dir),
            hint="give --out an empty or new folder",
        )
    marker.write_text("Made by `scangate demo`; its contents are replaced on every demo run.\n")
    restrict(out_dir, PRIVATE_DIR_MODE)  # a folder made by an older version may be 0755
    if fresh:
        for stale in (
            "registry.sqlite3",
            "sessions.jsonl",
            "sessions.jsonl.lock",
            "sessions.jsonl.open-session.json",
            "outbox.sqlite3",
            "gate-api.token",
        ):
            (out_dir / stale).unlink(missing_ok=True)
        shutil.rmtree(out_dir / "cache", ignore_errors=True)
        shutil.rmtree(out_dir / "captures", ignore_errors=True)
    rig_key = load_or_create_rig_key(out_dir / "keys" / "rig-ed25519.pem")
    (out_dir / "rig-public.pem").write_text(public_key_pem(rig_key.public_key), encoding="ascii")
    link_stand_in_video(out_dir / "stand-in" / "performer.avi")
    # An ephemeral template key: the demo's face templates are sealed under a key that
    # exists only while the demo runs, so its database holds nothing biometric once it ends.
    for leftover in ("registry.sqlite3", "registry.sqlite3-wal", "registry.sqlite3-shm"):
        (out_dir / leftover).unlink(missing_ok=True)
    registry = start_embedded_registry(out_dir / "registry.sqlite3", template_key=TemplateKey.generate())
    try:
        performers = [
            SeedPerformer(
                STAND_IN_ID,
                STAND_IN_NAME,
                encodings=[list(stand_in_template) if stand_in_template else stand_in_encoding()]
                if enrol_stand_in
                else [],
                badge_code=BADGE_CODE,
                pin=BADGE_PIN,
                biometric_check_consent=biometric_consent,
            ),
            SeedPerformer(OTHER_ID, OTHER_NAME, encodings=[_unrelated_template()]),
        ]
        seeded = seed(
            registry.database,
            rig_public_key=public_key_to_b64(rig_key.public_key),
            performers=performers,
            production_id=PRODUCTION_ID,
            production_name="The Long Night (demo)",
            rig_id=RIG_ID,
        )
        with registry.database.write() as session:  # for `scangate provenance --ca` after the demo
            ca = production_ca(session, PRODUCTION_ID)
        # Public data, but the demo folder keeps everything owner-only; share it by copying.
        with open(
            out_dir / "production-ca.json", "w", encoding="utf-8", opener=private_file_opener
        ) as handle:
            handle.write(ca.model_dump_json(indent=1))
        token_file = out_dir / "registry.token"
        with open(token_file, "w", encoding="ascii", opener=private_file_opener) as handle:
            handle.write(seeded.rig_token + "\n")
        # Record uploads read the rig token from the environment (never from config files).
        os.environ["SCANGATE_REGISTRY_TOKEN"] = seeded.rig_token
        config_path = out_dir / "scangate.toml"
        text = _config_text(
            registry.url, seeded.key_id, gate_backend, session_settings or {}, liveness_settings or {}
        )
        config_path.write_text(text, encoding="utf-8")
        config, _ = load_config(config_path)
    except BaseException:
        registry.stop()
        raise
    return DemoEnvironment(out_dir, registry, seeded, config_path, config)


def _config_text(
    registry_url: str,
    key_id: str,
    gate_backend: GateBackendKind,
    session_settings: Mapping[str, float],
    liveness_settings: Mapping[str, float],
) -> str:
    backend = (
        '\n[gate.backend]\nkind = "http_api"\nport = 0\nauth_token_file = "gate-api.token"\n'
        if gate_backend == "http_api"
        else ""
    )
    session = "".join(f"{key} = {float(value)!r}\n" for key, value in session_settings.items())
    # As given: some [liveness] values are counts (steps, retries), which the config reads strictly.
    liveness = "".join(f"{key} = {value!r}\n" for key, value in liveness_settings.items())
    liveness = f"\n[liveness]\n{liveness}" if liveness else ""
    return f"""# Written by the ScanGate demo; every path is relative to this folder.
[rig]
rig_id = "{RIG_ID}"
name = "{RIG_NAME}"
production_id = "{PRODUCTION_ID}"

[camera]
reconnect_initial_delay_s = 0.2
reconnect_max_delay_s = 2.0

[camera.source]
kind = "video"
path = "stand-in/performer.avi"
loop = true

[templates]
store_dir = "templates"

[registry]
url = "{registry_url}"
token_file = "registry.token"
pinned_key_ids = ["{key_id}"]
cache_dir = "cache"
revocation_poll_interval_s = 1.0

[gate]
capture_root = "captures"
{backend}
[records]
log_path = "sessions.jsonl"
key_path = "keys/rig-ed25519.pem"
outbox_path = "outbox.sqlite3"
receipts_dir = "receipts"

[records.upload]
enabled = true
url = "{registry_url}"

[session]
absence_timeout_s = 3.0
unlock_timebox_s = 120.0
{session}{liveness}"""
