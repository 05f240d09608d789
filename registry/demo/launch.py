"""``scangate demo`` with windows: the demo's parts, started after the console is painted.

Light to import (no registry server, NumPy, OpenCV or face models): ``scangate
demo`` imports it before Qt and shows the console from the names here; the demo's
registry and rig are imported and started later, part by part
(:class:`agent.startup.RigStartup`).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from agent.startup import RigStartup, StartupStep

if TYPE_CHECKING:
    from agent.rig import Rig
    from registry.demo.environment import DemoEnvironment

RIG_ID = "demo-rig"
RIG_NAME = "Demo rig — Stage 4 FACS booth"
PRODUCTION_ID = "demo-production"
LIVENESS = "synthetic"
"""The stand-in camera cannot do a challenge: the demo's liveness is synthetic, and says so."""


def _stand_in_template() -> tuple[float, ...]:  # in the spawned process
    from registry.stand_in import compute_stand_in_encoding  # noqa: PLC0415

    return compute_stand_in_encoding()


class DemoLaunch:
    """The demo's embedded registry, then its rig: the steps for the console's start-up."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.environment: DemoEnvironment | None = None
        # The stand-in's template needs the face models (seconds): computed in another
        # process from now on, while this one paints the console and imports the registry.
        executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        try:
            self._template: Future[tuple[float, ...]] = executor.submit(_stand_in_template)
        finally:
            executor.shutdown(wait=False)

    def startup(self) -> RigStartup:
        """Registry first (seeded, on loopback), then the rig on its configuration."""
        registry = StartupStep("registry", "Demo consent registry (embedded)", self._prepare)
        return RigStartup(self._make_rig, before=[registry], close_before=self.close)

    def close(self) -> None:
        """Stop the demo's registry (if it started) and the template process (if still running)."""
        self._template.cancel()
        if self.environment is not None:
            self.environment.close()

    def _prepare(self) -> None:
        from registry.demo.environment import prepare_demo  # noqa: PLC0415 - SQLAlchemy, FastAPI
        from registry.stand_in import background_result  # noqa: PLC0415

        self.environment = prepare_demo(self.out_dir, stand_in_template=background_result(self._template))

    def _make_rig(self) -> Rig:
        from agent.rig import Rig  # noqa: PLC0415

        assert self.environment is not None, "the registry step runs first"
        return Rig.from_config(self.environment.config, synthetic_liveness=True)
