"""Domain configuration: validation with field names, defaults, and a core behind a base path."""

from __future__ import annotations

import pytest

from session_service.domain.api import (
    AntiCsrfMode,
    CoreClientConfig,
    DomainConfig,
    InvalidArgument,
    KeyCacheConfig,
    Status,
    parse_anti_csrf_mode,
)
from tests.service.domain.domain_helpers import MakeCore, MakeManager


def test_connection_uri_is_split_like_the_sdk() -> None:
    config = CoreClientConfig(connection_uri=" http://a:1/ ;; https://b:2/base/ ;")
    assert config.urls == ("http://a:1", "https://b:2/base")


@pytest.mark.parametrize("uri", ["", ";", "ftp://a", "a:3567", "http://a?x=1"])
def test_bad_connection_uri(uri: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        CoreClientConfig(connection_uri=uri)
    assert raised.value.field == "core.connection_uri"


def test_api_key_is_not_in_repr() -> None:
    config = CoreClientConfig(api_key="super-secret-api-key-value")
    assert "super-secret" not in repr(config)
    assert "super-secret" not in repr(DomainConfig(api_domain="http://x", core=config))


def test_anti_csrf_modes() -> None:
    assert parse_anti_csrf_mode(" via_token ") is AntiCsrfMode.VIA_TOKEN
    assert DomainConfig(api_domain="http://x").anti_csrf is AntiCsrfMode.NONE
    assert DomainConfig(api_domain="http://x", anti_csrf="NONE").anti_csrf is AntiCsrfMode.NONE  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument) as raised:
        DomainConfig(api_domain="http://x", anti_csrf="VIA_HEADER")  # type: ignore[arg-type]
    assert raised.value.field == "anti_csrf"
    assert "VIA_CUSTOM_HEADER" in raised.value.message
    custom = DomainConfig(api_domain="http://x", anti_csrf="via_custom_header")  # type: ignore[arg-type]
    assert custom.anti_csrf is AntiCsrfMode.VIA_CUSTOM_HEADER


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"api_domain": "api.example.com"}, "api_domain"),
        ({"api_domain": "http://x", "api_base_path": "auth"}, "api_base_path"),
        ({"api_domain": "http://x", "jwt_validity_seconds": 0}, "jwt_validity_seconds"),
        ({"api_domain": "http://x", "max_access_token_bytes": 10}, "max_access_token_bytes"),
    ],
)
def test_bad_domain_config(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        DomainConfig(**kwargs)  # type: ignore[arg-type]
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_age_seconds": 0}, "key_cache.max_age_seconds"),
        ({"refetch_cooldown_seconds": -1}, "key_cache.refetch_cooldown_seconds"),
        ({"max_stale_seconds": -1}, "key_cache.max_stale_seconds"),
        ({"unknown_kid_cache_size": 0}, "key_cache.unknown_kid_cache_size"),
        (
            {"max_age_seconds": 100, "max_age_ceiling_seconds": 50},
            "key_cache.max_age_ceiling_seconds",
        ),
    ],
)
def test_bad_key_cache_config(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        KeyCacheConfig(**kwargs)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_issuer_defaults() -> None:
    config = DomainConfig(api_domain="https://api.example.com/", api_base_path="/auth/")
    assert config.effective_issuer == "https://api.example.com/auth"
    assert config.jwks_domain == "https://api.example.com"
    assert DomainConfig(api_domain="https://a", issuer="https://i/").effective_issuer == "https://i"


async def test_core_behind_a_base_path(make_core: MakeCore, make_manager: MakeManager) -> None:
    core = await make_core(base_path="/core")
    assert core.url.endswith("/core")
    manager = await make_manager(core.url)
    created = await manager.create_new_session("u")
    assert created.session is not None
    assert (await manager.get_session(created.session.access_token)).status is Status.OK
    assert core.requests["/core/.well-known/jwks.json"] == 1
