"""Performer receipts: the text summary and a QR code that decodes to the record's hash."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from agent.records.keys import RigKey
from agent.records.log import RecordLog
from agent.records.receipt import make_receipt, write_receipt_png
from agent.signing import object_hash_hex
from tests.records.factories import captured_draft, refused_draft


def test_receipt_text_names_the_record_by_its_hash(open_log: object, log_path: Path, rig_key: RigKey) -> None:
    writer: RecordLog = open_log()  # type: ignore[operator]
    record = writer.append(captured_draft(3))
    receipt = make_receipt(record)
    text = receipt.text()
    record_hash = object_hash_hex(record)
    assert receipt.record_hash == record_hash
    assert record_hash[:32] in text and record_hash[32:] in text
    assert "Captured with your confirmed consent" in text
    assert "Ana Lima (perf-0003)" in text and "consent-0003 v2" in text
    assert "face, facs (6 file(s))" in text
    assert rig_key.key_id in text
    assert max(len(line) for line in text.splitlines()) <= 64


def test_refusal_receipt_lists_the_reasons(open_log: object) -> None:
    writer: RecordLog = open_log()  # type: ignore[operator]
    text = make_receipt(writer.append(refused_draft(0, "consent_revoked"))).text()
    assert "Refused by ScanGate: nothing was captured" in text
    assert "Reasons:     consent_revoked" in text
    assert "Consent:     (none used)" in text


def test_qr_code_decodes_to_the_record_hash(open_log: object, tmp_path: Path) -> None:
    # Every record has a different hash and id, so the code's bit pattern differs each time: read
    # back a run of receipts, not one, so a code a scanner cannot read is caught here and not on set.
    # OpenCV's classic QRCodeDetector misreads about one in five version-12 codes that phone apps
    # and other decoders read fine; the ArUco-based detector is the reliable one.
    writer: RecordLog = open_log()  # type: ignore[operator]
    detector = cv2.QRCodeDetectorAruco()
    for index in range(25):
        record = writer.append(captured_draft(index))
        receipt = make_receipt(record)
        png = write_receipt_png(receipt, tmp_path / "receipts" / f"r{index}.png")
        image = cv2.imread(str(png))
        assert image is not None
        decoded, _points, _ = detector.detectAndDecode(image)
        assert decoded, f"receipt {index} QR code could not be read back"
        assert json.loads(decoded) == {
            "schema": "scangate.receipt/1",
            "record_hash": object_hash_hex(record),
            "record_id": record["record_id"],
            "rig_id": record["rig_id"],
            "sequence": record["sequence"],
            "ended_at": record["ended_at"],
            "outcome": "captured",
        }


def test_a_receipt_that_fills_the_disk_fails_and_leaves_the_earlier_one_as_it_was(
    open_log: object, small_disk: Path
) -> None:
    import pytest

    from agent.records.errors import RecordError
    from tests.full_disk import fill_leaving

    writer: RecordLog = open_log()  # type: ignore[operator]
    path = small_disk / "receipt.png"
    path.write_bytes(b"an earlier file the operator chose to replace")
    earlier = path.read_bytes()
    fill_leaving(small_disk, 0)
    with pytest.raises(RecordError, match="No space left on device"):
        write_receipt_png(make_receipt(writer.append(captured_draft(0))), path)
    assert path.read_bytes() == earlier
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "receipt.png"]
