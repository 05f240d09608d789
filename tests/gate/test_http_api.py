"""Loopback HTTP gate API, exercised with a real HTTP client (requests)."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import stat
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.gate.base import CaptureGate
from agent.gate.errors import CaptureNotKeptError, CaptureRefusedError
from agent.gate.http_api import REQUEST_IDLE_LIMIT_S, HttpApiGate
from agent.gate.models import CaptureEvent
from agent.gate.settings import HttpApiGateSettings
from agent.gate.token import verify_capture_token
from tests.gate.conftest import MakeGrant, Recorder
from tests.gate.peers import wait_until

Closing = Callable[[CaptureGate], CaptureGate]


class Client:
    """The capture software's side: a requests session with the bearer token."""

    def __init__(self, gate: HttpApiGate, token: str | None) -> None:
        self.base = gate.url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def gate(self) -> dict[str, Any]:
        response = self.session.get(f"{self.base}/v1/gate", timeout=5)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def report(self, path: Path, **fields: Any) -> requests.Response:
        return self.session.post(f"{self.base}/v1/captures", json={"path": str(path), **fields}, timeout=5)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "gate-api.token"


@pytest.fixture
def gate(gate_options: dict[str, Any], closing: Closing, token_file: Path) -> HttpApiGate:
    settings = HttpApiGateSettings(kind="http_api", port=0, auth_token_file=token_file)
    built = HttpApiGate(settings, **{**gate_options, "arrival_grace_s": 0.0})
    closing(built)
    assert built.start().healthy
    return built


@pytest.fixture
def client(gate: HttpApiGate, token_file: Path) -> Client:
    return Client(gate, token_file.read_text().strip())


def test_token_file_is_created_private(gate: HttpApiGate, token_file: Path) -> None:
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert len(token_file.read_text().strip()) >= 32


def test_requests_without_the_bearer_token_are_refused(gate: HttpApiGate) -> None:
    assert requests.get(f"{gate.url}/v1/gate", timeout=5).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert requests.get(f"{gate.url}/v1/gate", headers=wrong, timeout=5).status_code == 401


def test_locked_gate_reports_not_allowed(client: Client) -> None:
    view = client.gate()
    assert view["allowed"] is False
    assert view["token"] is None and view["session_id"] is None


def test_unlocked_gate_hands_out_a_verifiable_token(
    gate: HttpApiGate, client: Client, make_grant: MakeGrant, trusted_keys: dict[str, Ed25519PublicKey]
) -> None:
    grant = make_grant(capture_types=["face"])
    gate.unlock(grant)
    view = client.gate()
    assert view["allowed"] is True
    assert view["session_id"] == "session-1" and view["capture_types"] == ["face"]
    assert 0 < view["lease_expires_in_s"] <= grant.lease_seconds
    token = verify_capture_token(view["token"], trusted_keys, grant.token.issued_at)
    assert token.token_id == grant.token.token_id


