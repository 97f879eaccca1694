/**
 * The SDK's request layer over `SessionClient`, framework-neutral: it reads tokens from a
 * request, calls the service, and returns what to do to the response (headers, cookies, and
 * for failures the SDK's status and JSON body). It follows supertokens-python 0.14.0
 * `recipe/session/session_request_functions.py`, `recipe/session/cookie_and_header.py` and
 * the default error handlers (`recipe/session/utils.py`).
 *
 * Anti-CSRF: VIA_TOKEN is enforced by the service (start it with --anti-csrf VIA_TOKEN and
 * set the same here); VIA_CUSTOM_HEADER (the `rid` header) is enforced here, with the service
 * on NONE, because the service has no such mode.
 */
import { isIP } from "node:net";
import type { GetSessionOptions, SessionClient } from "../client";
import type { ClaimValidator } from "../claims";
import type { JsonObject } from "../json";
import type { ClaimValidationError, Session, TokenInfo } from "../types";
import { parseAccessToken } from "./access-token";
import {
  ACCESS_CONTROL_EXPOSE_HEADERS,
  ACCESS_TOKEN_COOKIE,
  ACCESS_TOKEN_HEADER,
  ANTI_CSRF_HEADER,
  AUTH_MODE_HEADER,
  AUTHORIZATION_HEADER,
  DEFAULT_REFRESH_TOKEN_PATH,
  FRONT_TOKEN_HEADER,
  HUNDRED_YEARS_MS,
  LEGACY_ID_REFRESH_TOKEN_COOKIE,
  REFRESH_TOKEN_COOKIE,
  REFRESH_TOKEN_HEADER,
  RID_HEADER,
} from "./constants";
import { parseCookieHeader, type SameSite } from "./cookies";
import { ResponseChanges } from "./response";

export type TokenTransferMethod = "header" | "cookie";
type TokenType = "access" | "refresh";
const TRANSFER_METHODS: readonly TokenTransferMethod[] = ["cookie", "header"];

/** The request as the session layer sees it; header names are lowercase. */
export interface HttpRequestLike {
  readonly method: string;
  header(name: string): string | undefined;
}

export interface HttpSessionConfig {
  /** Where the refresh cookie is sent; the SDK's api_base_path + "/session/refresh". */
  readonly refreshTokenPath?: string;
  readonly cookieDomain?: string;
  /** Default false (the SDK: true when api_domain is https). */
  readonly cookieSecure?: boolean;
  /** Default "lax". */
  readonly cookieSameSite?: SameSite;
  /** Must match the service's --anti-csrf; VIA_CUSTOM_HEADER is checked here (service on NONE). */
  readonly antiCsrf?: "NONE" | "VIA_TOKEN" | "VIA_CUSTOM_HEADER";
  /** Cookie mode also sends the access token in the `st-access-token` header. */
  readonly exposeAccessTokenToFrontendInCookieBasedAuth?: boolean;
  /** The SDK's `get_token_transfer_method`; the default is described at `defaultTokenTransferMethod`. */
  readonly getTokenTransferMethod?: (request: HttpRequestLike, forCreateNewSession: boolean) => TokenTransferMethod | "any";
  /** Only for the SDK's refusal of insecure SameSite=None cookies outside localhost/IP setups. */
  readonly apiDomain?: string;
  readonly websiteDomain?: string;
}

/** A session verified (or created, or refreshed) in a request. */
export interface RequestSession extends Session {
  /** How the tokens travel for this client; responses use the same method. */
  readonly transferMethod: TokenTransferMethod;
}

export type SessionErrorType = "UNAUTHORISED" | "TRY_REFRESH_TOKEN" | "TOKEN_THEFT_DETECTED" | "INVALID_CLAIMS";

export interface ErrorBody {
  readonly message: "unauthorised" | "try refresh token" | "token theft detected" | "invalid claim";
  readonly claimValidationErrors?: readonly ClaimValidationError[];
}

/** An outcome the SDK answers with 401/403 (its default error handlers). */
export interface HttpSessionError {
  readonly type: SessionErrorType;
  readonly httpStatus: 401 | 403;
  readonly body: ErrorBody;
  /** Why, for server-side logs; never contains token material. */
  readonly reason: string;
}

