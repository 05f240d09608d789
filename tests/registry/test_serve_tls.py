"""`scangate registry serve` on a network: HTTPS itself, or plain HTTP only behind a stated TLS proxy.

The real server runs as a subprocess on loopback with a certificate generated in
tmp_path; the real rig client verifies it against the test CA, and refuses it
against any other CA.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli.main import main
from agent.registry_client.client import RegistryClient
from agent.registry_client.errors import RegistryTLSError
from agent.registry_client.settings import RegistrySettings
from agent.signing import Signer, public_key_to_b64
from registry.db import Database
from registry.setup import SeedResult, initialise, seed
from tests.registry.conftest import PRODUCTION, SEED_PERFORMERS
from tests.registry.instances import free_port
from tests.tls_certs import make_server_tls, passphrase_protected_copy

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SeededDb:
    url: str
    seeded: SeedResult


@pytest.fixture
def seeded_db(tmp_path: Path) -> SeededDb:
    """An initialised SQLite registry with the registry suite's production, rig and performers."""
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    database = Database.open(url)
    try:
        initialise(database)
        rig = Signer(Ed25519PrivateKey.generate())
        seeded = seed(database, rig_public_key=public_key_to_b64(rig.public_key), performers=SEED_PERFORMERS)
    finally:
        database.close()
    return SeededDb(url=url, seeded=seeded)


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serving(db_url: str, log: Path, *args: str, probe_verify: str | bool = True) -> Iterator[Served]:
    """A `scangate registry serve` subprocess on a free port, answering /v1/health; stopped after.

    ``probe_verify`` is the CA file the readiness probe trusts (https) or False for http.
    """
    port = free_port()
    command = [sys.executable, "-m", "agent.cli.main", "registry", "serve", "--db", db_url]
    command += ["--port", str(port), "--no-access-log", *args]
    scheme = "http" if probe_verify is False else "https"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    served = Served(process, port, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"serve exited:\n{served.output()}"
            assert time.monotonic() < deadline, f"serve did not answer:\n{served.output()}"
            try:
                url = f"{scheme}://127.0.0.1:{port}/v1/health"
                if requests.get(url, timeout=2, verify=probe_verify).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def rig_settings(url: str, db: SeededDb, tmp_path: Path, ca_file: Path | None) -> RegistrySettings:
    return RegistrySettings.model_validate(
        {
            "url": url,
            "token": db.seeded.rig_token,
            "pinned_key_ids": (db.seeded.key_id,),
            "cache_dir": tmp_path / "cache",
            "ca_bundle": ca_file,
            "retries": 0,
            "connect_timeout_s": 5.0,
            "read_timeout_s": 5.0,
        }
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_serve_over_tls_is_verified_by_the_rig_client_and_an_unknown_ca_is_refused(
    seeded_db: SeededDb, tmp_path: Path
) -> None:
    tls = make_server_tls(tmp_path / "pki", "registry")
    stranger = make_server_tls(tmp_path / "other-pki", "stranger")
    tls_args = ("--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file))
    with serving(seeded_db.url, tmp_path / "serve.log", *tls_args, probe_verify=str(tls.ca_file)) as served:
        url = f"https://127.0.0.1:{served.port}"
        with RegistryClient(rig_settings(url, seeded_db, tmp_path, tls.ca_file)) as client:
            assert client.health().status == "ok"
            consents = client.consents("p-ada", PRODUCTION)
            assert [c.performer.performer_id for c in consents.consents] == ["p-ada"]
        for ca_file in (stranger.ca_file, None):  # another CA, and the system's CAs
            settings = rig_settings(url, seeded_db, tmp_path, ca_file)
            with RegistryClient(settings) as client, pytest.raises(RegistryTLSError) as refused:
                client.health()
            message = refused.value.message()
            assert "certificate could not be verified" in message
            assert url in message and "registry.ca_bundle" in message
        with pytest.raises(requests.exceptions.ConnectionError):  # no plain HTTP on the TLS port
            requests.get(f"http://127.0.0.1:{served.port}/v1/health", timeout=5)
    assert f"on {url} " in served.output()


def test_a_non_loopback_address_without_tls_is_refused(
    seeded_db: SeededDb, capsys: pytest.CaptureFixture[str]
) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.10", "registry.example"):
        status, out, err = run(capsys, "registry", "serve", "--db", seeded_db.url, "--host", host)
        assert status == 2, err
        assert "serving" not in out
        assert f"{host}" in err and "plain HTTP" in err
        assert "--tls-cert" in err and "--behind-tls-proxy" in err
        assert "Traceback" not in err and "internal error" not in err


def test_behind_tls_proxy_serves_plain_http_and_says_so(seeded_db: SeededDb, tmp_path: Path) -> None:
    with serving(
        seeded_db.url, tmp_path / "serve.log", "--host", "0.0.0.0", "--behind-tls-proxy", probe_verify=False
    ) as served:
        pass
    output = served.output()
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert any("plain HTTP" in line and "TLS is expected from the proxy" in line for line in warnings), output
    assert f"on http://0.0.0.0:{served.port} " in output


def test_tls_options_go_together_and_bad_files_are_explained(
    seeded_db: SeededDb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = make_server_tls(tmp_path / "pki", "registry")
    other = make_server_tls(tmp_path / "other", "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n", encoding="utf-8")
    encrypted = passphrase_protected_copy(tls.key_file, tmp_path / "encrypted-key.pem")
    serve = ("registry", "serve", "--db", seeded_db.url)
    cases: list[tuple[tuple[str, ...], str]] = [
        (("--tls-cert", str(tls.cert_file)), "--tls-key"),
        (("--tls-key", str(tls.key_file)), "--tls-cert"),
        (("--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(tls.key_file)), "missing.pem"),
        (("--tls-cert", str(garbage), "--tls-key", str(tls.key_file)), str(garbage)),
        (("--tls-cert", str(tls.cert_file), "--tls-key", str(garbage)), str(garbage)),
        (("--tls-cert", str(tls.cert_file), "--tls-key", str(other.key_file)), "does not match"),
        (("--tls-cert", str(tls.cert_file), "--tls-key", str(encrypted)), "encrypted with a passphrase"),
        (("--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file), "--behind-tls-proxy"), "either"),
    ]
    for args, expected in cases:
        status, out, err = run(capsys, *serve, *args)
        assert status == 2, (args, err)
        assert expected in err, (args, err)
        assert "serving" not in out
        assert "Traceback" not in err and "internal error" not in err


def test_a_port_in_use_is_explained_before_claiming_to_serve(
    seeded_db: SeededDb, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, out, err = run(capsys, "registry", "serve", "--db", seeded_db.url, "--port", str(port))
    assert status == 2, err
    assert "serving" not in out
    assert f"127.0.0.1:{port}" in err and "in use" in err
