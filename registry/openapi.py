"""The registry's OpenAPI document, committed as registry/openapi.json.

Regenerate after changing an endpoint or a wire model::

    scangate registry openapi --output registry/openapi.json
    python -m registry.openapi            # the same

A test checks that the committed file equals what the server serves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from registry.app import build_app
from registry.errors import InvalidInputError

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document exactly as the app serves it at /openapi.json."""
    return build_app(None).openapi()


def openapi_text(document: dict[str, Any] | None = None) -> str:
    """The document as committed: 2-space indented JSON with a final newline."""
    return json.dumps(document or openapi_document(), indent=2, ensure_ascii=False) + "\n"


def check_openapi_file(path: Path = OPENAPI_PATH) -> None:
    """Raise InvalidInputError when ``path`` differs from the current document."""
    try:
        committed = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read the OpenAPI document: {exc}", where=str(path)) from None
    if committed != openapi_document():
        raise InvalidInputError(
            "the OpenAPI document is out of date",
            where=str(path),
            hint="regenerate it: scangate registry openapi --output registry/openapi.json",
        )


def main() -> int:
    """Write registry/openapi.json (or the path given as the only argument)."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OPENAPI_PATH
    target.write_text(openapi_text(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
