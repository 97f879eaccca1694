"""Override hooks: change what the recipe functions do without forking the service.

The pattern is the SDK's ``override.functions``: configuration names a Python module
(``--override-module mypkg.hooks``, or ``mypkg.hooks:my_function``) whose ``override``
function receives the original recipe functions and returns the ones to use, usually the
originals with a few wrapped::

    import dataclasses
    from session_service.domain.overrides import RecipeFunctions

    def override(original: RecipeFunctions) -> RecipeFunctions:
        async def create_new_session(user_id, access_token_payload=None, *args, **kwargs):
            payload = {**(access_token_payload or {}), "iss": "https://issuer.example"}
            return await original.create_new_session(user_id, payload, *args, **kwargs)

        return dataclasses.replace(original, create_new_session=create_new_session)

Every RPC then goes through the returned functions. As in the SDK, ``create_new_session``
is the recipe function: it receives the payload after the configured issuer was added as
``iss`` (the SDK's public wrapper does that), so an override sees it and may change it.
``refresh_session`` is the recipe function too: on TOKEN_THEFT_DETECTED the service then
revokes the session (the SDK's default theft handler) through ``revoke_session``. And
``get_session_information``: the service then refuses to answer with stored JSON it could not
carry (docs/security.md, "Limits").
``get_session`` includes the claim validation, which goes through ``validate_claims`` (the
SDK's recipe function that fetches claim values) and, when values were fetched,
``regenerate_access_token``; ``validate_claims_for_session_handle`` and ``fetch_and_set_claim``
go through ``get_session_information`` and ``merge_into_access_token_payload``, as in the SDK.
The functions take the ``SessionRecipe`` method's arguments (``timeout`` is the caller's
remaining deadline, ``user_context`` the request's ``user_context`` as a dict, ``{}`` when
unset, as every SDK function takes one: pass both on) and return its result types; an
override must return those types too.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from session_service.domain.types import (
    ClaimsValidationResult,
    ClaimValueResult,
    CreateJwtResult,
    JwksResult,
    OpenIdDiscoveryConfiguration,
    RegenerateAccessTokenResult,
    RevokeResult,
    SessionHandlesResult,
    SessionInformationResult,
    SessionResult,
    StatusResult,
)

DEFAULT_FUNCTION = "override"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipeFunctions:
    """The session recipe functions (one per SDK ``RecipeInterface`` function that the
    service offers). Replace some with ``dataclasses.replace``."""

    create_new_session: Callable[..., Awaitable[SessionResult]]
    get_session: Callable[..., Awaitable[SessionResult]]
    refresh_session: Callable[..., Awaitable[SessionResult]]
    revoke_session: Callable[..., Awaitable[RevokeResult]]
    revoke_all_sessions_for_user: Callable[..., Awaitable[RevokeResult]]
    revoke_multiple_sessions: Callable[..., Awaitable[RevokeResult]]
    get_all_session_handles_for_user: Callable[..., Awaitable[SessionHandlesResult]]
    get_session_information: Callable[..., Awaitable[SessionInformationResult]]
    update_session_data_in_database: Callable[..., Awaitable[StatusResult]]
    merge_into_access_token_payload: Callable[..., Awaitable[StatusResult]]
    regenerate_access_token: Callable[..., Awaitable[RegenerateAccessTokenResult]]
    set_claim_value: Callable[..., Awaitable[StatusResult]]
    get_claim_value: Callable[..., Awaitable[ClaimValueResult]]
    remove_claim: Callable[..., Awaitable[StatusResult]]
    validate_claims_for_session_handle: Callable[..., Awaitable[ClaimsValidationResult]]
    validate_claims: Callable[..., Awaitable[ClaimsValidationResult]]
    validate_claims_in_jwt_payload: Callable[..., Awaitable[ClaimsValidationResult]]
    fetch_and_set_claim: Callable[..., Awaitable[StatusResult]]
    get_jwks: Callable[..., Awaitable[JwksResult]]
    create_jwt: Callable[..., Awaitable[CreateJwtResult]]
    get_open_id_discovery_configuration: Callable[..., Awaitable[OpenIdDiscoveryConfiguration]]


Override = Callable[[RecipeFunctions], RecipeFunctions]


class OverrideError(ValueError):
    """The override module cannot be used; the message says why."""


def apply_override(functions: RecipeFunctions, override: Override) -> RecipeFunctions:
    """What ``override`` returns for ``functions``: the recipe functions to use instead.
    ``OverrideError`` when it raises or returns anything but ``RecipeFunctions`` of
    callables."""
    try:
        replaced = override(functions)
    except Exception as exc:
        raise OverrideError(f"the override raised {type(exc).__name__}: {exc}") from None
    if not isinstance(replaced, RecipeFunctions):
        raise OverrideError(f"the override returned {type(replaced).__name__}, not RecipeFunctions")
    for field in dataclasses.fields(RecipeFunctions):
        if not callable(getattr(replaced, field.name)):
            raise OverrideError(f"the override's {field.name} is not callable")
    return replaced


def load_override(spec: str) -> Override:
    """Import ``module`` or ``module:function`` (default function name ``override``)."""
    module_name, _, function_name = spec.strip().partition(":")
    function_name = function_name or DEFAULT_FUNCTION
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise OverrideError(f"cannot import override module {module_name!r}: {exc}") from None
    except Exception as exc:  # the module's own code failed while it was imported
        raise OverrideError(
            f"override module {module_name!r} raised {type(exc).__name__} on import: {exc}"
        ) from None
    function: Any = getattr(module, function_name, None)
    if not callable(function):
        raise OverrideError(f"override module {module_name!r} has no function {function_name!r}")
    override: Override = function
    return override
