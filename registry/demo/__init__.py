"""The ScanGate demo: an embedded registry, seeded data and a stand-in camera.

Lives on the registry side because it starts and seeds the reference registry;
the agent never imports it. ``scangate demo`` (GUI) and ``scangate demo
--headless --scenario NAME`` both build on :func:`prepare_demo`.

The names below are imported on first use: :mod:`registry.demo.launch` must stay
light (``scangate demo`` paints its console before the registry is imported).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.demo.environment import DemoEnvironment, prepare_demo
    from registry.demo.scenarios import SCENARIOS, run_headless

__all__ = ["SCENARIOS", "DemoEnvironment", "prepare_demo", "run_headless"]
_HOMES = {
    "DemoEnvironment": "registry.demo.environment",
    "prepare_demo": "registry.demo.environment",
    "SCENARIOS": "registry.demo.scenarios",
    "run_headless": "registry.demo.scenarios",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'registry.demo' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