def test_reported_file_inside_the_window_is_accepted(
    gate: HttpApiGate, client: Client, make_grant: MakeGrant
) -> None:
    recorder = Recorder(gate)
    gate.unlock(make_grant())
    shot = gate.session_dir("session-1") / "img_0001.cr3"
    shot.write_bytes(b"raw photo")
    digest = hashlib.sha256(b"raw photo").hexdigest()
    response = client.report(shot, sha256=digest, capture_type="face", session_id="session-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["within_unlock_window"] is True and body["sha256"] == digest
    assert recorder.events[0].path == str(shot)
    assert shot.exists()


def test_a_capture_the_session_cannot_keep_is_not_acknowledged_and_locks_the_gate(
    gate: HttpApiGate, client: Client, make_grant: MakeGrant
) -> None:
    """The session journals every capture before the gate acknowledges it; when that fails
    (full disk), the capture software must not get a 200 and the gate must already be locked."""

    def journal_full(_event: CaptureEvent) -> None:
        raise CaptureNotKeptError("the open-session journal could not be written (No space left on device)")

    gate.add_capture_listener(journal_full)
    gate.unlock(make_grant())
    shot = gate.session_dir("session-1") / "img_0003.cr3"
    shot.write_bytes(b"raw photo")
    response = client.report(shot, sha256=hashlib.sha256(b"raw photo").hexdigest(), capture_type="face")
    assert response.status_code == 503, response.text
    assert "journal" in response.json()["error"]
    assert gate.status().locked and client.gate()["allowed"] is False
    assert shot.exists(), "the file is evidence: it stays where it is"


def test_reported_file_after_lock_is_flagged_and_quarantined(
    gate: HttpApiGate, client: Client, make_grant: MakeGrant
) -> None:
    gate.unlock(make_grant())
    gate.lock("performer tapped stop")
    shot = gate.session_dir("session-1") / "img_0002.cr3"
    shot.write_bytes(b"shot after stop")
    response = client.report(shot)
    assert response.status_code == 409
    body = response.json()
    assert body["within_unlock_window"] is False and body["quarantined"] is True
    assert not shot.exists()
    assert Path(body["quarantine_path"]).parent == gate.session_dir("session-1") / "quarantine"


def test_wrong_hash_and_ungranted_type_are_flagged(
    gate: HttpApiGate, client: Client, make_grant: MakeGrant
) -> None:
    gate.unlock(make_grant(capture_types=["face"]))
    shot = gate.session_dir("session-1") / "img_0003.cr3"
    shot.write_bytes(b"content")
    response = client.report(shot, sha256="0" * 64, capture_type="full_body")
    assert response.status_code == 409
    reason = response.json()["flag_reason"]
    assert "does not match" in reason and "'full_body' was not granted" in reason
    assert response.json()["quarantined"] is True


def test_report_of_missing_file_is_recorded(
    gate: HttpApiGate, client: Client, make_grant: MakeGrant, tmp_path: Path
) -> None:
    recorder = Recorder(gate)
    gate.unlock(make_grant())
    response = client.report(tmp_path / "never-written.jpg")
    assert response.status_code == 422
    assert "does not exist" in response.json()["flag_reason"]
    assert recorder.events[0].path == str(tmp_path / "never-written.jpg")


def test_malformed_report_is_rejected_clearly(client: Client) -> None:
    response = client.session.post(f"{client.base}/v1/captures", json={"file": "x"}, timeout=5)
    assert response.status_code == 422
    assert any("path" in problem for problem in response.json()["problems"])


@pytest.mark.parametrize("length", ["abc", "1e3", "-5", str(10**9)])
def test_bad_content_length_is_a_clean_400(gate: HttpApiGate, token_file: Path, length: str) -> None:
    # Raw socket: HTTP clients always send a correct Content-Length.
    host, port = gate.url.removeprefix("http://").rsplit(":", 1)
    request = (
        f"POST /v1/captures HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
        f"Authorization: Bearer {token_file.read_text().strip()}\r\n\r\n{{}}"
    )
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request.encode())
        reply = conn.makefile("rb").read()  # the server answers and closes the connection
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"bytes of JSON" in reply


def test_lease_lapse_turns_allowed_false(gate: HttpApiGate, client: Client, make_grant: MakeGrant) -> None:
    gate.unlock(make_grant(lease=0.3))
    assert client.gate()["allowed"] is True
    assert wait_until(lambda: client.gate()["allowed"] is False, timeout=5)


def test_allowed_expires_even_with_a_dead_watchdog(
    gate: HttpApiGate, client: Client, make_grant: MakeGrant
) -> None:
    # Stop the gate's own threads (as if they had died); only the HTTP server keeps running.
    gate._stop.set()
    gate._wake.set()
    for thread in gate._threads:
        thread.join(timeout=5)
    gate.unlock(make_grant(lease=0.3))
    assert client.gate()["allowed"] is True
    assert wait_until(lambda: client.gate()["allowed"] is False, timeout=5)
    assert client.gate()["reason"] == "locked: lease lapsed"


def test_the_api_gate_cannot_capture_by_itself(gate: HttpApiGate, make_grant: MakeGrant) -> None:
    gate.unlock(make_grant())
    with pytest.raises(CaptureRefusedError, match="cannot capture by itself"):
        gate.capture("face")


def test_token_file_readable_by_others_is_a_fault(
    gate_options: dict[str, Any], closing: Closing, tmp_path: Path
) -> None:
    token_file = tmp_path / "shared.token"
    token_file.write_text("x" * 40)
    os.chmod(token_file, 0o644)
    settings = HttpApiGateSettings(kind="http_api", port=0, auth_token_file=token_file)
    gate = closing(HttpApiGate(settings, **gate_options))
    status = gate.start()
    assert not status.healthy and "readable by other users" in (status.last_error or "")


