"""Settings: flag > ``SESSION_SERVICE_*`` environment > default, and errors that name the
setting."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from session_service.domain.api import AntiCsrfMode, ClaimValidatorKind, ClaimValidatorSpec
from session_service.settings import (
    SECURITY_SETTINGS,
    SETTING_NAMES,
    Settings,
    SettingsError,
    load_settings,
)
from session_service.transport.listening import exposure_warning


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
        ({"anti_csrf": "VIA_HEADER"}, {}, "--anti-csrf"),
        ({"reflection": "maybe"}, {}, "--reflection"),
        ({"required_claim_validators": "{"}, {}, "--required-claim-validators"),
        ({"required_claim_validators": '[{"nope": {}}]'}, {}, "--required-claim-validators"),
        ({"log_level": "loud"}, {}, "--log-level"),
        ({"max_receive_message_bytes": "10"}, {}, "--max-receive-message-bytes"),
        # The embedded core accepts only the random key it gets at each start.
        ({}, {"SESSION_SERVICE_CORE_API_KEY": "k" * 24}, "--core-api-key is for --core-url"),
        ({"max_access_token_bytes": "1000"}, {}, "--max-access-token-bytes"),
        # A token that cannot arrive in a GetSession request must not be issued either.
        ({"max_receive_message_bytes": "8192"}, {}, "--max-access-token-bytes"),
        ({}, {"SESSION_SERVICE_REVOKE_SESSION_ON_TOKEN_THEFT": "maybe"}, "SESSION_SERVICE_REVOKE"),
    ],
)
def test_invalid_values_name_the_setting(
    flags: dict[str, str | None], env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(flags, env)


FLOAT_SETTINGS = sorted(
    name
    for name, f in ((f.name, f) for f in dataclasses.fields(Settings))
    if "float" in str(f.type)
)


@pytest.mark.parametrize("name", FLOAT_SETTINGS)
@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "infinity", "1e999"])
def test_float_settings_refuse_nan_and_infinity(name: str, text: str) -> None:
    """NaN would pass every range check (each comparison with it is false): a grace period
    of NaN seconds would be accepted. No duration is infinite either."""
    assert "grace_period_seconds" in FLOAT_SETTINGS
    flag, env = f"--{name.replace('_', '-')}", f"SESSION_SERVICE_{name.upper()}"
    with pytest.raises(SettingsError, match=f"^{flag}: "):
        load_settings({name: text}, {})
    with pytest.raises(SettingsError, match=f"^{env}: "):
        load_settings({}, {env: text})


def test_invalid_core_url_is_reported_when_building_the_domain_config() -> None:
    settings = load_settings({"core_url": "ftp://core"}, {})
    with pytest.raises(SettingsError, match=r"^--core-url: every entry must be an http\(s\) URL$"):
        settings.domain_config()


@pytest.mark.parametrize("name", sorted(SECURITY_SETTINGS))
@pytest.mark.parametrize("blank", ["", " ", "\t"])
def test_a_blank_security_setting_is_an_error_not_off(name: str, blank: str) -> None:
    """An empty file or key (a flag typed empty, a variable holding an unset secret's empty
    substitution) would otherwise mean "no TLS", "no caller auth", "system CAs"..."""
    flag, env = f"--{name.replace('_', '-')}", f"SESSION_SERVICE_{name.upper()}"
    with pytest.raises(SettingsError, match=f"^{flag} is empty"):
        load_settings({name: blank}, {})
    with pytest.raises(SettingsError, match=f"^{env} is empty"):
        load_settings({}, {env: blank})


def test_every_file_and_key_setting_is_a_security_setting() -> None:
    files_and_keys = {n for n in SETTING_NAMES if n.endswith(("_file", "_api_key"))}
    assert files_and_keys == SECURITY_SETTINGS


CERT: dict[str, Any] = {"tls_cert_file": Path("cert.pem"), "tls_key_file": Path("key.pem")}


@pytest.mark.parametrize(
    ("host", "protections", "missing"),
    [
        ("127.0.0.1", {}, []),
        ("::1", {}, []),
        ("localhost", {}, []),
        ("0.0.0.0", {}, ["caller authentication", "TLS"]),
        ("::", {}, ["caller authentication", "TLS"]),
        ("0.0.0.0", {"api_keys_file": Path("keys")}, ["TLS"]),
        ("0.0.0.0", CERT, ["caller authentication"]),
        ("0.0.0.0", {**CERT, "api_keys_file": Path("keys")}, []),
        ("0.0.0.0", {**CERT, "tls_client_ca_file": Path("ca.pem")}, []),
    ],
)
def test_a_port_beyond_loopback_without_auth_or_tls_is_warned_about(
    host: str, protections: dict[str, Any], missing: list[str]
) -> None:
    warning = exposure_warning(Settings(host=host, **protections))
    if not missing:
        assert warning is None
        return
    assert warning is not None
    assert warning.startswith(f"listening beyond loopback on {host}:50051 ")
    assert re.findall(r"without ([a-zA-Z ]+) \(", warning) == missing


def test_token_limits_and_theft_handling_reach_the_domain_config() -> None:
    core = {"core_url": "http://core:3567"}
    default = load_settings(core, {}).domain_config()
    assert (default.max_access_token_bytes, default.revoke_session_on_token_theft) == (8000, True)
    env = {"SESSION_SERVICE_REVOKE_SESSION_ON_TOKEN_THEFT": "false"}
    config = load_settings({**core, "max_access_token_bytes": "4000"}, env).domain_config()
    assert (config.max_access_token_bytes, config.revoke_session_on_token_theft) == (4000, False)


def test_gateway_settings_from_the_environment_reach_the_http_config() -> None:
    env = {
        "SESSION_SERVICE_HTTP_PORT": "0",
        "SESSION_SERVICE_API_BASE_PATH": "/api/auth/",
        "SESSION_SERVICE_COOKIE_SAME_SITE": "Strict",
        "SESSION_SERVICE_COOKIE_DOMAIN": ".example.com",
        "SESSION_SERVICE_TOKEN_TRANSFER_METHOD": "COOKIE",
        "SESSION_SERVICE_SESSION_EXPIRED_STATUS_CODE": "440",
        "SESSION_SERVICE_UPSTREAM_PAYLOAD_HEADER": "none",
        "SESSION_SERVICE_UPSTREAM_USER_ID_HEADER": "X-User",
        "SESSION_SERVICE_ANTI_CSRF": "via_custom_header",
    }
    settings = load_settings({"invalid_claim_status_code": "409"}, env)
    assert settings.http_port == 0
    config = settings.http_config()
    assert config.refresh_token_path == "/api/auth/session/refresh"
    assert (config.cookie_same_site, config.cookie_domain) == ("strict", ".example.com")
    assert config.token_transfer_method == "cookie"
    assert (config.session_expired_status_code, config.invalid_claim_status_code) == (440, 409)
    assert config.upstream.names == ("x-user", "x-session-handle")
    assert config.anti_csrf is AntiCsrfMode.VIA_CUSTOM_HEADER
    assert load_settings({}, {}).http_port is None


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        ({}, {"SESSION_SERVICE_HTTP_PORT": "web"}, "SESSION_SERVICE_HTTP_PORT"),
        ({}, {"SESSION_SERVICE_COOKIE_SECURE": "maybe"}, "SESSION_SERVICE_COOKIE_SECURE"),
        ({"http_port": "-1"}, {}, "--http-port"),
        ({}, {"SESSION_SERVICE_COOKIE_SAME_SITE": "x"}, "--cookie-same-site"),
        ({"upstream_session_handle_header": "x-session-user-id"}, {}, "--upstream-session"),
        ({"access_token_path": "x"}, {}, "--access-token-path"),
    ],
)
def test_invalid_gateway_settings_name_the_setting(
    flags: dict[str, str | None], env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(flags, env)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"cookie_same_site": "none", "cookie_secure": "true"}, AntiCsrfMode.VIA_CUSTOM_HEADER),
        ({"cookie_same_site": "None", "cookie_secure": "true"}, AntiCsrfMode.VIA_CUSTOM_HEADER),
        ({"cookie_same_site": "none", "cookie_secure": "true", "anti_csrf": "NONE"}, None),
        ({"cookie_same_site": "none", "cookie_secure": "true", "anti_csrf": "VIA_TOKEN"}, None),
        ({"cookie_same_site": "lax"}, AntiCsrfMode.NONE),
        ({}, AntiCsrfMode.NONE),
    ],
)
def test_anti_csrf_defaults_as_the_sdk_by_same_site(
    flags: dict[str, str], expected: AntiCsrfMode | None
) -> None:
    """The SDK's default: VIA_CUSTOM_HEADER when cookies are SameSite=None (browsers send
    them on cross-site requests), else NONE; a given mode is kept."""
    settings = load_settings(flags, {})
    want = expected or AntiCsrfMode[flags["anti_csrf"]]
    assert settings.anti_csrf is want
    assert settings.http_config().anti_csrf is want


@pytest.mark.parametrize(
    ("flags", "collision"),
    [
        ({"port": "9000", "http_port": "9000"}, "--http-port must differ from --port"),
        (
            {"host": "0.0.0.0", "metrics_port": "9000", "port": "9000"},
            "--metrics-port must differ from --port",
        ),
        (
            {"http_host": "127.0.0.2", "http_port": "9000", "metrics_port": "9000"},
            None,
        ),
        ({"port": "0", "http_port": "0", "metrics_port": "0"}, None),
    ],
)
def test_listeners_on_one_port_of_one_address_are_refused(
    flags: dict[str, str | None], collision: str | None
) -> None:
    """Each pair of listeners (gRPC, HTTP edge, metrics) is refused only when both could
    not bind: the same port on the same address or a wildcard; 0 is a free port each."""
    if collision is None:
        load_settings(flags, {})
        return
    with pytest.raises(SettingsError, match=re.escape(collision)):
        load_settings(flags, {})
