"""Configuration loading: defaults, the shipped files, and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent.config import ScanGateConfig, load_config, parse_config
from agent.errors import ConfigError
from tests.conftest import REPO_ROOT

DEFAULT_FILE = REPO_ROOT / "config" / "scangate.default.toml"
EXAMPLE_FILE = REPO_ROOT / "config" / "example-rig.toml"


def _models(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[type[BaseModel]]:
    """Every pydantic model reachable from ``model`` through its field annotations."""
    seen = set() if seen is None else seen
    if model in seen:
        return seen
    seen.add(model)
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                _models(annotation, seen)
            stack.extend(getattr(annotation, "__args__", ()))
    return seen


def test_every_config_field_is_described_and_forbids_unknown_keys() -> None:
    for model in _models(ScanGateConfig):
        assert model.model_config.get("extra") == "forbid", model.__name__
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_shipped_default_file_matches_builtin_defaults() -> None:
    from_file, _ = load_config(DEFAULT_FILE)
    builtin = ScanGateConfig()
    # store_dir is commented out in the file (its default is per-user), so compare the rest.
    assert from_file.model_dump(exclude={"templates"}) == builtin.model_dump(exclude={"templates"})


def test_default_file_documents_every_key() -> None:
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.MULTILINE))
    documented |= set(re.findall(r"#\s*kind = \"\w+\":\s+(.*)$", text, flags=re.MULTILINE))
    missing = []
    for model in _models(ScanGateConfig):
        for name, field in model.model_fields.items():
            nested = isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
            if not nested and name != "source" and name not in documented and name not in text:
                missing.append(f"{model.__name__}.{name}")
    assert not missing, f"keys not documented in {DEFAULT_FILE.name}: {missing}"


def test_example_rig_file_is_valid() -> None:
    config, source = load_config(EXAMPLE_FILE)
    assert source == EXAMPLE_FILE
    assert config.rig.rig_id == "stage4-facs-booth"
    assert config.identification.votes_required == 4


def test_unknown_key_names_file_and_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[rig]\nrig_idd = "x"\n', source="rig.toml", config_dir=None)
    message = caught.value.message()
    assert "rig.toml" in message
    assert "rig.rig_idd" in message
    assert "unknown key" in message


def test_removed_cache_roster_key_is_refused_and_says_why(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("[registry]\ncache_roster = true\n", source="rig.toml", config_dir=None)
    message = caught.value.message()
    assert "key 'registry.cache_roster'" in message
    assert "was removed" in message and "biometric" in message and "memory only" in message
    assert "unknown key" not in message
    config_file = tmp_path / "scangate.toml"
    config_file.write_text("[registry]\ncache_roster = false\n")  # even switched off: the key is gone
    with pytest.raises(ConfigError, match="was removed"):
        load_config(config_file)


def test_wrong_type_and_range_are_reported_per_key() -> None:
    text = '[identification]\nmax_distance = 1.5\nvotes_required = "three"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="x.toml", config_dir=None)
    message = caught.value.message()
    assert "2 problems" in message
    assert "identification.max_distance" in message
    assert "identification.votes_required" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[identification]\nvotes_required = "three"\n', "must be a whole number, not the text 'three'"),
        ("[identification]\nmax_distance = [1]\n", "must be a number, not a list"),
        ('[registry]\npinned_key_ids = "ed25519:00"\n', 'must be a list (e.g. ["a", "b"]), not the text'),
        ('[gate]\ncapture_dirs = "x"\n', "must be a list"),
        ("[rig]\nrig_id = 5\n", "must be text in quotes, not the number 5"),
        ('[session]\nabsence_timeout_s = "x"\n', "must be a number, not the text 'x'"),
        ("[rig]\nname = true\n", "must be text in quotes, not true"),
        ("[registry]\nallow_insecure_http = 3\n", "must be true or false, not the number 3"),
        ("rig = 3\n", "must be a [section] table, not the number 3"),
    ],
)
def test_type_errors_are_said_in_toml_words(text: str, expected: str) -> None:
    """Pydantic's wording ("Input should be a valid tuple") means nothing to someone editing TOML."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="x.toml", config_dir=None)
    message = caught.value.message()
    assert expected in message, message
    for pydantic_words in ("Input should", "valid tuple", "dictionary", "unable to parse"):
        assert pydantic_words not in message, message


def test_toml_syntax_error_gives_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("[rig\n", source="broken.toml", config_dir=None)
    assert "broken.toml" in caught.value.message()
    assert "line 1" in caught.value.message()


def test_camera_source_kind_selects_its_keys() -> None:
    text = '[camera.source]\nkind = "video"\npath = "clip.mp4"\n'
    config = parse_config(text, source="x.toml", config_dir=Path("/rigs/a"))
    assert config.camera.source.kind == "video"
    assert config.camera.source.path == Path("/rigs/a/clip.mp4")
    with pytest.raises(ConfigError, match=r"camera\.source\.index"):
        parse_config(
            '[camera.source]\nkind = "video"\npath = "a.mp4"\nindex = 2\n', source="x", config_dir=None
        )


def test_config_found_through_environment_and_user_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_config()[1] is None  # isolated dirs: nothing found, built-in defaults
    user_file = tmp_path / "home" / "scangate.toml"
    user_file.parent.mkdir()
    user_file.write_text('[rig]\nrig_id = "from-user-dir"\n')
    monkeypatch.setattr("agent.config.user_config_path", lambda: user_file)
    assert load_config()[0].rig.rig_id == "from-user-dir"
    env_file = tmp_path / "env.toml"
    env_file.write_text('[rig]\nrig_id = "from-env"\n')
    monkeypatch.setenv("SCANGATE_CONFIG", str(env_file))
    assert load_config()[0].rig.rig_id == "from-env"


def test_missing_and_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(binary)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("~no-such-user-scangate/session-log.jsonl", "cannot expand '~'"),
        ("records/session\\u0000log.jsonl", "NUL character"),
    ],
)
def test_an_unusable_path_is_a_config_error_naming_the_key(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f'[records]\nlog_path = "{value}"\n', source="rig.toml", config_dir=None)
    message = caught.value.message()
    assert "rig.toml" in message
    assert "records.log_path" in message
    assert problem in message
