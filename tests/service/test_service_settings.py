"""Settings: flag > ``SESSION_SERVICE_*`` environment > default, and errors that name the
setting."""

from __future__ import annotations

import pytest

from session_service.domain.api import AntiCsrfMode, ClaimValidatorKind, ClaimValidatorSpec
from session_service.settings import Settings, SettingsError, load_settings


def test_defaults() -> None:
    settings = load_settings({}, {})
    assert settings == Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 50051)
    assert settings.embedded_core
    assert settings.reflection
    assert settings.max_receive_message_bytes == 64 * 1024


def test_flag_beats_environment_beats_default() -> None:
    env = {
        "SESSION_SERVICE_PORT": "6000",
        "SESSION_SERVICE_HOST": "0.0.0.0",
        "SESSION_SERVICE_CORE_URL": "http://core-a:3567;http://core-b:3567",
        "SESSION_SERVICE_CORE_API_KEY": "k" * 24,
        "SESSION_SERVICE_ANTI_CSRF": "via_token",
        "SESSION_SERVICE_REFLECTION": "off",
    }
    settings = load_settings({"port": "7000", "reflection": None}, env)
    assert settings.port == 7000
    assert settings.host == "0.0.0.0"
    assert settings.anti_csrf is AntiCsrfMode.VIA_TOKEN
    assert not settings.reflection
    assert not settings.embedded_core
    config = settings.domain_config()
    assert config.core.urls == ("http://core-a:3567", "http://core-b:3567")
    assert config.core.api_key == "k" * 24
    assert "k" * 24 not in repr(settings)


def test_required_claim_validators_from_json() -> None:
    settings = load_settings(
        {
            "required_claim_validators": (
                '[{"has_value": {"key": "st-ev", "value": true, "max_age_seconds": 300}},'
                ' {"id": "roles", "includes_all": {"key": "st-role", "values": ["a", "b"]}}]'
            )
        },
        {},
    )
    assert settings.required_claim_validators == (
        ClaimValidatorSpec(
            kind=ClaimValidatorKind.HAS_VALUE, key="st-ev", value=True, max_age_seconds=300
        ),
        ClaimValidatorSpec(
            kind=ClaimValidatorKind.INCLUDES_ALL, key="st-role", values=("a", "b"), id="roles"
        ),
    )


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        ({"port": "http"}, {}, "--port"),
        ({"port": "70000"}, {}, "--port"),
        ({}, {"SESSION_SERVICE_PORT": "x"}, "SESSION_SERVICE_PORT"),
        ({"anti_csrf": "VIA_CUSTOM_HEADER"}, {}, "--anti-csrf"),
        ({"reflection": "maybe"}, {}, "--reflection"),
        ({"required_claim_validators": "{"}, {}, "--required-claim-validators"),
        ({"required_claim_validators": '[{"nope": {}}]'}, {}, "--required-claim-validators"),
        ({"log_level": "loud"}, {}, "--log-level"),
        ({"max_receive_message_bytes": "10"}, {}, "--max-receive-message-bytes"),
        # The embedded core accepts only the random key it gets at each start.
        ({}, {"SESSION_SERVICE_CORE_API_KEY": "k" * 24}, "--core-api-key is for --core-url"),
    ],
)
def test_invalid_values_name_the_setting(
    flags: dict[str, str | None], env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(flags, env)


def test_invalid_core_url_is_reported_when_building_the_domain_config() -> None:
    settings = load_settings({"core_url": "ftp://core"}, {})
    with pytest.raises(SettingsError, match=r"^--core-url: every entry must be an http\(s\) URL$"):
        settings.domain_config()
