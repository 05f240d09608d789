"""``registry serve``'s access log names the path and the status, never a query string.

A rig's consent lookup carries the performer's id in its query string; the server's log
(journald, log shippers) must not collect which performer was checked, from where, when.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests

from registry.access_log import WithoutQueryString
from registry.db import Database
from registry.setup import initialise
from tests.registry.instances import running_instances, stop

PERFORMER = "P-ACCESS-LOG-7731"


@pytest.mark.parametrize("workers", [1, 2])
def test_the_access_log_keeps_the_request_but_not_the_performer(tmp_path: Path, workers: int) -> None:
    db_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    database = Database.open(db_url)
    initialise(database)
    database.close()
    with running_instances(db_url, 1, tmp_path / "logs", workers=workers, access_log=True) as [instance]:
        answer = requests.get(
            f"{instance.url}/v1/consents",
            params={"performer_id": PERFORMER, "production_id": "prod-1"},
            timeout=10,
        )
        assert answer.status_code == 401  # no token: refused, and still logged
        stop(instance)
    log = instance.log.read_text(encoding="utf-8", errors="replace")
    assert '"GET /v1/consents HTTP/1.1" 401' in log, log
    assert PERFORMER not in log and "performer_id" not in log, log


def test_the_filter_cuts_only_the_query_string_and_keeps_every_record() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.5:4711", "GET", f"/v1/consents?performer_id={PERFORMER}", "1.1", 200), None,
    )  # fmt: skip
    assert WithoutQueryString().filter(record) is True
    assert record.getMessage() == '10.0.0.5:4711 - "GET /v1/consents HTTP/1.1" 200'
    other = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "plain %s", ("text?x=1",), None)
    assert WithoutQueryString().filter(other) is True and other.getMessage() == "plain text?x=1"
