"""The [registry] settings: safe URLs, token sources, and their place in the config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.config import parse_config
from agent.errors import ConfigError
from agent.registry_client.client import RegistryClient
from agent.registry_client.errors import RegistryAuthError, RegistryNotConfiguredError
from agent.registry_client.settings import RegistrySettings
from agent.registry_client.transport import IDEMPOTENT_METHODS, build_retry

KEY = "ed25519:" + "ab" * 16


def test_defaults_are_safe() -> None:
    settings = RegistrySettings()
    assert settings.url is None
    assert not settings.offline_consents
    assert not settings.allow_insecure_http
    assert settings.pinned_key_ids == ()
    assert settings.timeout == (settings.connect_timeout_s, settings.read_timeout_s)


def test_the_removed_cache_roster_option_is_refused() -> None:
    with pytest.raises(ValidationError, match="cache_roster"):
        RegistrySettings.model_validate({"cache_roster": False})


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:80", "https://registry.example:8443/"],
)
def test_accepted_urls(url: str) -> None:
    assert not RegistrySettings(url=url).url.endswith("/")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://registry.example", "unencrypted"),
        ("http://10.0.0.5:8080", "unencrypted"),
        ("ftp://registry.example", "http(s) URL"),
        ("registry.example", "http(s) URL"),
        ("https://registry.example/?x=1", "no query"),
    ],
)
def test_refused_urls(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        RegistrySettings(url=url)


def test_insecure_http_only_when_asked_for() -> None:
    assert RegistrySettings(url="http://10.0.0.5", allow_insecure_http=True).url == "http://10.0.0.5"


def test_pinned_key_ids_are_checked_and_unknown_keys_forbidden() -> None:
    assert RegistrySettings(pinned_key_ids=[KEY]).pinned_key_ids == (KEY,)
    with pytest.raises(ValidationError):
        RegistrySettings(pinned_key_ids=["ed25519:xyz"])
    with pytest.raises(ValidationError, match="Extra inputs"):
        RegistrySettings.model_validate({"urll": "https://x"})


def test_token_sources_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCANGATE_REGISTRY_TOKEN", "from-env")
    assert RegistrySettings().resolve_token() == "from-env"
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert RegistrySettings(token_file=token_file).resolve_token() == "from-file"
    assert RegistrySettings(token="inline").resolve_token() == "inline"
    monkeypatch.setenv("MY_TOKEN", "custom")
    assert RegistrySettings(token_env="MY_TOKEN").resolve_token() == "custom"
    with pytest.raises(ValidationError, match="not both"):
        RegistrySettings(token="a", token_file=token_file)
    assert "inline" not in repr(RegistrySettings(token="inline"))


def test_unreadable_token_file_is_an_auth_error(tmp_path: Path) -> None:
    settings = RegistrySettings(url="http://127.0.0.1:9", token_file=tmp_path / "missing")
    with pytest.raises(RegistryAuthError, match="token file"):
        RegistryClient(settings, cache=None)


def test_unusable_token_is_an_auth_error_naming_its_source(tmp_path: Path) -> None:
    binary = tmp_path / "token"
    binary.write_bytes(b"\xff\xfe sgr_x")
    for source, where in (
        ({"token": "sgr_caf\u00e9"}, "registry.token"),  # cannot travel in an HTTP header
        ({"token": "sgr_one two"}, "registry.token"),
        ({"token_file": binary}, str(binary)),
    ):
        settings = RegistrySettings.model_validate(
            {"url": "http://127.0.0.1:9", "cache_dir": tmp_path, **source}
        )
        with pytest.raises(RegistryAuthError) as caught:
            RegistryClient(settings)
        assert caught.value.where == where


def test_client_needs_a_url() -> None:
    with pytest.raises(RegistryNotConfiguredError) as caught:
        RegistryClient(RegistrySettings())
    assert caught.value.where == "registry.url"


def test_retry_policy_never_retries_posts() -> None:
    retry = build_retry(RegistrySettings(retries=3))
    assert retry.allowed_methods == IDEMPOTENT_METHODS
    assert "POST" not in IDEMPOTENT_METHODS
    assert retry.status_forcelist == (502, 503, 504)
    assert not retry.respect_retry_after_header
    assert retry.total == 3


def test_section_in_a_config_file_resolves_paths(tmp_path: Path) -> None:
    text = f"""
[registry]
url = "https://registry.example:8443"
token_file = "secrets/token"
ca_bundle = "ca.pem"
pinned_key_ids = ["{KEY}"]
offline_consents = true
cache_dir = "cache"
"""
    config = parse_config(text, source="rig.toml", config_dir=tmp_path)
    assert config.registry.token_file == tmp_path / "secrets" / "token"
    assert config.registry.ca_bundle == tmp_path / "ca.pem"
    assert config.registry.cache_dir == tmp_path / "cache"
    assert config.registry.pinned_key_ids == (KEY,)
    with pytest.raises(ConfigError, match=r"registry\.retries"):
        parse_config("[registry]\nretries = -1\n", source="x", config_dir=None)
