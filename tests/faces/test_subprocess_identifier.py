"""The identification child process: rosters handed over in order, a quiet end.

A technician closing the demo (or the kiosk service being stopped) kills the rig's
process while the child may be half-way through a frame. The child must then exit on
its own, without printing a traceback into the journal, and without lingering.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from agent.faces.analysis import FaceAnalyser
from agent.faces.decision import Decision
from agent.faces.engine import FaceEngine
from agent.faces.imaging import RGBImage
from agent.faces.roster import Roster, roster_from_vectors
from agent.faces.settings import IdentificationSettings
from agent.faces.subprocess_identifier import SubprocessIdentifier
from tests.conftest import REPO_ROOT

PARENT_DIES_MID_REQUEST = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from agent.faces.roster import Roster
    from agent.faces.settings import IdentificationSettings
    from agent.faces.subprocess_identifier import SubprocessIdentifier

    if __name__ == "__main__":
        identifier = SubprocessIdentifier(IdentificationSettings(), Roster([]))
        identifier._start_child()
        connection = identifier._connection
        assert connection.poll(300) and connection.recv()[0] == "ready"  # the models are loaded
        frame = np.zeros((720, 1280, 3), dtype=np.uint8)
        for _ in range(3):  # the child works on these after this process has gone
            connection.send(("analyse", frame))
        print(identifier._process.pid, flush=True)
        os._exit(0)  # as SIGKILL would: no clean-up, the pipe just closes
    """
)


def test_child_exits_quietly_when_the_parent_dies_mid_request() -> None:
    # stderr is shared with the child: run() returns only once the child has closed it too.
    done = subprocess.run(
        [sys.executable, "-c", PARENT_DIES_MID_REQUEST],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().isdigit()
    assert "Traceback" not in done.stderr, done.stderr
    assert "Error" not in done.stderr, done.stderr


def test_a_new_roster_is_taken_in_order_without_waiting_for_the_child(
    engine: FaceEngine, astronaut: RGBImage
) -> None:
    settings = IdentificationSettings()
    observed = FaceAnalyser(settings, engine=engine).observe(astronaut)
    assert observed.encoding is not None
    with_astronaut = roster_from_vectors([("p-astro", "Astronaut", [observed.encoding])])
    identifier = SubprocessIdentifier(settings, Roster([]))
    try:
        identifier.set_roster(with_astronaut)  # starts the child; its models load in the background
        assert identifier.analyse(astronaut).performer_id == "p-astro"
        # Sent one after the other while the child is busy with nothing: each is acknowledged
        # before the next frame is answered, so the frame sees the last one.
        identifier.set_roster(Roster([]))
        identifier.set_roster(with_astronaut)
        identifier.set_roster(Roster([]))
        assert identifier.analyse(astronaut).decision is Decision.UNKNOWN
        identifier.set_roster(with_astronaut)
        assert identifier.analyse(astronaut).performer_id == "p-astro"
    finally:
        identifier.close()
