"""Owner-only files and folders for everything that holds personal data or keys.

Session logs, the upload outbox, the open-session journal, the rig signing key,
face templates, captures and the registry database name people or prove who
signed: ScanGate creates them mode 0600 in folders mode 0700, whatever the
process umask. Files are created with their final mode (``os.open`` with
``O_CREAT`` and 0600), never written first and restricted afterwards, so there
is no moment at which another user could open them.

SQLite creates its ``-wal`` and ``-shm`` files with the permissions of the
database file, so a database file created here (by :func:`prepare_private_sqlite`,
before SQLite opens it) keeps all three private.

On Windows modes mean little; the per-user data folder is private by its ACLs.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from agent.durable import O_BINARY, fsync_dir

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parents, each mode 0700.

    A folder that already exists is left as it is (it may be the user's own, e.g.
    the current directory); the files ScanGate puts in it are 0600 anyway.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # a concurrent creator won the race
            folder.mkdir(mode=PRIVATE_DIR_MODE)
            restrict(folder, PRIVATE_DIR_MODE)
            fsync_dir(folder.parent)
    if not directory.is_dir():
        raise NotADirectoryError(f"not a folder: {directory}")


def restrict(path: Path, mode: int = PRIVATE_FILE_MODE) -> None:
    """Set ``path``'s mode (umask-proof); a no-op on Windows."""
    if os.name != "nt":
        os.chmod(path, mode)


def private_file_opener(path: str, flags: int) -> int:
    """An ``opener`` for :func:`open`: creates the file 0600 and makes an existing one 0600.

    Tightening an existing file repairs files written by older versions with the
    umask's mode (e.g. 0644).
    """
    fd = os.open(path, flags | O_BINARY, PRIVATE_FILE_MODE)
    if os.name != "nt":
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
        except OSError:
            os.close(fd)
            raise
    return fd


def open_private(path: Path, flags: int) -> int:
    """``os.open`` for a private file (see :func:`private_file_opener`); returns the descriptor."""
    return private_file_opener(str(path), flags)


def prepare_private_sqlite(path: Path) -> None:
    """Make sure the SQLite database ``path`` and its folder exist and are owner-only.

    Call before SQLite opens the file: an empty file is a valid empty database,
    and SQLite gives the ``-wal``/``-shm`` files it creates later the same mode.
    Companion files left by an older version are tightened too.
    """
    private_dir(path.parent)
    existed = path.exists()
    os.close(open_private(path, os.O_RDWR | os.O_CREAT))
    if not existed:
        fsync_dir(path.parent)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            restrict(companion)
