"""Entry point of the frozen ``scangate`` executable (PyInstaller one-folder bundle)."""

from __future__ import annotations

import multiprocessing

from agent.cli.main import entry

if __name__ == "__main__":
    # Identification runs in a child process; a frozen executable must hand such children
    # to multiprocessing instead of running the CLI again.
    multiprocessing.freeze_support()
    entry()
