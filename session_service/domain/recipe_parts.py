"""What the recipe functions work with, shared by the modules that hold them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from session_common.clock import Clock
from session_service.core_client.client import CoreClient
from session_service.domain.claims import check_claim_validators
from session_service.domain.config import DomainConfig
from session_service.domain.key_cache import KeyCache
from session_service.domain.overrides import RecipeFunctions
from session_service.domain.revocations import Revocations
from session_service.domain.session_claims import ClaimRegistry
from session_service.domain.session_limits import SessionLimits
from session_service.domain.token_check import TokenCheck
from session_service.domain.types import ClaimValidatorSpec
from session_service.domain.verifier import AccessTokenVerifier


@dataclass(frozen=True, slots=True, eq=False)
class RecipeParts:
    """The configuration, clock, core client, caches and claims of one recipe.

    ``functions()`` gives the recipe functions in use, overrides included: a recipe function
    that calls another (``get_session`` the claim validation, ``refresh_session``'s theft
    handling ...) calls it through them, as the SDK's functions call the recipe's
    ``recipe_implementation``, so an override sees every call made to its function.
    """

    config: DomainConfig
    clock: Clock
    core: CoreClient
    keys: KeyCache
    verifier: AccessTokenVerifier
    tokens: TokenCheck
    # The revoked sessions from the core's revocation feed, and whether to ask the core.
    revocations: Revocations
    limits: SessionLimits
    # The claims the service can fetch (--claims-module), and the server-wide validators
    # bound to them.
    claims: ClaimRegistry
    required_validators: tuple[ClaimValidatorSpec, ...]
    functions: Callable[[], RecipeFunctions]
    # Anti-CSRF tokens are issued and checked (``config.anti_csrf`` is VIA_TOKEN).
    via_token: bool

    def validators(
        self, requested: Sequence[ClaimValidatorSpec], override: bool
    ) -> tuple[ClaimValidatorSpec, ...]:
        """The validators a call runs: the server-wide ones and ``requested``, or only
        ``requested`` when it overrides them (``override_global_claim_validators``)."""
        if not requested and not override:
            return self.required_validators  # checked with the config
        requested = tuple(requested)
        check_claim_validators(requested, "claim_validators")
        requested = self.claims.bind(requested, "claim_validators")
        if override:
            return requested
        return self.required_validators + requested


def time_left(deadline: float | None) -> float | None:
    """What is left until ``deadline`` (loop time), as the ``timeout`` of a recipe function
    that another one calls."""
    if deadline is None:
        return None
    return max(0.0, deadline - asyncio.get_running_loop().time())
