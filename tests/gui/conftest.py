"""Fixtures of the GUI tests: a real demo rig (embedded registry, stand-in camera) and its screens.

Everything is real: the reference registry on loopback (SQLite), the registry
client and consent policy, the camera worker playing the stand-in clip (the
public-domain astronaut portrait from scikit-image), dlib recognition, the
session engine, the built-in still-capture gate and the signed session log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PyQt6.QtWidgets import QApplication

from agent.rig import Rig
from gui.app import RigScreens, open_screens
from gui.theme import apply_theme
from registry import admin_ops
from registry.demo import DemoEnvironment, prepare_demo
from registry.demo.environment import STAND_IN_ID, STAND_IN_NAME
from registry.demo.launch import PRODUCTION_ID
from registry.keys import load_active_signer
from registry.setup import SeedPerformer, demo_grant

WAIT_MS = 45_000
"""Upper bound for anything a test waits for (recognition on a shared 2-core machine)."""

TECHNICIAN = "Sam Okafor"


@pytest.fixture(scope="session")
def themed_app(qapp: QApplication) -> QApplication:
    """The pytest-qt QApplication with the ScanGate theme applied."""
    apply_theme(qapp)
    return qapp


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    """A fresh demo rig folder with its embedded registry running."""
    environment = prepare_demo(tmp_path / "demo")
    yield environment
    environment.close()


def make_stand_in_a_minor(environment: DemoEnvironment) -> None:
    """Supersede the stand-in's consent with one for a minor (a guardian must co-confirm)."""
    previous = environment.seed.consents[STAND_IN_ID]
    performer = SeedPerformer(STAND_IN_ID, STAND_IN_NAME, minor=True)
    grant = demo_grant(performer, PRODUCTION_ID, datetime.now(UTC), consent_id="c-minor-2")
    grant = grant.model_copy(update={"supersedes": previous.consent_id})
    with environment.registry.database.write() as session:
        admin_ops.grant_consent(session, grant, load_active_signer(session))


def start_screens(environment: DemoEnvironment) -> RigScreens:
    """Assemble and start the rig, and open both windows on it."""
    rig = Rig.from_config(environment.config, synthetic_liveness=True)
    rig.start()
    screens = open_screens(rig, technician=TECHNICIAN)
    screens.show()
    return screens


def stop_screens(screens: RigScreens) -> None:
    """Close the windows and stop the rig (the gate locks)."""
    screens.close()
    screens.rig.stop()


@pytest.fixture
def screens(themed_app: QApplication, demo_env: DemoEnvironment) -> Iterator[RigScreens]:
    """The demo rig running with the console and the performer screen open."""
    opened = start_screens(demo_env)
    yield opened
    stop_screens(opened)
