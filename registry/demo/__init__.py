"""The ScanGate demo: an embedded registry, seeded data and a stand-in camera.

Lives on the registry side because it starts and seeds the reference registry;
the agent never imports it. ``scangate demo`` (GUI) and ``scangate demo
--headless --scenario NAME`` both build on :func:`prepare_demo`.
"""

from registry.demo.environment import DemoEnvironment, prepare_demo
from registry.demo.scenarios import SCENARIOS, run_headless

__all__ = ["SCENARIOS", "DemoEnvironment", "prepare_demo", "run_headless"]
