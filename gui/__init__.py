"""ScanGate's PyQt6 screens: technician console, performer touchscreen, log review.

The windows sit on top of the session engine (:mod:`agent.session`) and hold no
business logic: they show :class:`~agent.session.snapshot.SessionSnapshot` values
and turn taps into controller commands. One bridge (:mod:`gui.bridge`) turns
events from agent worker threads into queued Qt signals.

This package module deliberately imports nothing from Qt, so that commands which
only *may* open a window (``scangate demo --headless``) never load Qt.
"""
