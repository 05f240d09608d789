"""``scangate review LOG`` trusts the demo's key for a demo's log, and nothing merely placed beside a log."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_config
from agent.records.keys import public_key_pem
from agent.signing import key_id_for
from gui.commands import review_keys
from registry.demo.environment import DEMO_MARKER


def _folder_with_key(folder: Path, *, demo: bool) -> str:
    folder.mkdir()
    key = Ed25519PrivateKey.generate().public_key()
    (folder / "rig-public.pem").write_text(public_key_pem(key), encoding="ascii")
    (folder / "sessions.jsonl").write_text("", encoding="utf-8")
    if demo:
        (folder / DEMO_MARKER).write_text("made by the demo\n", encoding="utf-8")
    return key_id_for(key)


def test_a_demo_log_is_reviewed_against_the_demo_key(tmp_path: Path) -> None:
    key_id = _folder_with_key(tmp_path / "sg", demo=True)
    config, _ = load_config(None)
    keys, source = review_keys([tmp_path / "sg" / "sessions.jsonl"], [], config)
    assert list(keys) == [key_id]
    assert source == f"the demo's rig key ({tmp_path / 'sg' / 'rig-public.pem'})"


def test_a_key_beside_an_ordinary_log_is_not_trusted(tmp_path: Path) -> None:
    _folder_with_key(tmp_path / "rig", demo=False)
    config, _ = load_config(None)
    keys, source = review_keys([tmp_path / "rig" / "sessions.jsonl"], [], config)
    assert keys == {}
    assert source == "none"


def test_key_files_given_win_over_the_demo_key(tmp_path: Path) -> None:
    _folder_with_key(tmp_path / "sg", demo=True)
    other = _folder_with_key(tmp_path / "other", demo=False)
    config, _ = load_config(None)
    keys, source = review_keys(
        [tmp_path / "sg" / "sessions.jsonl"], [tmp_path / "other" / "rig-public.pem"], config
    )
    assert list(keys) == [other]
    assert source == "1 key file(s) given with --key"
