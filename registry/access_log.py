"""The registry's access log, without query strings: they name performers.

A rig asks ``GET /v1/consents?performer_id=...&production_id=...``: uvicorn's access line
would put which performer was checked, from which rig address and when, into the server's
log (journald, log shippers), where a performer's union never agreed to it going. The
access log keeps the method, path, status and client address, which is what an operator
needs to see who called what; the query string is cut off before the line is formatted.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

ACCESS_ARGS = 5
"""uvicorn's access lines: (client address, method, path with query, HTTP version, status)."""


class WithoutQueryString(logging.Filter):
    """Cuts the query string off the path of uvicorn's access-log records (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record``'s path argument in place; always keep the record."""
        args = record.args
        if isinstance(args, tuple) and len(args) == ACCESS_ARGS and isinstance(path := args[2], str):
            record.args = (args[0], args[1], path.split("?", 1)[0], args[3], args[4])
        return True


def access_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with :class:`WithoutQueryString` on its access lines.

    Given as ``log_config``, so every worker process configures it too (by import path).
    """
    from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415 - serve imports uvicorn itself

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"without_query_string": {"()": f"{__name__}.WithoutQueryString"}}
    config["handlers"]["access"]["filters"] = ["without_query_string"]
    return config
