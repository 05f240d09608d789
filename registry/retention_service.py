"""Running the retention purge: the interval option, the scheduler ``serve`` starts, report text.

``scangate registry serve`` purges once before it starts serving and then every
``--purge-interval`` (24 h by default) in a daemon thread of the serving process (the
supervisor when there are several workers, so one purge per instance). Several
instances on one database may purge at the same moment: :func:`registry.retention.purge`
is idempotent and never destroys a consent twice or issues two receipts. A failing purge
is logged and tried again at the next interval; it never stops the server.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta

from agent.errors import ScanGateError
from registry.db import Database
from registry.errors import InvalidInputError
from registry.retention import PurgeReport, purge

log = logging.getLogger("registry.retention")

DEFAULT_PURGE_INTERVAL = "24h"
DISABLED_WARNING = (
    "retention purge disabled (--purge-interval 0): consents past destroy_by are withheld from rigs,"
    " but their personal data and face templates stay in the database until `scangate registry purge` runs"
)
_INTERVAL = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> timedelta | None:
    """``'24h'``, ``'30m'``, ``'90s'``, ``'1d'`` as a timedelta; ``'0'`` means disabled (None).

    Raises:
        InvalidInputError: anything else, or an interval under one minute.
    """
    value = text.strip().lower()
    if value == "0":
        return None
    match = _INTERVAL.match(value)
    if match is None:
        raise InvalidInputError(
            f"--purge-interval {text!r} is not an interval",
            hint="give a number and a unit: 24h, 30m, 1d (or 0 to disable the scheduled purge)",
        )
    interval = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if interval < timedelta(minutes=1):
        raise InvalidInputError(f"--purge-interval {text!r} is under a minute", hint="use at least 1m")
    return interval


def describe(report: PurgeReport) -> str:
    """The text ``scangate registry purge`` prints: one line per consent, then a summary."""
    verb = "would destroy" if report.dry_run else "destroyed"
    lines = []
    for item in report.destructions:
        templates = {
            "destroyed": f"{item.face_templates_destroyed} face template(s) destroyed",
            "kept_for_another_consent": "face templates kept (another consent of the performer needs them)",
            "none_held": "no face templates held",
        }[item.face_templates.value]
        extra = "; performer's name and details destroyed" if item.performer_details_destroyed else ""
        receipt = f"; receipt {item.receipt.receipt_id}" if item.receipt else ""
        lines.append(
            f"{verb} consent {item.consent_id} v{item.consent_version} ({item.performer_id} on"
            f" {item.production_id}, destroy_by {item.destroy_by.isoformat()}): {templates}{extra}{receipt}"
        )
    summary = (
        f"{'dry run: ' if report.dry_run else ''}{len(report.destructions)} consent(s) past destroy_by"
        f" {'would be' if report.dry_run else 'were'} destroyed"
    )
    if report.skipped:
        summary += f"; {report.skipped} already destroyed by another purge meanwhile"
    return "\n".join([*lines, summary])


class PurgeScheduler:
    """Runs :func:`registry.retention.purge` now and then every ``interval`` in a daemon thread."""

    def __init__(self, db_url: str, interval: timedelta) -> None:
        self._db_url = db_url
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> PurgeReport | None:
        """One purge; logs its outcome. Errors are logged (and retried next time), never raised."""
        database = Database.open(self._db_url)
        try:
            report = purge(database)
        except (ScanGateError, OSError) as exc:
            log.error("retention purge failed (tried again in %s): %s", self._interval, exc)
            return None
        except Exception:  # a purge bug must not take the server down with it
            log.exception("retention purge failed (tried again in %s)", self._interval)
            return None
        finally:
            database.close()
        if report.destructions or report.skipped:
            log.warning("retention purge: %s", describe(report).splitlines()[-1])
        return report

    def start(self) -> None:
        """Start the thread that purges every interval (the first purge is the caller's ``run_once``)."""
        self._thread = threading.Thread(target=self._loop, name="retention-purge", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (a purge in progress finishes its current consent's transaction)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval.total_seconds()):
            self.run_once()