/** Apply `response` in both cases; on `ok: false`, send `error.httpStatus` with `error.body`. */
export type HttpResult<T> =
  | { readonly ok: true; readonly value: T; readonly response: ResponseChanges }
  | { readonly ok: false; readonly error: HttpSessionError; readonly response: ResponseChanges };

export interface VerifySessionOptions {
  /** Default true; false gives `value: undefined` when there is no session. */
  readonly sessionRequired?: boolean;
  /** Default: check on every method but GET (as the SDK). */
  readonly antiCsrfCheck?: boolean;
  readonly checkDatabase?: boolean;
  readonly claimValidators?: readonly ClaimValidator[];
  readonly overrideGlobalClaimValidators?: boolean;
}

/**
 * The SDK default: "any" for verify and refresh; for create, the `st-auth-mode` request
 * header when it is "header" or "cookie", else "any" (which create turns into "header").
 */
export function defaultTokenTransferMethod(request: HttpRequestLike, forCreateNewSession: boolean): TokenTransferMethod | "any" {
  if (!forCreateNewSession) return "any";
  const mode = request.header(AUTH_MODE_HEADER)?.toLowerCase();
  return mode === "header" || mode === "cookie" ? mode : "any";
}

export class HttpSessions {
  private readonly refreshTokenPath: string;
  private readonly cookieSecure: boolean;
  private readonly cookieSameSite: SameSite;
  private readonly antiCsrf: "NONE" | "VIA_TOKEN" | "VIA_CUSTOM_HEADER";
  private readonly getTokenTransferMethod: (request: HttpRequestLike, forCreateNewSession: boolean) => TokenTransferMethod | "any";

  constructor(
    private readonly client: SessionClient,
    private readonly config: HttpSessionConfig = {},
  ) {
    this.refreshTokenPath = config.refreshTokenPath ?? DEFAULT_REFRESH_TOKEN_PATH;
    this.cookieSecure = config.cookieSecure ?? false;
    this.cookieSameSite = config.cookieSameSite ?? "lax";
    this.antiCsrf = config.antiCsrf ?? "NONE";
    this.getTokenTransferMethod = config.getTokenTransferMethod ?? defaultTokenTransferMethod;
  }

  /** SDK `create_new_session(request, ...)`. Throws (no 401/403 outcome exists for create). */
  async createNewSession(
    request: HttpRequestLike,
    userId: string,
    options: { accessTokenPayload?: JsonObject; sessionDataInDatabase?: JsonObject } = {},
  ): Promise<RequestSession & { readonly response: ResponseChanges }> {
    const chosen = this.getTokenTransferMethod(request, true);
    const method: TokenTransferMethod = chosen === "any" ? "header" : chosen;
    if (method === "cookie" && this.cookieSameSite === "none" && !this.cookieSecure && !this.localDevelopmentDomains()) {
      throw new Error(
        "Since your API and website domain are different, for sessions to work, please use https on your apiDomain and don't set cookieSecure to false.",
      );
    }
    // Header transfer needs no anti-CSRF token: a cross-site page cannot set headers.
    const created = await this.client.createSession(userId, { ...options, disableAntiCsrf: method === "header" });
    const response = new ResponseChanges();
    for (const other of TRANSFER_METHODS) {
      if (other !== method && getToken(request, "access", other) !== undefined) this.clearSession(response, other);
    }
    this.attachTokens(response, method, created.session, created.refreshToken, created.antiCsrfToken);
    return { ...created.session, transferMethod: method, response };
  }

