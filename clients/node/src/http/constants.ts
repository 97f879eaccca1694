/** Transport names of supertokens-python 0.14.0 (`recipe/session/constants.py`). */
export const ACCESS_TOKEN_COOKIE = "sAccessToken";
export const REFRESH_TOKEN_COOKIE = "sRefreshToken";
/** Pre-0.13 cookie; its presence means an old session that must go through refresh. */
export const LEGACY_ID_REFRESH_TOKEN_COOKIE = "sIdRefreshToken";

export const ACCESS_TOKEN_HEADER = "st-access-token";
export const REFRESH_TOKEN_HEADER = "st-refresh-token";
export const FRONT_TOKEN_HEADER = "front-token";
export const ANTI_CSRF_HEADER = "anti-csrf";
export const AUTHORIZATION_HEADER = "authorization";
export const RID_HEADER = "rid";
export const AUTH_MODE_HEADER = "st-auth-mode";
export const ACCESS_CONTROL_EXPOSE_HEADERS = "access-control-expose-headers";

/** The access-token cookie outlives the token; the token's own `exp` decides validity. */
export const HUNDRED_YEARS_MS = 3_153_600_000_000;

export const DEFAULT_REFRESH_TOKEN_PATH = "/auth/session/refresh";

/** The headers a CORS setup must allow for SDK frontends (`get_cors_allowed_headers`). */
export const CORS_ALLOWED_HEADERS: readonly string[] = [ANTI_CSRF_HEADER, RID_HEADER, AUTHORIZATION_HEADER, AUTH_MODE_HEADER];
