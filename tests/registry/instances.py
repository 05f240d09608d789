"""Several real ``scangate registry serve`` processes on one database.

A production that outgrows one registry machine runs several registry
processes on one PostgreSQL database; the multi-instance test and
``tests/benchmarks/bench_registry_instances.py`` start them with
:func:`running_instances`, each on its own loopback port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Instance:
    """One running registry process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _launch(db_url: str, log: Path, workers: int, access_log: bool) -> Instance:
    port = free_port()
    command = [sys.executable, "-m", "agent.cli.main", "registry", "serve", "--db", db_url]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--access-log" if access_log else "--no-access-log"]
    with log.open("wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    return Instance(url=f"http://127.0.0.1:{port}", process=process, log=log)


def _wait_healthy(instance: Instance, deadline: float) -> None:
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            raise RuntimeError(f"registry at {instance.url} exited:\n{instance.log.read_text()}")
        try:
            if requests.get(instance.url + "/v1/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"registry at {instance.url} did not answer in {START_TIMEOUT_S:.0f} s")


def stop(instance: Instance) -> None:
    """Stop one registry process (SIGTERM, then SIGKILL after 10 s)."""
    if instance.process.poll() is None:
        instance.process.terminate()
        try:
            instance.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            instance.process.kill()
            instance.process.wait(timeout=10)


@contextmanager
def running_instances(
    db_url: str, count: int, log_dir: Path, *, workers: int = 1, access_log: bool = False
) -> Iterator[list[Instance]]:
    """``count`` registry processes serving ``db_url`` (initialised), started together; stopped after.

    Each process writes its output (and its access log, with ``access_log``) to a file in ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    instances: list[Instance] = []
    try:
        for index in range(count):
            instances.append(_launch(db_url, log_dir / f"registry-{index + 1}.log", workers, access_log))
        deadline = time.monotonic() + START_TIMEOUT_S
        for instance in instances:
            _wait_healthy(instance, deadline)
        yield instances
    finally:
        for instance in instances:
            stop(instance)