  /** SDK `get_session(request, ...)` including the claim check of `verify_session`. */
  async getSession(request: HttpRequestLike, options: VerifySessionOptions & { sessionRequired: false }): Promise<HttpResult<RequestSession | undefined>>;
  async getSession(request: HttpRequestLike, options?: VerifySessionOptions): Promise<HttpResult<RequestSession>>;
  async getSession(request: HttpRequestLike, options: VerifySessionOptions = {}): Promise<HttpResult<RequestSession | undefined>> {
    const response = new ResponseChanges();
    if (getCookie(request, LEGACY_ID_REFRESH_TOKEN_COOKIE) !== undefined) {
      return fail(response, "TRY_REFRESH_TOKEN", "using legacy session, please call the refresh API");
    }
    const allowed = this.getTokenTransferMethod(request, false);
    // Tokens that cannot be access tokens are ignored, so a stray bearer token does not hide the cookie.
    const tokens: Partial<Record<TokenTransferMethod, string>> = {};
    for (const method of TRANSFER_METHODS) {
      const token = getToken(request, "access", method);
      if (token !== undefined && parseAccessToken(token) !== undefined) tokens[method] = token;
    }
    let method: TokenTransferMethod | undefined;
    if ((allowed === "any" || allowed === "header") && tokens.header !== undefined) method = "header";
    else if ((allowed === "any" || allowed === "cookie") && tokens.cookie !== undefined) method = "cookie";
    const accessToken = method === undefined ? undefined : tokens[method];

    const antiCsrfToken = request.header(ANTI_CSRF_HEADER);
    let antiCsrfCheck = options.antiCsrfCheck ?? request.method.toUpperCase() !== "GET";
    if (method === "header") antiCsrfCheck = false;
    if (antiCsrfCheck && this.antiCsrf === "VIA_CUSTOM_HEADER") {
      // As in 0.14.0, this runs even when there is no access token (0.14.8 changed that).
      if (request.header(RID_HEADER) === undefined) {
        return fail(
          response,
          "TRY_REFRESH_TOKEN",
          "anti-csrf check failed. Please pass 'rid: \"session\"' header in the request, or set doAntiCsrfCheck to false for this API",
        );
      }
      antiCsrfCheck = false;
    }

    const verifyOptions: GetSessionOptions = {
      ...(antiCsrfToken !== undefined && { antiCsrfToken }),
      antiCsrfCheck,
      sessionRequired: options.sessionRequired ?? true,
      checkDatabase: options.checkDatabase ?? false,
      claimValidators: options.claimValidators ?? [],
      overrideGlobalClaimValidators: options.overrideGlobalClaimValidators ?? false,
    };
    const result = await this.client.getSession(accessToken, verifyOptions);
    switch (result.status) {
      case "OK": {
        const transferMethod = method ?? "header";
        if (result.newAccessToken !== undefined) {
          // The first use after a refresh (or check_database): the client must get the new token.
          this.setAccessToken(response, transferMethod, result.session);
          if (antiCsrfToken !== undefined) setExposedHeader(response, ANTI_CSRF_HEADER, antiCsrfToken);
        }
        return { ok: true, value: { ...result.session, transferMethod }, response };
      }
      case "NO_SESSION":
        return { ok: true, value: undefined, response };
      case "UNAUTHORISED":
        // With a token, this is the core saying the session is gone: clear_tokens=True in the SDK.
        // Without one, nothing is cleared (the SDK's "Session does not exist", clear_tokens=False).
        if (accessToken !== undefined) this.clearSessionFromAllTokenTransferMethods(response);
        return fail(response, "UNAUTHORISED", result.message);
      case "TRY_REFRESH_TOKEN":
        return fail(response, "TRY_REFRESH_TOKEN", result.message);
      case "INVALID_CLAIMS":
        // As in the SDK, claims are asserted before the session is attached, so a new access
        // token minted by this call is not sent; the next call gets one again.
        return {
          ok: false,
          error: {
            type: "INVALID_CLAIMS",
            httpStatus: 403,
            body: { message: "invalid claim", claimValidationErrors: result.invalidClaims },
            reason: result.message,
          },
          response,
        };
      case "UNKNOWN":
        throw new Error(`GetSession: unexpected status ${result.statusCode}: ${result.message}`);
    }
  }

