"""The technician console says how the rig establishes liveness, and which step a challenge is on.

Real demo rig (embedded registry, stand-in camera, synthetic challenge) for the running
challenge; a rig built from a configuration with ``[liveness] method = "off"`` for the warning.
"""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from agent.rig import Rig
from agent.session.model import Phase
from gui.app import RigScreens, open_screens
from registry.demo import DemoEnvironment
from tests.gui.conftest import WAIT_MS


def test_the_console_names_a_synthetic_demo_challenge_and_its_current_step(
    qtbot: QtBot, screens: RigScreens
) -> None:
    """Issue 10: the console showed 'Liveness check' and nothing of the step, real or synthetic."""
    console = screens.console
    assert console.liveness_mode.isVisible()
    assert console.liveness_mode.title.text().startswith("SYNTHETIC liveness (demo)")
    console.start_button.click()

    def on_a_step() -> bool:
        snapshot = console.current_snapshot
        return snapshot is not None and snapshot.phase is Phase.CHALLENGING and snapshot.challenge is not None

    qtbot.waitUntil(on_a_step, timeout=WAIT_MS)
    reason = console.banner.reason.text()
    assert reason.startswith("SYNTHETIC liveness (demo)") and "step 1 of " in reason, reason
    assert console.banner.timer.text().endswith(" s left")


def test_the_console_warns_all_the_time_when_liveness_is_off(
    qtbot: QtBot, themed_app: object, demo_env: DemoEnvironment
) -> None:
    config = demo_env.config
    config = config.model_copy(update={"liveness": config.liveness.model_copy(update={"method": "off"})})
    rig = Rig.from_config(config)
    opened = open_screens(rig)
    try:
        opened.show()
        warning = opened.console.liveness_mode
        assert warning.isVisible()
        assert warning.title.text().startswith("LIVENESS OFF")
        assert "[liveness] method" in warning.text.text()
        assert not hasattr(warning, "dismissed"), "a configuration fact is not dismissable"
    finally:
        opened.close()
        rig.stop()
