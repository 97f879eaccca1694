"""The settings of the HTTP side (the HTTP edge and the decision Envoy's ``Check`` shares),
named as supertokens-python 0.14.0's session config names them (``session.init``:
``cookie_domain``, ``cookie_secure``, ``cookie_same_site``, ``session_expired_status_code``,
``invalid_claim_status_code``, ``expose_access_token_to_frontend_in_cookie_based_auth``,
``get_token_transfer_method``), plus where the edge listens and the upstream header names.

A group of ``Settings`` (its base class), read like every other setting; ``api_domain``,
``api_base_path`` and ``anti_csrf`` are the service's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from session_common.config_loading import Parser, as_lowercase, flag_of, setting
from session_service.domain.api import AntiCsrfMode, InvalidArgument
from session_service.domain.http_types import (
    DEFAULT_INVALID_CLAIM_STATUS_CODE,
    DEFAULT_PAYLOAD_HEADER,
    DEFAULT_SESSION_EXPIRED_STATUS_CODE,
    DEFAULT_SESSION_HANDLE_HEADER,
    DEFAULT_USER_ID_HEADER,
    HttpConfig,
    UpstreamHeaders,
    check_same_site_none,
)

# The SDK's refresh API path under api_base_path.
REFRESH_API = "/session/refresh"
SIGN_OUT_API = "/signout"
GATEWAY_PARSERS: dict[str, Parser] = {
    "cookie_same_site": as_lowercase,
    "token_transfer_method": as_lowercase,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewaySettings:
    """The HTTP settings group; ``gateway_config`` checks and builds ``HttpConfig``."""

    # The title of these flags' group in ``--help`` (after the service's own).
    HELP_GROUP: ClassVar[str] = (
        "HTTP edge and gateways (the decision the edge and Envoy's Check share)"
    )

    http_port: int | None = setting(
        None,
        "port of the HTTP edge (/verify for nginx auth_request, Traefik ForwardAuth, Caddy "
        "forward_auth; the SDK's refresh and sign-out APIs; JWKS); 0 picks a free one; unset: off",
    )
    http_host: str = setting("", "address of the HTTP edge; empty: --host")
    refresh_token_path: str = setting(
        "",
        "Path of the sRefreshToken cookie, the refresh API as browsers see it; empty: "
        "--api-base-path + /session/refresh",
    )
    access_token_path: str = setting("/", "Path of the sAccessToken cookie")
    cookie_domain: str | None = setting(None, "Domain of the session cookies; unset: none")
    cookie_secure: bool = setting(False, "Secure session cookies (true behind https)")
    cookie_same_site: str = setting("lax", "SameSite of the session cookies: lax, strict, none")
    token_transfer_method: str = setting(
        "any", "which tokens requests may carry: any, cookie (sAccessToken) or header (Bearer)"
    )
    session_expired_status_code: int = setting(
        DEFAULT_SESSION_EXPIRED_STATUS_CODE, "HTTP status of unauthorised / try refresh token"
    )
    invalid_claim_status_code: int = setting(
        DEFAULT_INVALID_CLAIM_STATUS_CODE, "HTTP status of a claim validation failure"
    )
    expose_access_token_to_frontend_in_cookie_based_auth: bool = setting(
        False, "cookie mode also sends the access token as st-access-token (the SDK's option)"
    )
    upstream_user_id_header: str = setting(
        DEFAULT_USER_ID_HEADER, "header carrying the user id upstream; none: not sent"
    )
    upstream_session_handle_header: str = setting(
        DEFAULT_SESSION_HANDLE_HEADER, "header carrying the session handle upstream; none: not sent"
    )
    upstream_payload_header: str = setting(
        DEFAULT_PAYLOAD_HEADER,
        "header carrying the access-token payload upstream (base64url JSON); none: not sent",
    )

    def gateway_config(
        self,
        anti_csrf: AntiCsrfMode,
        api_domain: str,
        api_base_path: str,
        error: type[Exception],
    ) -> HttpConfig:
        """The decision's configuration; a bad value raises ``error`` naming its flag."""
        try:
            if self.http_port is not None and not 0 <= self.http_port <= 65535:
                raise InvalidArgument(
                    "http_port", f"must be between 0 and 65535 (got {self.http_port})"
                )
            # (A base path without its leading "/" is refused as --api-base-path, later.)
            base = api_base_path.strip("/")
            config = HttpConfig(
                refresh_token_path=self.refresh_token_path
                or (f"/{base}" if base else "") + REFRESH_API,
                access_token_path=self.access_token_path,
                cookie_domain=self.cookie_domain,
                cookie_secure=self.cookie_secure,
                cookie_same_site=self.cookie_same_site,  # type: ignore[arg-type]
                anti_csrf=anti_csrf,
                token_transfer_method=self.token_transfer_method,  # type: ignore[arg-type]
                session_expired_status_code=self.session_expired_status_code,
                invalid_claim_status_code=self.invalid_claim_status_code,
                expose_access_token_to_frontend_in_cookie_based_auth=(
                    self.expose_access_token_to_frontend_in_cookie_based_auth
                ),
                upstream=UpstreamHeaders(
                    user_id=self.upstream_user_id_header,
                    session_handle=self.upstream_session_handle_header,
                    payload=self.upstream_payload_header,
                ),
            )
            check_same_site_none(config, api_domain)
        except InvalidArgument as exc:
            raise error(f"{flag_of(exc.field)} {exc.message}") from None
        return config