  /** SDK `refresh_session(request)` (the refresh API). */
  async refreshSession(request: HttpRequestLike): Promise<HttpResult<RequestSession>> {
    const response = new ResponseChanges();
    const allowed = this.getTokenTransferMethod(request, false);
    const tokens: Record<TokenTransferMethod, string | undefined> = {
      cookie: getToken(request, "refresh", "cookie"),
      header: getToken(request, "refresh", "header"),
    };
    let method: TokenTransferMethod | undefined;
    if ((allowed === "any" || allowed === "header") && tokens.header !== undefined) method = "header";
    else if ((allowed === "any" || allowed === "cookie") && tokens.cookie !== undefined) method = "cookie";
    if (method === undefined) {
      if (getCookie(request, LEGACY_ID_REFRESH_TOKEN_COOKIE) !== undefined) this.clearLegacyCookie(response);
      return fail(response, "UNAUTHORISED", "Refresh token not found. Are you sending the refresh token in the request?");
    }
    const refreshToken = tokens[method] as string;

    const antiCsrfToken = request.header(ANTI_CSRF_HEADER);
    let disableAntiCsrf = method === "header";
    if (this.antiCsrf === "VIA_CUSTOM_HEADER" && !disableAntiCsrf) {
      if (request.header(RID_HEADER) === undefined) {
        return fail(response, "UNAUTHORISED", "anti-csrf check failed. Please pass 'rid: \"session\"' header in the request.");
      }
      disableAntiCsrf = true;
    }

    const result = await this.client.refreshSession(refreshToken, {
      ...(antiCsrfToken !== undefined && { antiCsrfToken }),
      disableAntiCsrf,
    });
    switch (result.status) {
      case "OK":
        for (const other of TRANSFER_METHODS) {
          if (other !== method && tokens[other] !== undefined) this.clearSession(response, other);
        }
        this.attachTokens(response, method, result.session, result.refreshToken, result.antiCsrfToken);
        return { ok: true, value: { ...result.session, transferMethod: method }, response };
      case "UNAUTHORISED":
        if (getCookie(request, LEGACY_ID_REFRESH_TOKEN_COOKIE) !== undefined) this.clearLegacyCookie(response);
        this.clearSessionFromAllTokenTransferMethods(response);
        return fail(response, "UNAUTHORISED", result.message);
      case "TOKEN_THEFT_DETECTED":
        if (getCookie(request, LEGACY_ID_REFRESH_TOKEN_COOKIE) !== undefined) this.clearLegacyCookie(response);
        // The SDK's default theft handler revokes the session whose refresh token was reused.
        await this.client.revokeSession(result.tokenTheft.sessionHandle);
        this.clearSessionFromAllTokenTransferMethods(response);
        return fail(response, "TOKEN_THEFT_DETECTED", result.message);
      case "UNKNOWN":
        throw new Error(`RefreshSession: unexpected status ${result.statusCode}: ${result.message}`);
    }
  }

  /**
   * Revokes a session verified in this request and clears its tokens from the response
   * (SDK `Session.revoke_session` when attached: clearing happens whatever the result).
   */
  async revokeSession(session: RequestSession, response: ResponseChanges): Promise<void> {
    await this.client.revokeSession(session.sessionHandle);
    this.clearSession(response, session.transferMethod);
  }

  /** The SDK's sign-out API: optional session, no claim validation, revoke and clear. */
  async signOut(request: HttpRequestLike): Promise<HttpResult<{ readonly status: "OK" }>> {
    const verified = await this.getSession(request, {
      sessionRequired: false,
      overrideGlobalClaimValidators: true,
      claimValidators: [],
    });
    if (!verified.ok) return verified;
    if (verified.value !== undefined) await this.revokeSession(verified.value, verified.response);
    return { ok: true, value: { status: "OK" }, response: verified.response };
  }

  // -- response writing (cookie_and_header.py) ------------------------------------------------

  private attachTokens(
    response: ResponseChanges,
    method: TokenTransferMethod,
    session: Session,
    refreshToken: TokenInfo,
    antiCsrfToken: string | undefined,
  ): void {
    this.setAccessToken(response, method, session);
    this.setToken(response, "refresh", refreshToken.token, refreshToken.expiry, method);
    if (antiCsrfToken !== undefined) setExposedHeader(response, ANTI_CSRF_HEADER, antiCsrfToken);
  }

  private setAccessToken(response: ResponseChanges, method: TokenTransferMethod, session: Session): void {
    setExposedHeader(response, FRONT_TOKEN_HEADER, session.frontToken);
    const expires = Date.now() + HUNDRED_YEARS_MS;
    this.setToken(response, "access", session.accessToken, expires, method);
    if (this.config.exposeAccessTokenToFrontendInCookieBasedAuth && method === "cookie") {
      this.setToken(response, "access", session.accessToken, expires, "header");
    }
  }

