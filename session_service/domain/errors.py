"""Failures that are not session outcomes.

Outcomes (UNAUTHORISED, TRY_REFRESH_TOKEN, ...) are ``Status`` values inside results; these
exceptions are for everything a caller cannot branch on: a request that can never succeed,
or a core that cannot be used. Messages never contain tokens, keys or secrets.
"""

from __future__ import annotations

from session_common.token_format import PROTECTED_PROPS

# The protected claims, as messages list them.
PROTECTED_CLAIMS = ", ".join(sorted(PROTECTED_PROPS))


class DomainError(Exception):
    """Base class of every exception the domain layer raises on purpose."""


class InvalidArgument(DomainError, ValueError):
    """The request (or configuration) is malformed; ``field`` names the culprit.

    gRPC: INVALID_ARGUMENT. Also a ``ValueError`` so configuration code can treat a bad
    ``DomainConfig`` like any other bad value.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CoreUnavailable(DomainError):
    """The core could not be reached, timed out, or answered something unusable
    (5xx, a body that is not the expected JSON). gRPC: UNAVAILABLE."""


class CoreSaturated(DomainError):
    """Every connection to the core stayed busy until the call's time ran out: the call
    never reached the core, or reached it too late, because it waited for one. The core is
    not (known to be) down; the service is answering more than its connections carry.
    gRPC: RESOURCE_EXHAUSTED."""


class DeadlineExceeded(DomainError):
    """The caller's deadline passed before the core could be called (e.g. between the
    calls of one operation). gRPC: DEADLINE_EXCEEDED."""


class CoreApiKeyRejected(CoreUnavailable):
    """The core refused the service's API key, or asked for one when none is configured
    (HTTP 401). Retrying will not help until the key is fixed. gRPC: UNAVAILABLE."""


class CoreIncompatible(DomainError):
    """The core does not speak CDI 2.21 (its ``/apiversion`` list lacks it).

    Retrying will not help until the core is replaced. gRPC: FAILED_PRECONDITION (or
    UNAVAILABLE if the server prefers clients to keep retrying).
    """
