"""The core's configuration (``session_core.config``): defaults, precedence of flags,
environment and file, and invalid settings as clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from session_common.config_loading import ConfigError
from session_core.config import CoreConfig, load_config


def test_defaults() -> None:
    c = load_config(env={})
    assert (c.host, c.port) == ("localhost", 3567)
    assert c.access_token_validity == 3600
    assert c.refresh_token_validity == 144000.0
    assert c.access_token_dynamic_signing_key_update_interval == 168.0
    assert c.api_keys == () and c.base_path == ""
    assert c.dynamic_signing_key_overlap_ms == 60_000
    assert c.expired_session_cleanup_interval_s == 43_200
    assert c.database == f"sqlite:///{Path('.data').resolve() / 'core.db'}"
    assert c.dynamic_key_lifetime_ms == (168 * 3600 + 2 * 3600) * 1000


def test_data_dir_sets_the_default_database(tmp_path: Path) -> None:
    expected = f"sqlite:///{tmp_path / 'core.db'}"
    assert load_config(env={"SESSION_CORE_DATA_DIR": str(tmp_path)}).database == expected
    assert load_config(flags={"data_dir": str(tmp_path)}, env={}).database == expected
    assert CoreConfig(data_dir=tmp_path).database == expected
    # An explicit database wins over the data directory.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    config = load_config(flags={"database": other}, env={"SESSION_CORE_DATA_DIR": "/x"})
    assert config.database == other


def test_precedence_flag_env_file(tmp_path: Path) -> None:
    cfg = tmp_path / "core.json"
    cfg.write_text(json.dumps({"access_token_validity": 100, "port": 1111, "host": "file"}))
    env = {"SESSION_CORE_ACCESS_TOKEN_VALIDITY": "200", "SESSION_CORE_PORT": "2222"}
    c = load_config(flags={"access_token_validity": "300"}, env=env, config_file=cfg)
    assert (c.access_token_validity, c.port, c.host) == (300, 2222, "file")
    c = load_config(flags={"access_token_validity": None}, env=env, config_file=cfg)
    assert c.access_token_validity == 200


def test_toml_file_alias_and_api_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "core.toml"
    cfg.write_text(
        "access_token_signing_key_update_interval = 2.5\n"
        'api_keys = " aaaaaaaaaaaaaaaaaaaa1 , bbbbbbbbbbbbbbbbbbbb=-2"\n'
        'base_path = "core/v1/"\n'
    )
    c = load_config(env={}, config_file=cfg)
    assert c.access_token_dynamic_signing_key_update_interval == 2.5
    assert c.api_keys == ("aaaaaaaaaaaaaaaaaaaa1", "bbbbbbbbbbbbbbbbbbbb=-2")
    assert c.base_path == "/core/v1"


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"access_token_validity": "0"}, "access_token_validity"),
        ({"access_token_validity": "86400001"}, "access_token_validity"),
        ({"access_token_validity": "1.5"}, "access_token_validity"),
        (
            {"refresh_token_validity": "60", "access_token_validity": "3600"},
            "refresh_token_validity",
        ),
        ({"access_token_dynamic_signing_key_update_interval": "0.5"}, "update_interval"),
        ({"api_keys": "short"}, "api_keys"),
        ({"api_keys": "has_underscores_but_it_is_long"}, "api_keys"),
        ({"api_keys": "aaaaaaaaaaaaaaaaaaaa!!"}, "api_keys"),
        ({"port": "70000"}, "port"),
        ({"port": "http"}, "port"),
        ({"log_level": "loud"}, "log_level"),
        ({"base_path": "/a b"}, "base_path"),
        ({"refresh_token_validity": "nan"}, "refresh_token_validity"),
        ({"no_such_setting": "1"}, "no_such_setting"),
    ],
)
def test_invalid_settings_are_clear_errors(settings: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(flags=settings, env={})
    assert fragment in str(err.value)


@pytest.mark.parametrize("blank", ["", " ", " , "])
def test_empty_api_keys_are_an_error_not_no_keys(tmp_path: Path, blank: str) -> None:
    cfg = tmp_path / "core.json"
    cfg.write_text(json.dumps({"api_keys": blank}))
    for source in (
        {"flags": {"api_keys": blank}, "env": {}},
        {"env": {"SESSION_CORE_API_KEYS": blank}},
        {"env": {}, "config_file": cfg},
    ):
        with pytest.raises(ConfigError, match="'api_keys' is empty"):
            load_config(**source)


def test_api_keys_with_whitespace_inside_are_stripped() -> None:
    # The SuperTokens core removes all whitespace from the list (its CoreConfig).
    c = load_config(flags={"api_keys": "aaaaaaaaaa aaaaaaaaaa"}, env={})
    assert c.api_keys == ("aaaaaaaaaaaaaaaaaaaa",)


def test_bad_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "core.json"
    cfg.write_text("{not json")
    with pytest.raises(ConfigError):
        load_config(env={}, config_file=cfg)
    with pytest.raises(ConfigError):
        load_config(env={}, config_file=tmp_path / "missing.json")
