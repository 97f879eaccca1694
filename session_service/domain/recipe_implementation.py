"""The default recipe functions (supertokens-python 0.14.0's ``RecipeImplementation``), bound
to one recipe's parts: what an override receives as ``original``."""

from __future__ import annotations

from functools import partial

from session_service.domain import (
    claim_functions,
    get_session,
    jwt_functions,
    session_functions,
)
from session_service.domain.overrides import RecipeFunctions
from session_service.domain.recipe_parts import RecipeParts


def default_functions(parts: RecipeParts) -> RecipeFunctions:
    """Every recipe function, taking the arguments the ``SessionRecipe`` method of its name
    takes."""
    return RecipeFunctions(
        create_new_session=partial(session_functions.create_new_session, parts),
        get_session=partial(get_session.get_session, parts),
        refresh_session=partial(session_functions.refresh_session, parts),
        revoke_session=partial(session_functions.revoke_session, parts),
        revoke_all_sessions_for_user=partial(session_functions.revoke_all_sessions_for_user, parts),
        revoke_multiple_sessions=partial(session_functions.revoke_multiple_sessions, parts),
        get_all_session_handles_for_user=partial(
            session_functions.get_all_session_handles_for_user, parts
        ),
        get_session_information=partial(session_functions.get_session_information, parts),
        update_session_data_in_database=partial(
            session_functions.update_session_data_in_database, parts
        ),
        merge_into_access_token_payload=partial(
            session_functions.merge_into_access_token_payload, parts
        ),
        regenerate_access_token=partial(session_functions.regenerate_access_token, parts),
        set_claim_value=partial(claim_functions.set_claim_value, parts),
        get_claim_value=partial(claim_functions.get_claim_value, parts),
        remove_claim=partial(claim_functions.remove_claim, parts),
        validate_claims_for_session_handle=partial(
            claim_functions.validate_claims_for_session_handle, parts
        ),
        validate_claims=partial(claim_functions.validate_claims, parts),
        validate_claims_in_jwt_payload=partial(
            claim_functions.validate_claims_in_jwt_payload, parts
        ),
        fetch_and_set_claim=partial(claim_functions.fetch_and_set_claim, parts),
        get_jwks=partial(jwt_functions.get_jwks, parts),
        create_jwt=partial(jwt_functions.create_jwt, parts),
        get_open_id_discovery_configuration=partial(
            jwt_functions.get_open_id_discovery_configuration, parts
        ),
    )
