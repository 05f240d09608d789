"""Small helpers for writing files so that they survive a crash or power loss."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def fsync_dir(directory: Path) -> None:
    """Make a directory entry change (create, rename, unlink) durable.

    POSIX needs the directory itself fsynced; Windows cannot open directories
    this way and persists entries with the file, so this is a no-op there.
    """
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def create_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``data`` and permissions ``mode``; fail if it exists.

    The bytes are fsynced before the directory entry is, so after a crash the
    file is either absent or complete.

    Raises:
        FileExistsError: ``path`` already exists.
        OSError: any other I/O failure (the partial file is removed).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY, mode)
    try:
        write_all(fd, data)
        os.fsync(fd)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)
    fsync_dir(path.parent)


def write_new_file_atomically(path: Path, data: bytes, mode: int) -> bool:
    """Create ``path`` holding ``data`` atomically, never replacing an existing file.

    Writes a temporary file beside it, then hard-links it into place (link
    fails if the target exists, unlike rename), so concurrent creators cannot
    overwrite each other and no reader ever sees a partial file.

    Returns:
        True if this call created the file, False if it already existed.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    create_exclusive(temp, data, mode)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError:
        # no hard links here (FAT, some network shares): exclusive create still never overwrites
        try:
            create_exclusive(path, data, mode)
        except FileExistsError:
            return False
    finally:
        temp.unlink()
        fsync_dir(path.parent)
    return True


def replace_file_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path``, replacing any existing file, so a crash never leaves a mix.

    The bytes go to a temporary file in the same folder, are fsynced, the file
    is renamed over ``path`` and the folder is fsynced: after a crash ``path``
    holds either the old or the new content.

    Raises:
        OSError: the file could not be written (the temporary file is removed, ``path`` is unchanged).
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def read_at(fd: int, length: int, offset: int) -> bytes:
    """Read ``length`` bytes at ``offset`` (portable: os.pread is POSIX-only)."""
    os.lseek(fd, offset, os.SEEK_SET)
    chunks: list[bytes] = []
    while length > 0:
        chunk = os.read(fd, length)
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
    return b"".join(chunks)
