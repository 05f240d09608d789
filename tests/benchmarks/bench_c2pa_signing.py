"""Benchmark: what Content Credentials cost, and that capture does not pay for them.

* **signing**: per-file time of ``write_credentials`` (read, hash check, C2PA sign with the rig
  key through the callback, read-back validation, atomic replace) for a 24-megapixel JPEG
  (6000×4000, generated here: a gradient plus noise; no face photo is used);
* **capture latency** of the built-in gate writing 24 MP JPEG stills, measured in the same run
  without credentials and with a :class:`CredentialsWorker` signing every still on its own
  thread as the session engine does (submitted right after each capture returns).

Run: ``python tests/benchmarks/bench_c2pa_signing.py [--runs 20] [--captures 20]``.
The machine load is printed before and after; numbers depend on it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.gate.builtin import BuiltinStillGate
from agent.gate.models import CaptureEvent, UnlockGrant
from agent.gate.token import mint_capture_token
from agent.provenance.assertions import manifest_definition
from agent.provenance.certificates import RigChain
from agent.provenance.embed import SigningIdentity, write_credentials
from agent.provenance.outcomes import CredentialJob
from agent.provenance.service import CredentialsWorker
from agent.signing import Signer
from tests.provenance.test_embed import _assertion

RIG = Signer(Ed25519PrivateKey.generate())
WIDTH, HEIGHT = 6000, 4000


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _chain() -> str:
    ca_key, now = Ed25519PrivateKey.generate(), datetime.now(UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("bench CA"))
        .issuer_name(_name("bench CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, None)
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("bench-rig"))
        .issuer_name(ca.subject)
        .public_key(RIG.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=12))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, None)
    )
    pem = serialization.Encoding.PEM
    return (leaf.public_bytes(pem) + ca.public_bytes(pem)).decode()


def _frame() -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A 24 MP RGB frame: smooth gradients plus sensor-like noise (compresses like a photo)."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.stack([xx * 255 // WIDTH, yy * 255 // HEIGHT, (xx + yy) * 255 // (WIDTH + HEIGHT)], -1)
    noise = np.random.default_rng(0).integers(0, 24, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"


def _manifest(path: Path) -> Any:
    return lambda mime: manifest_definition(
        title=path.name,
        mime_type=mime,
        rig_id="bench-rig",
        captured_at="2026-03-01T12:00:00Z",
        consent=_assertion(),
    )


def bench_signing(root: Path, jpeg: bytes, chain: str, runs: int) -> list[float]:
    digest = hashlib.sha256(jpeg).hexdigest()
    times = []
    for index in range(runs):
        path = root / f"sign-{index}.jpg"
        path.write_bytes(jpeg)
        started = time.perf_counter()
        write_credentials(
            path,
            expected_sha256=digest,
            manifest=_manifest(path),
            identity=SigningIdentity(RIG.sign_bytes, chain),
        )
        times.append(time.perf_counter() - started)
    return times


class _FixedChain:
    def __init__(self, chain: str) -> None:
        self.chain = RigChain(chain, "1", datetime.now(UTC) + timedelta(hours=12))

    def current(self) -> RigChain:
        return self.chain


def bench_capture(
    root: Path, frame: Any, chain: str, captures: int, *, sign: bool
) -> tuple[list[float], float]:
    """Capture latencies of the built-in gate, and (signing) how long after the last capture signing ended."""
    gate = BuiltinStillGate(
        lambda: frame,
        image_format="jpeg",
        jpeg_quality=92,
        trusted_keys={RIG.key_id: RIG.public_key},
        capture_root=root / ("signed" if sign else "plain"),
        rig_id="bench-rig",
    )
    done = threading.Semaphore(0)
    worker = CredentialsWorker(rig_id="bench-rig", sign=RIG.sign_bytes, certificates=_FixedChain(chain))
    worker.set_listener(lambda _outcome: done.release())
    events: list[CaptureEvent] = []
    gate.add_capture_listener(events.append)
    gate.start()
    worker.start()
    token = mint_capture_token(
        RIG, session_id="bench", rig_id="bench-rig", performer_id="p", production_id="x",
        capture_types=["face"], lifetime=timedelta(minutes=30),
    )  # fmt: skip
    gate.unlock(UnlockGrant(token=token, lease_seconds=60))
    latencies = []
    last = time.perf_counter()
    for _ in range(captures):
        started = time.perf_counter()
        gate.capture("face")
        last = time.perf_counter()
        latencies.append(last - started)
        event = events[-1]
        if sign and event.path and event.sha256:
            path = Path(event.path)
            worker.submit(
                CredentialJob(
                    event.event_id, "bench", path, event.sha256, "2026-03-01T12:00:00Z", _assertion()
                )
            )
        time.sleep(0.25)  # a technician's pace; signing (~tens of ms) runs in between and alongside
    if sign:
        for _ in range(captures):
            done.acquire(timeout=60)
    tail = time.perf_counter() - last  # includes the last pause (0.25 s) when signing kept up
    gate.close()
    worker.close()
    return latencies, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="files signed for the signing time")
    parser.add_argument("--captures", type=int, default=20, help="captures per gate run")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} cores)")
    frame = _frame()
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    jpeg = encoded.tobytes()
    chain = _chain()
    root = Path(tempfile.mkdtemp(prefix="bench-c2pa-"))
    try:
        print(f"24 MP JPEG: {WIDTH}x{HEIGHT}, {len(jpeg) / 1e6:.1f} MB")
        signing = bench_signing(root, jpeg, chain, args.runs)
        print(f"signing per file ({args.runs} files): {_ms(signing)}")
        plain, _ = bench_capture(root, frame, chain, args.captures, sign=False)
        signed, tail = bench_capture(root, frame, chain, args.captures, sign=True)
        print(f"built-in gate capture, no credentials ({args.captures}): {_ms(plain)}")
        print(f"built-in gate capture, signing alongside ({args.captures}): {_ms(signed)}")
        print(f"last credentials written {tail * 1000:.0f} ms after the last capture returned")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
