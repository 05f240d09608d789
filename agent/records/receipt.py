"""The performer's receipt: a short summary of their session record they can take away.

The receipt names the record by its hash (the same object hash that chains
the log and that the registry stores), so a performer, their union or their
lawyer can later ask for exactly that record and check it was not changed. The
QR code carries the canonical JSON of a small ``scangate.receipt/1`` object;
the text form is for printing or showing on the touchscreen.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.durable import replace_file_atomically
from agent.private_files import PRIVATE_FILE_MODE, private_dir
from agent.records.credentials_view import credentials_summary
from agent.records.errors import RecordError
from agent.records.record_view import nested
from agent.signing import canonical_json, object_hash_hex

RECEIPT_SCHEMA = "scangate.receipt/1"

_OUTCOME_TEXT = {
    "captured": "Captured with your confirmed consent",
    "declined": "You declined: nothing was captured",
    "refused": "Refused by ScanGate: nothing was captured",
    "fault": "Stopped by a fault: capture was locked",
    "key_rotated": "Not a session: the rig's signing key was rotated",
}


@dataclass(frozen=True)
class Receipt:
    """The facts of one session record a performer needs to keep."""

    record_hash: str
    record_id: str
    rig_id: str
    sequence: int
    outcome: str
    reason_codes: tuple[str, ...]
    started_at: str
    ended_at: str
    production: str | None
    performer: str | None
    consent: str | None
    capture_types: tuple[str, ...]
    files_captured: int
    signed_by: str
    credentials: str = ""
    """What the files carry: 'N of M file(s) carry your consent terms (C2PA Content Credentials)'."""

    def qr_payload(self) -> str:
        """What the QR code encodes: compact canonical JSON of the identifying facts."""
        data = {
            "schema": RECEIPT_SCHEMA,
            "record_hash": self.record_hash,
            "record_id": self.record_id,
            "rig_id": self.rig_id,
            "sequence": self.sequence,
            "ended_at": self.ended_at,
            "outcome": self.outcome,
        }
        return canonical_json(data).decode("utf-8")

    def text(self) -> str:
        """The receipt as plain text (fits a narrow receipt printer: 64 columns)."""
        lines = [
            "ScanGate session receipt",
            "=" * 24,
            f"Outcome:     {_OUTCOME_TEXT.get(self.outcome, self.outcome)}",
        ]
        if self.reason_codes:
            lines.append(f"Reasons:     {', '.join(self.reason_codes)}")
        lines += [
            f"Performer:   {self.performer or '(not identified)'}",
            f"Production:  {self.production or '-'}",
            f"Consent:     {self.consent or '(none used)'}",
            f"Capture:     {', '.join(self.capture_types) or '-'} ({self.files_captured} file(s))",
            *([f"Files:       {self.credentials}"] if self.credentials else []),
            f"Started:     {self.started_at} (UTC)",
            f"Ended:       {self.ended_at} (UTC)",
            f"Rig:         {self.rig_id}, record {self.sequence}",
            f"Record id:   {self.record_id}",
            "Record hash (SHA-256):",
            f"  {self.record_hash[:32]}",
            f"  {self.record_hash[32:]}",
            f"Signed by:   {self.signed_by}",
            "",
            "Keep this receipt. Its record hash identifies your session",
            "record exactly: anyone can check the record was not changed.",
        ]
        return "\n".join(lines) + "\n"


def make_receipt(record: Mapping[str, Any]) -> Receipt:
    """Build the receipt of a signed record (as written to the log)."""
    performer_id = nested(record, "performer", "performer_id")
    performer_name = nested(record, "performer", "display_name")
    performer = f"{performer_name} ({performer_id})" if performer_name else performer_id
    consent_id = nested(record, "consent", "consent_id")
    consent = f"{consent_id} v{nested(record, 'consent', 'version')}" if consent_id else None
    confirmed = nested(record, "confirmation", "capture_types")
    capture_types = confirmed if isinstance(confirmed, list) else record.get("capture_types_requested") or []
    production = nested(record, "production", "name") or nested(record, "production", "production_id")
    return Receipt(
        record_hash=object_hash_hex(record),
        record_id=str(record.get("record_id")),
        rig_id=str(record.get("rig_id")),
        sequence=int(record.get("sequence") or 0),
        outcome=str(record.get("outcome")),
        reason_codes=tuple(record.get("reason_codes") or ()),
        started_at=str(record.get("started_at")),
        ended_at=str(record.get("ended_at")),
        production=production,
        performer=performer,
        consent=consent,
        capture_types=tuple(capture_types),
        files_captured=len(record.get("captured_files") or ()),
        signed_by=str(nested(record, "signature", "key_id")),
        credentials=credentials_summary(record.get("captured_files")).text(),
    )


def write_receipt_png(receipt: Receipt, path: Path) -> Path:
    """Write the receipt as a PNG: the QR code with the outcome and hash printed below it."""
    import qrcode  # noqa: PLC0415 - only needed when a receipt image is made
    from PIL import Image, ImageDraw  # noqa: PLC0415

    try:
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=4)
        qr.add_data(receipt.qr_payload())
        qr.make(fit=True)
        code = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
        caption = [
            _OUTCOME_TEXT.get(receipt.outcome, receipt.outcome),
            f"{receipt.rig_id} record {receipt.sequence}, {receipt.ended_at}",
            f"hash {receipt.record_hash[:32]}",
            f"     {receipt.record_hash[32:]}",
        ]
        line_height = 16
        width = max(code.width, 8 * max(len(line) for line in caption) + 24)
        image = Image.new("RGB", (width, code.height + line_height * len(caption) + 16), "white")
        image.paste(code, ((width - code.width) // 2, 0))
        draw = ImageDraw.Draw(image)
        for index, line in enumerate(caption):
            draw.text((12, code.height + 4 + index * line_height), line, fill="black")
        encoded = io.BytesIO()
        image.save(encoded, format="PNG")
        private_dir(path.parent)
        replace_file_atomically(path, encoded.getvalue(), PRIVATE_FILE_MODE)  # never half an image
    except OSError as exc:
        raise RecordError(f"cannot write the receipt image: {exc}", where=str(path)) from None
    return path
