"""The public functions of ``SessionRecipe`` that only call the recipe function of their
name (the SDK's thin pass-throughs in ``supertokens_python.recipe.session.asyncio``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from session_common.json_values import JSONObject
from session_service.domain.overrides import RecipeFunctions
from session_service.domain.types import (
    ClaimsValidationResult,
    ClaimValidatorSpec,
    ClaimValueResult,
    CreateJwtResult,
    JwksResult,
    OpenIdDiscoveryConfiguration,
    RegenerateAccessTokenResult,
    RevokeResult,
    SessionHandlesResult,
    SessionResult,
    StatusResult,
)


class RecipeCalls:
    """Each method calls ``functions``' function of its name with its arguments."""

    functions: RecipeFunctions

    async def revoke_session(
        self,
        session_handle: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RevokeResult:
        return await self.functions.revoke_session(
            session_handle, user_context=user_context, timeout=timeout
        )

    async def revoke_all_sessions_for_user(
        self,
        user_id: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RevokeResult:
        return await self.functions.revoke_all_sessions_for_user(
            user_id, user_context=user_context, timeout=timeout
        )

    async def revoke_multiple_sessions(
        self,
        session_handles: Sequence[str],
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RevokeResult:
        return await self.functions.revoke_multiple_sessions(
            session_handles, user_context=user_context, timeout=timeout
        )

    async def get_all_session_handles_for_user(
        self,
        user_id: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionHandlesResult:
        return await self.functions.get_all_session_handles_for_user(
            user_id, user_context=user_context, timeout=timeout
        )

    async def update_session_data_in_database(
        self,
        session_handle: str,
        new_session_data: JSONObject,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        return await self.functions.update_session_data_in_database(
            session_handle, new_session_data, user_context=user_context, timeout=timeout
        )

    async def merge_into_access_token_payload(
        self,
        session_handle: str,
        access_token_payload_update: JSONObject,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        return await self.functions.merge_into_access_token_payload(
            session_handle, access_token_payload_update, user_context=user_context, timeout=timeout
        )

    async def regenerate_access_token(
        self,
        access_token: str,
        new_access_token_payload: JSONObject | None = None,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RegenerateAccessTokenResult:
        return await self.functions.regenerate_access_token(
            access_token, new_access_token_payload, user_context=user_context, timeout=timeout
        )

    async def get_session(
        self,
        access_token: str | None,
        *,
        anti_csrf_token: str | None = None,
        anti_csrf_check: bool = True,
        session_required: bool = True,
        check_database: bool = False,
        claim_validators: Sequence[ClaimValidatorSpec] = (),
        override_global_claim_validators: bool = False,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionResult:
        return await self.functions.get_session(
            access_token,
            anti_csrf_token=anti_csrf_token,
            anti_csrf_check=anti_csrf_check,
            session_required=session_required,
            check_database=check_database,
            claim_validators=claim_validators,
            override_global_claim_validators=override_global_claim_validators,
            user_context=user_context,
            timeout=timeout,
        )

    async def set_claim_value(
        self,
        session_handle: str,
        claim_key: str,
        value: Any,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        return await self.functions.set_claim_value(
            session_handle, claim_key, value, user_context=user_context, timeout=timeout
        )

    async def get_claim_value(
        self,
        session_handle: str,
        claim_key: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimValueResult:
        return await self.functions.get_claim_value(
            session_handle, claim_key, user_context=user_context, timeout=timeout
        )

    async def remove_claim(
        self,
        session_handle: str,
        claim_key: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        return await self.functions.remove_claim(
            session_handle, claim_key, user_context=user_context, timeout=timeout
        )

    async def validate_claims_for_session_handle(
        self,
        session_handle: str,
        *,
        claim_validators: Sequence[ClaimValidatorSpec] = (),
        override_global_claim_validators: bool = False,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimsValidationResult:
        return await self.functions.validate_claims_for_session_handle(
            session_handle,
            claim_validators=claim_validators,
            override_global_claim_validators=override_global_claim_validators,
            user_context=user_context,
            timeout=timeout,
        )

    async def validate_claims(
        self,
        user_id: str,
        access_token_payload: JSONObject,
        claim_validators: Sequence[ClaimValidatorSpec],
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimsValidationResult:
        return await self.functions.validate_claims(
            user_id,
            access_token_payload,
            claim_validators,
            user_context=user_context,
            timeout=timeout,
        )

    async def validate_claims_in_jwt_payload(
        self,
        user_id: str,
        jwt_payload: JSONObject,
        *,
        claim_validators: Sequence[ClaimValidatorSpec] = (),
        override_global_claim_validators: bool = False,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimsValidationResult:
        return await self.functions.validate_claims_in_jwt_payload(
            user_id,
            jwt_payload,
            claim_validators=claim_validators,
            override_global_claim_validators=override_global_claim_validators,
            user_context=user_context,
            timeout=timeout,
        )

    async def fetch_and_set_claim(
        self,
        session_handle: str,
        claim_key: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        return await self.functions.fetch_and_set_claim(
            session_handle, claim_key, user_context=user_context, timeout=timeout
        )

    async def get_jwks(
        self,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> JwksResult:
        return await self.functions.get_jwks(user_context=user_context, timeout=timeout)

    async def create_jwt(
        self,
        payload: JSONObject,
        validity_seconds: int | None = None,
        use_static_signing_key: bool | None = None,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> CreateJwtResult:
        return await self.functions.create_jwt(
            payload,
            validity_seconds,
            use_static_signing_key,
            user_context=user_context,
            timeout=timeout,
        )

    async def get_open_id_discovery_configuration(
        self,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> OpenIdDiscoveryConfiguration:
        return await self.functions.get_open_id_discovery_configuration(
            user_context=user_context, timeout=timeout
        )
