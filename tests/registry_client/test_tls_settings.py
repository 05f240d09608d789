"""The client's TLS settings: an unusable CA bundle fails at start; plain HTTP to a network is warned about.

The real handshake against `scangate registry serve --tls-cert ...` (trusted CA,
unknown CA, system CAs) is in tests/registry/test_serve_tls.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.registry_client.client import RegistryClient
from agent.registry_client.errors import RegistryTLSError
from agent.registry_client.settings import RegistrySettings
from tests.tls_certs import make_server_tls

KEY = "ed25519:" + "ab" * 16


def settings(tmp_path: Path, **values: object) -> RegistrySettings:
    return RegistrySettings.model_validate(
        {"token": "sgr_test", "pinned_key_ids": (KEY,), "cache_dir": tmp_path / "cache", **values}
    )


def test_a_missing_or_unusable_ca_bundle_is_refused_when_the_client_starts(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n", encoding="utf-8")
    for ca_bundle in (tmp_path / "missing-ca.pem", garbage, tmp_path):
        with pytest.raises(RegistryTLSError) as refused:
            RegistryClient(settings(tmp_path, url="https://127.0.0.1:8443", ca_bundle=ca_bundle))
        message = refused.value.message()
        assert str(ca_bundle) in message and "registry.ca_bundle" in message, message


def test_a_good_ca_bundle_is_accepted(tmp_path: Path) -> None:
    tls = make_server_tls(tmp_path / "pki")
    with RegistryClient(settings(tmp_path, url="https://127.0.0.1:8443", ca_bundle=tls.ca_file)) as client:
        assert client.transport.verify == str(tls.ca_file)


def test_plain_http_to_a_network_registry_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with RegistryClient(settings(tmp_path, url="http://192.0.2.10:8765", allow_insecure_http=True)):
        pass
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("http://192.0.2.10:8765" in w and "unencrypted" in w for w in warnings), warnings
    caplog.clear()
    with RegistryClient(settings(tmp_path, url="http://127.0.0.1:8765")):
        pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
