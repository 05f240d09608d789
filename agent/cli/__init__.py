"""The ``scangate`` command line: the composition root of ScanGate."""