  private setToken(response: ResponseChanges, type: TokenType, value: string, expires: number, method: TokenTransferMethod): void {
    if (method === "cookie") {
      response.setCookie({
        name: type === "access" ? ACCESS_TOKEN_COOKIE : REFRESH_TOKEN_COOKIE,
        value,
        expires,
        // The refresh cookie goes only to the refresh API, so ordinary requests never carry it.
        path: type === "refresh" ? this.refreshTokenPath : "/",
        ...(this.config.cookieDomain !== undefined && { domain: this.config.cookieDomain }),
        secure: this.cookieSecure,
        httpOnly: true,
        sameSite: this.cookieSameSite,
      });
    } else {
      setExposedHeader(response, type === "access" ? ACCESS_TOKEN_HEADER : REFRESH_TOKEN_HEADER, value);
    }
  }

  /** Clearing: empty tokens with expiry 0, no anti-CSRF header, `front-token: remove`. */
  clearSession(response: ResponseChanges, method: TokenTransferMethod): void {
    this.setToken(response, "access", "", 0, method);
    this.setToken(response, "refresh", "", 0, method);
    response.removeHeader(ANTI_CSRF_HEADER);
    setExposedHeader(response, FRONT_TOKEN_HEADER, "remove");
  }

  /** Both methods, so that tokens an earlier step put on this response are overridden too. */
  clearSessionFromAllTokenTransferMethods(response: ResponseChanges): void {
    for (const method of TRANSFER_METHODS) this.clearSession(response, method);
  }

  private clearLegacyCookie(response: ResponseChanges): void {
    response.setCookie({
      name: LEGACY_ID_REFRESH_TOKEN_COOKIE,
      value: "",
      expires: 0,
      path: "/",
      ...(this.config.cookieDomain !== undefined && { domain: this.config.cookieDomain }),
      secure: this.cookieSecure,
      httpOnly: true,
      sameSite: this.cookieSameSite,
    });
  }

  private localDevelopmentDomains(): boolean {
    return isLocalhostOrIp(this.config.apiDomain) && isLocalhostOrIp(this.config.websiteDomain);
  }
}

// -- request reading ------------------------------------------------------------------------

export function getCookie(request: HttpRequestLike, name: string): string | undefined {
  return parseCookieHeader(request.header("cookie")).get(name);
}

/**
 * A token as sent by `method`. In header mode both tokens use `Authorization: Bearer`: the
 * access token on ordinary requests, the refresh token on the refresh API (as the SDK).
 */
export function getToken(request: HttpRequestLike, type: TokenType, method: TokenTransferMethod): string | undefined {
  if (method === "cookie") return getCookie(request, type === "access" ? ACCESS_TOKEN_COOKIE : REFRESH_TOKEN_COOKIE);
  const value = request.header(AUTHORIZATION_HEADER);
  if (value === undefined || !value.startsWith("Bearer ")) return undefined;
  return value.slice("Bearer ".length).trim();
}

function setExposedHeader(response: ResponseChanges, name: string, value: string): void {
  response.setHeader(name, value);
  response.setHeader(ACCESS_CONTROL_EXPOSE_HEADERS, name);
}

function fail<T>(response: ResponseChanges, type: Exclude<SessionErrorType, "INVALID_CLAIMS">, reason: string): HttpResult<T> {
  const message = ({ UNAUTHORISED: "unauthorised", TRY_REFRESH_TOKEN: "try refresh token", TOKEN_THEFT_DETECTED: "token theft detected" } as const)[type];
  return { ok: false, error: { type, httpStatus: 401, body: { message }, reason }, response };
}

function isLocalhostOrIp(domain: string | undefined): boolean {
  if (domain === undefined) return false;
  let host = domain;
  try {
    host = new URL(domain.includes("://") ? domain : `http://${domain}`).hostname;
  } catch {
    return false;
  }
  host = host.replace(/^\[|\]$/g, "");
  return host === "localhost" || isIP(host) !== 0;
}
