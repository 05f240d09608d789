"""Read a systemd service unit the way systemd starts it: user, group, folder, environment, command line.

For places where systemd itself cannot run (a chroot, a container without an init):
``packaging/check_debs.py`` starts the registry service from the unit file the package
installed, so that the test runs the real ``ExecStart``, ``User``, ``Environment`` and
``EnvironmentFile``, not a copy of them. Only what ScanGate's units use is understood;
anything else (specifiers such as ``%h``, ``ExecStart`` prefixes, ``WorkingDirectory=~``)
is refused with :class:`UnitError` rather than guessed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

_WHOLE_WORD_VARIABLE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_BRACED_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UnitError(ValueError):
    """The unit uses something this reader does not understand, or is malformed."""


@dataclass(frozen=True)
class ServiceCommand:
    """How systemd would start the service's main process."""

    argv: list[str]
    user: str | None
    group: str | None
    working_directory: str | None
    environment: dict[str, str]


def section(text: str, name: str) -> list[tuple[str, str]]:
    """The ``Key=Value`` lines of section ``[name]`` in order (continuation lines joined)."""
    entries: list[tuple[str, str]] = []
    current: str | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        if "=" not in line:
            raise UnitError(f"not a Key=Value line: {line!r}")
        key, value = line.split("=", 1)
        if current == name:
            entries.append((key.strip(), value.strip()))
    return entries


def parse_environment_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines of an ``EnvironmentFile=`` (comments skipped, quotes removed)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if "=" not in line:
            raise UnitError(f"not a KEY=VALUE line in an environment file: {line!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        if value[:1] in {'"', "'"}:
            words = shlex.split(value)
            if len(words) != 1:
                raise UnitError(f"a quoted value must be one string: {line!r}")
            value = words[0]
        values[key] = value
    return values


def _expand(words: list[str], environment: dict[str, str]) -> list[str]:
    """systemd's rules: a whole word ``$VAR`` becomes the value split at spaces; ``${VAR}`` stays one word."""
    argv: list[str] = []
    for written in words:
        if "%" in written.replace("%%", ""):
            raise UnitError(f"specifiers (%...) are not supported here: {written!r}")
        word = written.replace("%%", "%")
        whole = _WHOLE_WORD_VARIABLE.match(word)
        if whole:
            argv.extend(environment.get(whole.group(1), "").split())
        else:
            argv.append(_BRACED_VARIABLE.sub(lambda m: environment.get(m.group(1), ""), word))
    return argv


def service_command(unit_text: str, read_file: Callable[[str], str]) -> ServiceCommand:
    """The main process of the ``[Service]`` in ``unit_text``; ``read_file`` reads an EnvironmentFile by path."""
    entries = section(unit_text, "Service")
    environment: dict[str, str] = {}
    from_files: dict[str, str] = {}
    settings: dict[str, str] = {}
    for key, value in entries:
        if key == "Environment":
            if not value:
                environment.clear()
            for assignment in shlex.split(value):
                name, _, setting = assignment.partition("=")
                environment[name] = setting
        elif key == "EnvironmentFile":
            optional = value.startswith("-")
            path = value.removeprefix("-")
            try:
                from_files.update(parse_environment_file(read_file(path)))
            except FileNotFoundError:
                if not optional:
                    raise UnitError(f"EnvironmentFile {path} does not exist") from None
        else:
            settings[key] = value
    environment.update(from_files)  # systemd: the files override Environment=
    exec_start = settings.get("ExecStart")
    if not exec_start:
        raise UnitError("the unit has no ExecStart")
    if exec_start[0] in "-@:+!":
        raise UnitError(f"ExecStart prefixes are not supported here: {exec_start!r}")
    working_directory = settings.get("WorkingDirectory")
    if working_directory is not None and not working_directory.lstrip("-").startswith("/"):
        raise UnitError(f"WorkingDirectory must be an absolute path here: {working_directory!r}")
    return ServiceCommand(
        argv=_expand(shlex.split(exec_start), environment),
        user=settings.get("User"),
        group=settings.get("Group"),
        working_directory=working_directory.lstrip("-") if working_directory else None,
        environment=environment,
    )
