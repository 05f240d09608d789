"""A module that is installed but cannot load a system library: name the library, not ScanGate.

Python reports a native extension whose shared library is absent as an ``ImportError`` with
the dynamic loader's message ("libGL.so.1: cannot open shared object file: No such file or
directory"). Reinstalling or updating ScanGate does not fix that; installing the Debian
package that provides the library does.
"""

from __future__ import annotations

import re

from agent.errors import ScanGateError

_MISSING_SHARED_OBJECT = re.compile(r"(?P<library>[^\s:/]+\.so[.\d]*): cannot open shared object file")


class MissingSystemLibraryError(ScanGateError):
    """A module is installed but a system library it loads is not (e.g. ``libGL.so.1``)."""


def missing_system_library_error(exc: ImportError) -> MissingSystemLibraryError | None:
    """The error naming the system library ``exc`` could not load, or None for another failure."""
    found = _MISSING_SHARED_OBJECT.search(str(exc))
    if found is None:
        return None
    library = found["library"]
    module = (exc.name or "").split(".")[0] or "a module"
    return MissingSystemLibraryError(
        f"{module} cannot load the system library {library}, which is not installed here",
        hint=f"install the Debian package that provides {library} ('apt-file search {library}' names it;"
        " the rig .deb declares every library it needs, so 'sudo apt-get -f install' completes it)",
    )


def system_library_hint(exc: ImportError, default: str) -> str:
    """The hint for an import failure inside a component: the system library to install when
    the dynamic loader could not find one, else ``default``."""
    failure = missing_system_library_error(exc)
    if failure is None or failure.hint is None:
        return default
    return failure.hint
