"""``scangate demo`` with windows: the demo's parts, started after the console is painted.

Light to import (no registry server, NumPy, OpenCV or face models): ``scangate
demo`` imports it before Qt and shows the console from the names here; the demo's
registry and rig are imported and started later, part by part
(:class:`agent.startup.RigStartup`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.startup import RigStartup, StartupStep

if TYPE_CHECKING:
    from agent.faces.subprocess_identifier import SubprocessIdentifier
    from agent.rig import Rig
    from registry.demo.environment import DemoEnvironment

RIG_ID = "demo-rig"
RIG_NAME = "Demo rig — Stage 4 FACS booth"
PRODUCTION_ID = "demo-production"
LIVENESS = "synthetic"
"""The stand-in camera cannot do a challenge: the demo's liveness is synthetic, and says so."""


def start_demo_identifier() -> SubprocessIdentifier:
    """Start the identification child a demo rig will use, with the demo's settings.

    Started first, it loads the face models in its own process while this one imports and
    seeds the registry; :meth:`agent.rig.Rig.from_config` then takes it (or, for a rig that
    measures landmarks, replaces it). The caller closes it if no rig takes it.
    """
    from agent.faces.roster import Roster  # noqa: PLC0415 - after the first paint
    from agent.faces.settings import IdentificationSettings  # noqa: PLC0415
    from agent.faces.subprocess_identifier import SubprocessIdentifier  # noqa: PLC0415

    identifier = SubprocessIdentifier(IdentificationSettings(), Roster(()), landmarks=False)
    identifier.start()
    return identifier


class DemoLaunch:
    """The demo's embedded registry, then its rig: the steps for the console's start-up.

    The face models load once, in the rig's identification process: it is started first,
    computes the stand-in's template while this process imports and starts the registry,
    and is then handed to the rig.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.environment: DemoEnvironment | None = None
        self._identifier: SubprocessIdentifier | None = None

    def startup(self) -> RigStartup:
        """Registry first (seeded, on loopback), then the rig on its configuration."""
        registry = StartupStep("registry", "Demo consent registry (embedded)", self._prepare)
        return RigStartup(self._make_rig, before=[registry], close_before=self.close)

    def close(self) -> None:
        """Stop the demo's registry and the identification process, whichever started (idempotent)."""
        if self._identifier is not None:
            self._identifier.close()  # the rig's, if the rig took it: closing twice is harmless
        if self.environment is not None:
            self.environment.close()

    def _prepare(self) -> None:
        identifier = start_demo_identifier()  # loads the models while this process imports the registry
        self._identifier = identifier
        from registry.demo.environment import prepare_demo  # noqa: PLC0415 - SQLAlchemy, FastAPI
        from registry.stand_in import stand_in_frame  # noqa: PLC0415

        template = identifier.encode(stand_in_frame())
        self.environment = prepare_demo(self.out_dir, stand_in_template=template)

    def _make_rig(self) -> Rig:
        from agent.rig import Rig  # noqa: PLC0415

        assert self.environment is not None, "the registry step runs first"
        return Rig.from_config(self.environment.config, synthetic_liveness=True, identifier=self._identifier)
