"""``scangate registry serve`` stops on SIGTERM even while a client holds a request open.

A graceful uvicorn stop waits for every open request to finish. A rig whose network drops
half-way through an upload leaves a request that never finishes, and a rig that opens a new
keep-alive connection as the stop begins keeps it busy with its rechecks: without a limit
the registry went on running (and answering) until systemd killed it, 90 s by default.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from registry.cli_service import GRACEFUL_SHUTDOWN_S
from registry.db import Database
from registry.setup import initialise
from tests.registry.instances import running_instances


def test_serve_stops_on_sigterm_while_a_client_stalls_half_way_through_a_request(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    database = Database.open(db_url)
    initialise(database)
    database.close()
    with running_instances(db_url, 1, tmp_path / "logs") as [instance]:
        # A rig whose network dropped mid-upload: the headers and part of the body arrived.
        stalled = socket.create_connection(("127.0.0.1", int(instance.url.rsplit(":", 1)[1])))
        stalled.sendall(
            b"POST /v1/consents/c-1/confirmations HTTP/1.1\r\nHost: registry\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"session_id": '
        )
        # a second client on a keep-alive connection, as a rig rechecking its consent
        with requests.Session() as http:
            http.get(instance.url + "/v1/health", timeout=5).raise_for_status()
            asked = time.monotonic()
            instance.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                instance.process.wait(timeout=GRACEFUL_SHUTDOWN_S + 30)
            took = time.monotonic() - asked
        stalled.close()
    assert took < GRACEFUL_SHUTDOWN_S + 30, f"the registry was still running {took:.0f} s after SIGTERM"
