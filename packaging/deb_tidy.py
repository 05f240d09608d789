"""Make a PyInstaller bundle's binaries fit a Debian package (used by debs.py on its copy of the bundle).

PyInstaller copies libraries as it finds them in the build environment. Two things in such
copies are wrong in a system package, and lintian says so:

- executable bits on shared libraries (``shared-library-is-executable``): dropped;
- run-time search paths of the build machine (``custom-library-search-path``: e.g. a
  pyenv Python's ``/root/.pyenv/versions/3.11.7/lib`` in ``libpython3.11.so``): entries
  outside the bundle are removed with ``patchelf`` (which only shortens the string, in
  place); ``$ORIGIN``-relative ones stay.

The libraries are NOT stripped: ``strip`` on wheel libraries that auditwheel had rewritten
with patchelf breaks them (tried: NumPy's OpenBLAS then fails to load with "ELF load command
address/offset not page-aligned" and the rig cannot start), so ``unstripped-binary-or-object``
is overridden with that reason (deb_scripts.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
BATCH = 200
_RUNPATH = re.compile(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.*)\]")


class ToolMissingError(RuntimeError):
    """readelf (binutils) or patchelf, which the packaging needs, is not installed."""


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(
            f"{name} is needed to build the packages (Debian/Ubuntu: apt-get install {package})."
        )
    return found


def elf_files(folder: Path) -> list[Path]:
    """Every ELF file (libraries, extension modules, executables) under ``folder``, symlinks excluded."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == ELF_MAGIC:
                    found.append(path)
    return found


def _is_shared_library(path: Path) -> bool:
    return path.name.endswith(".so") or ".so." in path.name


def foreign_search_paths(files: list[Path]) -> dict[Path, tuple[str, list[str]]]:
    """Files whose RUNPATH/RPATH names folders outside the bundle: file -> (whole path, entries to keep)."""
    readelf = _tool("readelf", "binutils")
    found: dict[Path, tuple[str, list[str]]] = {}
    for start in range(0, len(files), BATCH):
        batch = files[start : start + BATCH]
        output = subprocess.run(
            [readelf, "--dynamic", "--wide", *map(str, batch)], capture_output=True, text=True, check=False
        ).stdout
        current: Path | None = batch[0] if len(batch) == 1 else None
        for line in output.splitlines():
            if line.startswith("File: "):
                current = Path(line.removeprefix("File: ").strip())
            match = _RUNPATH.search(line)
            if match and current is not None:
                entries = match.group(1).split(":")
                keep = [entry for entry in entries if entry.startswith(("$ORIGIN", "${ORIGIN}"))]
                if keep != entries:
                    found[current] = (match.group(1), keep)
    return found


def tidy_bundle(bundle: Path) -> dict[str, int]:
    """Drop exec bits of libraries and remove foreign search paths in ``bundle``; returns counts."""
    files = elf_files(bundle)
    if not files:
        return {"ELF files": 0}
    patchelf = _tool("patchelf", "patchelf")
    libraries = [path for path in files if _is_shared_library(path)]
    for library in libraries:
        library.chmod(0o644)
    foreign = foreign_search_paths(files)
    for path, (_whole, keep) in foreign.items():
        if keep:
            subprocess.run([patchelf, "--set-rpath", ":".join(keep), str(path)], check=True)
        else:
            subprocess.run([patchelf, "--remove-rpath", str(path)], check=True)
    return {
        "ELF files": len(files),
        "libraries": len(libraries),
        "search paths removed": len(foreign),
    }
