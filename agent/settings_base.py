"""Shared building blocks of ScanGate's pydantic settings models.

Every settings model forbids unknown keys (a typo in a config file is an error,
never silently ignored) and describes every field, so the commented default
config and ``scangate check-config`` can explain each key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo


class StrictModel(BaseModel):
    """Base for config and wire models: unknown keys rejected, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _resolve_against_config_dir(value: Path, info: ValidationInfo) -> Path:
    """Resolve a relative path against the directory of the config file.

    A config file is usually written next to the files it names, so
    ``store_dir = "templates"`` means the folder beside the config, not one
    relative to wherever the technician happened to start ScanGate.
    """
    if "\0" in str(value):
        raise ValueError("a path cannot contain a NUL character")
    try:
        value = value.expanduser()
    except RuntimeError:  # '~name/...' for an unknown user, or no home directory at all
        raise ValueError(f"cannot expand '~' in {str(value)!r}: no such user or home directory") from None
    context: dict[str, Any] = info.context or {}
    base = context.get("config_dir")
    if not value.is_absolute() and base is not None:
        value = Path(base) / value
    return value


ConfigPath = Annotated[Path, AfterValidator(_resolve_against_config_dir)]
"""A filesystem path in a config file; relative paths are relative to the file."""
