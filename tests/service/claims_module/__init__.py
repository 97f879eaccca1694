"""Claims the service fetches (``--claims-module``), end to end over gRPC against the real
core: GetSession fetches a value exactly when the SDK would (missing, or older than the
validator's max age), merges it, and answers with the new access token; FetchAndSetClaim,
ValidateClaimsForSessionHandle and ValidateClaimsInJwtPayload; user_context reaching
fetch_value and the override hooks; and GetSession's cached fast path stepping aside.

The claims are ``tests/service/fetched_claims.py``, whose ``fetch_value`` functions count
their calls.
"""
