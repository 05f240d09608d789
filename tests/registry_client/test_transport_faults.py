"""A misbehaving registry (real loopback proxy in front of the real one): every failure is an error.

None of these may ever produce an allowing decision: the lookup raises, and
the controller keeps capture locked.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.registry_client.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    RegistryTLSError,
    RegistryUnavailableError,
)
from agent.registry_client.lookup import LookupResult
from agent.session.model import IdentificationMethod
from agent.wire import CaptureType, Confirmation, ConfirmationDecision, utc_now
from tests.registry_client.conftest import LiveRegistry, lookup_for
from tests.registry_client.peers import Fault, TamperingProxy, closed_port_url

FACE = IdentificationMethod.FACE


def lookup_via(live: LiveRegistry, url: str, **settings: object) -> LookupResult:
    with live.client(url, **settings) as client:
        return lookup_for(client).check("p-ada", {"face"}, FACE)


def refused_with(
    live: LiveRegistry, proxy: TamperingProxy, error: type[RegistryError], **settings: object
) -> RegistryError:
    with pytest.raises(error) as caught:
        lookup_via(live, proxy.url, **settings)
    return caught.value


@pytest.fixture
def proxy(live: LiveRegistry) -> Iterator[TamperingProxy]:
    with TamperingProxy(live.url) as running:
        yield running


def test_the_proxy_itself_is_transparent(live: LiveRegistry, proxy: TamperingProxy) -> None:
    assert lookup_via(live, proxy.url).decision.allowed
    assert proxy.requests["/v1/consents"] == 1


def test_registry_down_is_unavailable(live: LiveRegistry) -> None:
    with pytest.raises(RegistryUnavailableError) as caught:
        lookup_via(live, closed_port_url())
    error = caught.value
    assert "could not be reached" in error.what
    assert error.where is not None and error.where.startswith("GET http://127.0.0.1:")
    assert error.hint and "retries later" in error.hint


def test_too_slow_is_a_timeout(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("slow", "/v1/consents", seconds=1.5)
    error = refused_with(live, proxy, RegistryUnavailableError, read_timeout_s=0.3)
    assert "did not answer in time" in error.what


def test_trickling_answer_hits_the_total_deadline(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("trickle", "/v1/consents", seconds=0.05)
    error = refused_with(live, proxy, RegistryUnavailableError, read_timeout_s=1.0, total_timeout_s=0.5)
    assert "longer than 0.5 s" in error.what


def test_http_500_is_unavailable_with_the_registry_message(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("status", "/v1/consents", status=500)
    error = refused_with(live, proxy, RegistryUnavailableError)
    assert "HTTP 500" in error.what and "boom" in error.what


def test_http_429_is_unavailable(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("status", "/v1/consents", status=429)
    refused_with(live, proxy, RegistryUnavailableError)


def test_malformed_json_is_a_protocol_error_naming_the_endpoint(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    proxy.fault = Fault("malformed", "/v1/consents")
    error = refused_with(live, proxy, RegistryProtocolError)
    assert "not valid JSON" in error.what
    assert error.where is not None and "/v1/consents" in error.where


def test_schema_violation_is_a_protocol_error_listing_the_problems(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    proxy.fault = Fault("schema", "/v1/consents")
    error = refused_with(live, proxy, RegistryProtocolError)
    assert "not a valid ConsentList" in error.what
    assert "surprise: unknown member" in error.what
    assert "consents: Field required" in error.what


def test_wrong_value_inside_a_record_is_a_protocol_error(live: LiveRegistry, proxy: TamperingProxy) -> None:
    def stringly(path: str, body: dict[str, object]) -> dict[str, object]:
        if path == "/v1/consents":
            for record in body["consents"]:  # type: ignore[attr-defined]
                record["biometric_check_consent"] = "yes"
        return body

    proxy.rewrite_response = stringly
    error = refused_with(live, proxy, RegistryProtocolError)
    assert "biometric_check_consent" in error.what


def test_oversized_body_is_refused_unread(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("oversized", "/v1/consents", size=50_000)
    error = refused_with(live, proxy, RegistryProtocolError, max_response_bytes=16_384)
    assert "larger than the 16384 byte limit" in error.what


def test_oversized_chunked_body_is_cut_off(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("oversized_chunked", "/v1/consents", size=3 * 1024 * 1024)
    refused_with(live, proxy, RegistryProtocolError)  # default limit: 2 MiB


def test_redirect_is_not_followed(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("redirect", "/v1/consents")
    error = refused_with(live, proxy, RegistryProtocolError)
    assert "redirect" in error.what


def test_dropped_connection_is_unavailable(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("close", "/v1/consents")
    refused_with(live, proxy, RegistryUnavailableError)


def test_bad_token_and_foreign_production_are_auth_errors(live: LiveRegistry) -> None:
    with pytest.raises(RegistryAuthError) as caught:
        lookup_via(live, live.url, token="not-a-valid-token")
    assert "HTTP 401" in caught.value.what
    assert caught.value.hint and "re-provision" in caught.value.hint
    with pytest.raises(RegistryAuthError) as caught:
        lookup_via(live, live.url, token=live.other_rig_token)
    assert "HTTP 403" in caught.value.what
    assert caught.value.hint and "production_id" in caught.value.hint


def test_no_token_fails_before_any_request(
    live: LiveRegistry, proxy: TamperingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCANGATE_REGISTRY_TOKEN", raising=False)
    with live.client(proxy.url, token=None) as client:
        client.refresh_keys()  # public endpoint: fine
        with pytest.raises(RegistryAuthError, match="no registry token"):
            client.consents("p-ada", "demo-production")
    assert proxy.requests["/v1/consents"] == 0


def test_token_from_the_environment_is_sent(
    live: LiveRegistry, proxy: TamperingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCANGATE_REGISTRY_TOKEN", live.rig_token)
    assert lookup_via(live, proxy.url, token=None).decision.allowed
    assert any(h.get("Authorization") == f"Bearer {live.rig_token}" for h in proxy.seen_headers)


def test_gets_are_retried_on_503_and_then_succeed(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("status", "/v1/consents", status=503, times=2)
    assert lookup_via(live, proxy.url, retries=2).decision.allowed
    assert proxy.requests["/v1/consents"] == 3


def test_retries_are_bounded(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("status", "/v1/consents", status=503)
    refused_with(live, proxy, RegistryUnavailableError, retries=2)
    assert proxy.requests["/v1/consents"] == 3


def test_500_is_not_retried(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("status", "/v1/consents", status=500)
    refused_with(live, proxy, RegistryUnavailableError, retries=2)
    assert proxy.requests["/v1/consents"] == 1


def confirmation(session_id: str = "s-1") -> Confirmation:
    return Confirmation(
        consent_id="c-p-ada",
        consent_version=1,
        rig_id="rig-1",
        session_id=session_id,
        decision=ConfirmationDecision.NARROWED,
        capture_types=(CaptureType.FACE,),
        guardian_co_confirmed=False,
        confirmed_at=utc_now(),
    )


def test_confirmation_is_stored_once_and_retried_safely(live: LiveRegistry, proxy: TamperingProxy) -> None:
    tapped = confirmation()
    with live.client(proxy.url, retries=2) as client:
        first = client.confirm(tapped)
        assert not first.duplicate
        proxy.fault = Fault("status", "/v1/consents/c-p-ada/confirmations", status=503, times=1)
        again = client.confirm(tapped)
    assert again.duplicate and again.confirmation_id == first.confirmation_id
    assert proxy.requests["/v1/consents/c-p-ada/confirmations"] == 3
    keys = {h.get("Idempotency-Key") for h in proxy.seen_headers} - {None}
    assert keys == {"rig-1:s-1:c-p-ada"}


def test_plain_posts_are_never_retried_by_urllib3(live: LiveRegistry, proxy: TamperingProxy) -> None:
    proxy.fault = Fault("status", "/v1/consents/c-p-ada/confirmations", status=503)
    with live.client(proxy.url, retries=2) as client, pytest.raises(RegistryUnavailableError):
        client.transport._call("POST", "/v1/consents/c-p-ada/confirmations", json_body={})
    assert proxy.requests["/v1/consents/c-p-ada/confirmations"] == 1


def test_forged_key_list_is_a_protocol_error(live: LiveRegistry, proxy: TamperingProxy) -> None:
    from agent.signing import public_key_to_b64
    from tests.consent.factories import OTHER_SIGNER

    def substitute(path: str, body: dict[str, object]) -> dict[str, object]:
        if path == "/v1/keys":
            body["keys"][0]["public_key"] = public_key_to_b64(OTHER_SIGNER.public_key)  # type: ignore[index]
        return body

    proxy.rewrite_response = substitute
    error = refused_with(live, proxy, RegistryProtocolError)
    assert "forged or broken" in (error.hint or "")


# --- TLS -----------------------------------------------------------------------------------------


def _certificate_pair(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA and a localhost server certificate signed by it; returns the CA file and a server context."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ScanGate test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chain = folder / "server.pem"
    chain.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return ca_file, context


def test_tls_with_the_configured_ca_bundle_and_refusal_without(live: LiveRegistry, tmp_path: Path) -> None:
    ca_file, server_context = _certificate_pair(tmp_path)
    with TamperingProxy(live.url, tls=server_context) as tls_proxy:
        assert lookup_via(live, tls_proxy.url, ca_bundle=ca_file).decision.allowed
        with pytest.raises(RegistryTLSError) as caught:
            lookup_via(live, tls_proxy.url)  # system CAs do not know the test CA
    assert caught.value.hint and "ca_bundle" in caught.value.hint