def test_only_loopback_addresses_are_accepted() -> None:
    with pytest.raises(ValueError, match="loopback"):
        HttpApiGateSettings(kind="http_api", host="0.0.0.0")
    assert HttpApiGateSettings(kind="http_api", host="::1").host == "::1"


@pytest.mark.parametrize(
    ("make_path", "why"),
    [
        (lambda gate, tmp: Path("/etc/passwd"), "outside the configured capture folders"),
        (lambda gate, tmp: gate.session_dir("session-1") / ".." / ".." / "registry.token", "contains '..'"),
        (
            lambda gate, tmp: gate.session_dir("session-1") / "link.cr3",
            "outside the configured capture folders",
        ),
        (lambda gate, tmp: gate.session_dir("session-1"), "not a regular file"),
    ],
    ids=["outside", "dotdot", "symlink-out", "directory"],
)
def test_a_path_that_is_not_a_file_inside_the_capture_folders_is_refused_unread(
    gate: HttpApiGate,
    client: Client,
    make_grant: MakeGrant,
    tmp_path: Path,
    make_path: Callable[[HttpApiGate, Path], Path],
    why: str,
) -> None:
    """Finding 9.2: /etc/passwd or captures/../registry.token once entered the record as a capture."""
    recorder = Recorder(gate)
    gate.unlock(make_grant())
    secret = tmp_path / "registry.token"
    secret.write_text("rig token")
    (gate.session_dir("session-1") / "link.cr3").symlink_to(secret)
    reported = make_path(gate, tmp_path)
    response = client.report(reported, capture_type="face")
    assert response.status_code == 403, response.text
    body = response.json()
    assert why in body["flag_reason"]
    assert body["sha256"] is None and body["quarantined"] is False
    assert recorder.events[0].path == str(reported), "the attempt is reported to the session"
    assert secret.read_text() == "rig token", "nothing outside the capture folders is moved"


def test_a_client_that_resets_its_connection_prints_no_traceback(
    gate: HttpApiGate, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Capture software that crashes mid-request must not spray a traceback over the rig's
    console or log; the API goes on answering."""
    caplog.set_level(logging.WARNING, logger="agent.gate.http_api")
    host, port = gate.url.removeprefix("http://").rsplit(":", 1)
    for _ in range(3):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"GET /v1/ga")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close

    def dropped_three() -> bool:
        return sum("dropped its connection" in r.getMessage() for r in caplog.records) >= 3

    assert wait_until(dropped_three, 10), [r.getMessage() for r in caplog.records]
    assert requests.get(f"{gate.url}/v1/health", timeout=5).status_code == 401  # still answering
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out


def test_a_client_that_stalls_half_way_through_a_request_is_dropped(
    gate: HttpApiGate, token_file: Path
) -> None:
    # A dead or hostile client must not hold one of the API's threads (and its socket) for ever.
    host, port = gate.url.removeprefix("http://").rsplit(":", 1)
    request = (
        f"POST /v1/captures HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n"
        f"Authorization: Bearer {token_file.read_text().strip()}\r\n\r\n{{"
    )
    with socket.create_connection((host, int(port)), timeout=REQUEST_IDLE_LIMIT_S + 30) as conn:
        conn.sendall(request.encode())
        assert conn.recv(1024) == b"", "the server should close the connection, not answer"


def test_a_token_file_the_full_disk_cannot_take_is_an_error_and_is_not_left_empty(small_disk: Path) -> None:
    """An empty token file left by a failed first start would refuse every later start."""
    from agent.gate.errors import GateFaultError
    from agent.gate.http_api import load_or_create_token
    from tests.full_disk import fill_leaving

    path = small_disk / "gate" / "api-token"
    path.parent.mkdir(mode=0o700)
    fill_leaving(small_disk, 0)
    with pytest.raises(GateFaultError, match="No space left on device"):
        load_or_create_token(path)
    assert not path.exists()
    (small_disk / "filler").unlink()
    token = load_or_create_token(path)
    assert len(token) >= 16 and load_or_create_token(path) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
