"""A whole demo rig with its wall clock injected: 48 h slow, nothing unlocks, and the reason is named."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.gate.models import GateStatus
from agent.rig import Rig
from agent.session.model import Phase
from registry.demo import prepare_demo

TYPES = frozenset({"face", "facs_expressions"})


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_rig_clock_48h_slow_never_unlocks_and_names_clock_skew(tmp_path: Path) -> None:
    env = prepare_demo(tmp_path / "demo")
    unlocked: list[GateStatus] = []
    try:
        slow = timedelta(hours=48)
        rig = Rig.from_config(env.config, clock=lambda: datetime.now(UTC) - slow, synthetic_liveness=True)
        assert rig.client is not None and rig.clock is rig.client.clock
        assert rig.gate.status().locked
        rig.gate.add_status_listener(lambda status: None if status.locked else unlocked.append(status))
        try:
            rig.start()
            assert wait_for(lambda: rig.health().roster_size > 0, 60), rig.health().registry_detail
            rig.controller.start_session("demo-technician", TYPES)
            assert wait_for(lambda: rig.controller.snapshot().last_record is not None, 60)
            snapshot = rig.controller.snapshot()
            record = dict(snapshot.last_record or {})
            poll = rig.poller.health() if rig.poller is not None else None
        finally:
            rig.stop()
    finally:
        env.close()
    assert not unlocked
    assert snapshot.phase is not Phase.UNLOCKED
    assert record.get("outcome") == "refused"
    codes = record.get("reason_codes")
    assert isinstance(codes, list) and "clock_skew" in codes, codes
    assert poll is not None and poll.clock is not None
    assert abs(poll.clock.offset_s - slow.total_seconds()) < 5
    clock = record.get("registry_clock")
    assert isinstance(clock, dict), record
    assert abs(clock["offset_s"] - slow.total_seconds()) < 5
    assert clock["source"] == "registry"
    assert clock["registry_key_id"].startswith("ed25519:")
    assert 0 <= clock["uncertainty_s"] <= clock["rtt_s"]
