/**
 * `SessionClient`: one typed async method per `session.v1.SessionService` RPC.
 *
 * Outcomes come back as discriminated unions on `status` (see ./types); failures
 * (INVALID_ARGUMENT, UNAVAILABLE, DEADLINE_EXCEEDED, ...) reject with `SessionServiceError`.
 */
import {
  credentials as grpcCredentials,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import type { ClaimValidator } from "./claims";
import { MalformedResponseError, SessionServiceError } from "./errors";
import * as pb from "./gen/session/v1/session_service";
import { waitForServing } from "./health";
import { toJsonObject, toJsonValue, type JsonObject, type JsonValue } from "./json";
import type {
  ClaimValidationError,
  ClaimValueResult,
  CreatedSession,
  CreateJwtResult,
  GetSessionResult,
  JwksResult,
  OpenIdDiscoveryConfiguration,
  RefreshSessionResult,
  RegenerateAccessTokenResult,
  Session,
  SessionExistsResult,
  SessionHandlesResult,
  SessionInformationResult,
  TokenInfo,
  UnknownStatus,
  ValidateClaimsResult,
} from "./types";

export interface SessionClientOptions {
  /** Default: plaintext (the service is meant to sit on a private network or behind a mesh). */
  readonly credentials?: ChannelCredentials;
  /** Deadline of every call in ms (the service passes what is left of it on to the core). Default 10 s. */
  readonly timeoutMs?: number;
  readonly channelOptions?: ChannelOptions;
}

/** What every call takes. */
export interface UserContextOption {
  /**
   * The SDK's user_context: a JSON object the service hands to its override hooks and to the
   * `fetch_value` of its claims. Unset means `{}`.
   */
  readonly userContext?: JsonObject;
}

/** Options of the claim validation calls. */
export interface ClaimValidationOptions extends UserContextOption {
  readonly claimValidators?: readonly ClaimValidator[];
  /** Run only `claimValidators`, ignoring the server-wide validators. */
  readonly overrideGlobalClaimValidators?: boolean;
}

export interface GetSessionOptions extends UserContextOption {
  /** The anti-CSRF token the client sent (checked only when the service runs VIA_TOKEN). */
  readonly antiCsrfToken?: string;
  /** Unset: check (the SDK default). */
  readonly antiCsrfCheck?: boolean;
  /** Unset: required. `false` turns a missing or unparsable token into NO_SESSION. */
  readonly sessionRequired?: boolean;
  /** Ask the core whether the session still exists (catches revocation; costs a core call). */
  readonly checkDatabase?: boolean;
  /**
   * For a claim the service defines (its claims module), a value that is missing or older than
   * the validator's max age is fetched first; the result then has a `newAccessToken`.
   */
  readonly claimValidators?: readonly ClaimValidator[];
  /** Run only `claimValidators`, ignoring the server-wide validators. */
  readonly overrideGlobalClaimValidators?: boolean;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

const STATUS_NAMES = {
  [pb.SessionStatus.SESSION_STATUS_OK]: "OK",
  [pb.SessionStatus.SESSION_STATUS_UNAUTHORISED]: "UNAUTHORISED",
  [pb.SessionStatus.SESSION_STATUS_TRY_REFRESH_TOKEN]: "TRY_REFRESH_TOKEN",
  [pb.SessionStatus.SESSION_STATUS_TOKEN_THEFT_DETECTED]: "TOKEN_THEFT_DETECTED",
  [pb.SessionStatus.SESSION_STATUS_INVALID_CLAIMS]: "INVALID_CLAIMS",
  [pb.SessionStatus.SESSION_STATUS_SESSION_DOES_NOT_EXIST]: "SESSION_DOES_NOT_EXIST",
  [pb.SessionStatus.SESSION_STATUS_UNSUPPORTED_ALGORITHM]: "UNSUPPORTED_ALGORITHM",
  [pb.SessionStatus.SESSION_STATUS_NO_SESSION]: "NO_SESSION",
} as const;
type StatusName = (typeof STATUS_NAMES)[keyof typeof STATUS_NAMES];

function statusName(code: number): StatusName | undefined {
  return (STATUS_NAMES as Record<number, StatusName | undefined>)[code];
}

function unknown(response: { status: number; message: string }): UnknownStatus {
  return { status: "UNKNOWN", statusCode: response.status, message: response.message };
}

export class SessionClient {
  private readonly stub: pb.SessionServiceClient;
  private readonly timeoutMs: number;

  constructor(
    private readonly address: string,
    private readonly options: SessionClientOptions = {},
  ) {
    this.stub = new pb.SessionServiceClient(
      address,
      options.credentials ?? grpcCredentials.createInsecure(),
      options.channelOptions,
    );
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  close(): void {
    this.stub.close();
  }

  /** Resolves once the service reports SERVING on grpc.health.v1 (its core is reachable). */
  waitForServing(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return waitForServing(this.address, { timeoutMs, signal, credentials: this.options.credentials });
  }

  private call<Req, Res>(rpc: string, method: Unary<Req, Res>, request: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.stub, request, new Metadata(), { deadline: Date.now() + this.timeoutMs }, (error, response) => {
        if (error) reject(new SessionServiceError(rpc, error));
        else resolve(response);
      });
    });
  }

  // -- sessions -----------------------------------------------------------------------------

  async createSession(
    userId: string,
    options: {
      accessTokenPayload?: JsonObject;
      sessionDataInDatabase?: JsonObject;
      /** Issue no anti-CSRF token (use it when tokens travel in headers). */
      disableAntiCsrf?: boolean;
    } & UserContextOption = {},
  ): Promise<CreatedSession> {
    const rpc = "CreateSession";
    const response = await this.call(rpc, this.stub.createSession, {
      userId,
      accessTokenPayload: optionalObject(options.accessTokenPayload),
      sessionDataInDatabase: optionalObject(options.sessionDataInDatabase),
      disableAntiCsrf: options.disableAntiCsrf ?? false,
      userContext: optionalObject(options.userContext),
    });
    return {
      status: onlyOk(rpc, response.status),
      session: session(rpc, response.session),
      accessToken: tokenInfo(rpc, "access_token", response.accessToken),
      refreshToken: tokenInfo(rpc, "refresh_token", response.refreshToken),
      ...(response.antiCsrfToken !== undefined && { antiCsrfToken: response.antiCsrfToken }),
    };
  }

  /** `accessToken` undefined or "" means the caller has no token. */
  async getSession(accessToken: string | undefined, options: GetSessionOptions = {}): Promise<GetSessionResult> {
    const rpc = "GetSession";
    const response = await this.call(rpc, this.stub.getSession, {
      accessToken: accessToken ?? "",
      antiCsrfToken: options.antiCsrfToken,
      antiCsrfCheck: options.antiCsrfCheck,
      sessionRequired: options.sessionRequired,
      checkDatabase: options.checkDatabase ?? false,
      claimValidators: [...(options.claimValidators ?? [])],
      overrideGlobalClaimValidators: options.overrideGlobalClaimValidators ?? false,
      userContext: optionalObject(options.userContext),
    });
    const newAccessToken = response.newAccessToken && { newAccessToken: tokenInfo(rpc, "new_access_token", response.newAccessToken) };
    const name = statusName(response.status);
    switch (name) {
      case "OK":
        return { status: name, session: session(rpc, response.session), ...newAccessToken };
      case "INVALID_CLAIMS":
        return {
          status: name,
          message: response.message,
          session: session(rpc, response.session),
          invalidClaims: claimErrors(response.invalidClaims),
          ...newAccessToken,
        };
      case "TRY_REFRESH_TOKEN":
      case "UNAUTHORISED":
      case "NO_SESSION":
        return { status: name, message: response.message };
      default:
        return unknown(response);
    }
  }

  async refreshSession(
    refreshToken: string,
    options: { antiCsrfToken?: string; disableAntiCsrf?: boolean } & UserContextOption = {},
  ): Promise<RefreshSessionResult> {
    const rpc = "RefreshSession";
    const response = await this.call(rpc, this.stub.refreshSession, {
      refreshToken,
      antiCsrfToken: options.antiCsrfToken,
      disableAntiCsrf: options.disableAntiCsrf ?? false,
      userContext: optionalObject(options.userContext),
    });
    const name = statusName(response.status);
    switch (name) {
      case "OK":
        return {
          status: name,
          session: session(rpc, response.session),
          accessToken: tokenInfo(rpc, "access_token", response.accessToken),
          refreshToken: tokenInfo(rpc, "refresh_token", response.refreshToken),
          ...(response.antiCsrfToken !== undefined && { antiCsrfToken: response.antiCsrfToken }),
        };
      case "UNAUTHORISED":
        return { status: name, message: response.message };
      case "TOKEN_THEFT_DETECTED": {
        const theft = response.tokenTheft;
        if (!theft) throw new MalformedResponseError(rpc, "TOKEN_THEFT_DETECTED without token_theft");
        return {
          status: name,
          message: response.message,
          tokenTheft: { sessionHandle: theft.sessionHandle, userId: theft.userId },
        };
      }
      default:
        return unknown(response);
    }
  }

  async revokeSession(sessionHandle: string, options: UserContextOption = {}): Promise<SessionExistsResult> {
    const request = { sessionHandle, userContext: optionalObject(options.userContext) };
    return existsResult(await this.call("RevokeSession", this.stub.revokeSession, request));
  }

  /** `sessionHandles`: the handles that were revoked (empty when the user had no live session). */
  async revokeAllSessionsForUser(userId: string, options: UserContextOption = {}): Promise<SessionHandlesResult> {
    const rpc = "RevokeAllSessionsForUser";
    const request = { userId, userContext: optionalObject(options.userContext) };
    return handlesResult(rpc, await this.call(rpc, this.stub.revokeAllSessionsForUser, request));
  }

  /** `sessionHandles`: the handles that were actually revoked; unknown handles are ignored. */
  async revokeMultipleSessions(
    sessionHandles: readonly string[],
    options: UserContextOption = {},
  ): Promise<SessionHandlesResult> {
    const rpc = "RevokeMultipleSessions";
    const request = { sessionHandles: [...sessionHandles], userContext: optionalObject(options.userContext) };
    return handlesResult(rpc, await this.call(rpc, this.stub.revokeMultipleSessions, request));
  }

  /** `sessionHandles`: the handles of the user's live sessions. */
  async getAllSessionHandlesForUser(userId: string, options: UserContextOption = {}): Promise<SessionHandlesResult> {
    const rpc = "GetAllSessionHandlesForUser";
    const request = { userId, userContext: optionalObject(options.userContext) };
    return handlesResult(rpc, await this.call(rpc, this.stub.getAllSessionHandlesForUser, request));
  }

  async getSessionInformation(sessionHandle: string, options: UserContextOption = {}): Promise<SessionInformationResult> {
    const rpc = "GetSessionInformation";
    const request = { sessionHandle, userContext: optionalObject(options.userContext) };
    const response = await this.call(rpc, this.stub.getSessionInformation, request);
    const name = statusName(response.status);
    switch (name) {
      case "OK": {
        const info = response.sessionInformation;
        if (!info) throw new MalformedResponseError(rpc, "OK without session_information");
        return {
          status: name,
          info: {
            sessionHandle: info.sessionHandle,
            userId: info.userId,
            sessionDataInDatabase: object(info.sessionDataInDatabase),
            expiry: info.expiry,
            customClaimsInAccessTokenPayload: object(info.customClaimsInAccessTokenPayload),
            timeCreated: info.timeCreated,
          },
        };
      }
      case "SESSION_DOES_NOT_EXIST":
        return { status: name, message: response.message };
      default:
        return unknown(response);
    }
  }

  /** Replaces the session data kept in the database. */
  async updateSessionDataInDatabase(
    sessionHandle: string,
    newSessionData: JsonObject,
    options: UserContextOption = {},
  ): Promise<SessionExistsResult> {
    const request = {
      sessionHandle,
      newSessionData: toJsonObject(newSessionData),
      userContext: optionalObject(options.userContext),
    };
    return existsResult(await this.call("UpdateSessionDataInDatabase", this.stub.updateSessionDataInDatabase, request));
  }

  /** Shallow-merges into the stored payload; a key set to null is removed. Issued tokens do not change. */
  async mergeIntoAccessTokenPayload(
    sessionHandle: string,
    update: JsonObject,
    options: UserContextOption = {},
  ): Promise<SessionExistsResult> {
    const request = {
      sessionHandle,
      accessTokenPayloadUpdate: toJsonObject(update),
      userContext: optionalObject(options.userContext),
    };
    return existsResult(await this.call("MergeIntoAccessTokenPayload", this.stub.mergeIntoAccessTokenPayload, request));
  }

  /** Re-issues `accessToken` with a new payload (unset: `{}`, as the SDKs send) and the same expiry. */
  async regenerateAccessToken(
    accessToken: string,
    newAccessTokenPayload?: JsonObject,
    options: UserContextOption = {},
  ): Promise<RegenerateAccessTokenResult> {
    const rpc = "RegenerateAccessToken";
    const response = await this.call(rpc, this.stub.regenerateAccessToken, {
      accessToken,
      newAccessTokenPayload: optionalObject(newAccessTokenPayload),
      userContext: optionalObject(options.userContext),
    });
    const name = statusName(response.status);
    switch (name) {
      case "OK": {
        const stored = response.session;
        if (!stored) throw new MalformedResponseError(rpc, "OK without session");
        return {
          status: name,
          session: { sessionHandle: stored.sessionHandle, userId: stored.userId, userDataInJwt: object(stored.userDataInJwt) },
          ...(response.accessToken && { accessToken: tokenInfo(rpc, "access_token", response.accessToken) }),
        };
      }
      case "UNAUTHORISED":
      case "TRY_REFRESH_TOKEN":
        return { status: name, message: response.message };
      default:
        return unknown(response);
    }
  }

  // -- claims -------------------------------------------------------------------------------

  /** Stores `{"v": value, "t": now_ms}` under `claimKey` in the stored payload. */
  async setClaimValue(
    sessionHandle: string,
    claimKey: string,
    value: JsonValue,
    options: UserContextOption = {},
  ): Promise<SessionExistsResult> {
    const request = { sessionHandle, claimKey, value: toJsonValue(value), userContext: optionalObject(options.userContext) };
    return existsResult(await this.call("SetClaimValue", this.stub.setClaimValue, request));
  }

  async getClaimValue(sessionHandle: string, claimKey: string, options: UserContextOption = {}): Promise<ClaimValueResult> {
    const request = { sessionHandle, claimKey, userContext: optionalObject(options.userContext) };
    const response = await this.call("GetClaimValue", this.stub.getClaimValue, request);
    const name = statusName(response.status);
    switch (name) {
      case "OK":
        return { status: name, value: response.value as JsonValue | undefined };
      case "SESSION_DOES_NOT_EXIST":
        return { status: name, message: response.message };
      default:
        return unknown(response);
    }
  }

  async removeClaim(sessionHandle: string, claimKey: string, options: UserContextOption = {}): Promise<SessionExistsResult> {
    const request = { sessionHandle, claimKey, userContext: optionalObject(options.userContext) };
    return existsResult(await this.call("RemoveClaim", this.stub.removeClaim, request));
  }

  /**
   * Validates claims against the stored payload; values of claims the service defines that are
   * missing or too old are fetched and stored first (SDK `validate_claims_for_session_handle`).
   */
  async validateClaimsForSessionHandle(
    sessionHandle: string,
    options: ClaimValidationOptions = {},
  ): Promise<ValidateClaimsResult> {
    const response = await this.call("ValidateClaimsForSessionHandle", this.stub.validateClaimsForSessionHandle, {
      sessionHandle,
      ...validation(options),
    });
    return validateClaimsResult(response);
  }

  /**
   * Fetches the current value of `claimKey`, a claim the service defines, for the session's
   * user and stores it in the session's payload (SDK `fetch_and_set_claim`). A key the service
   * does not define rejects with INVALID_ARGUMENT; a `fetch_value` that fails or gives a value
   * the session cannot carry rejects with UNAVAILABLE (nothing is stored).
   */
  async fetchAndSetClaim(sessionHandle: string, claimKey: string, options: UserContextOption = {}): Promise<SessionExistsResult> {
    const request = { sessionHandle, claimKey, userContext: optionalObject(options.userContext) };
    return existsResult(await this.call("FetchAndSetClaim", this.stub.fetchAndSetClaim, request));
  }

  /**
   * Checks the claims of a JWT payload the caller verified itself; nothing is fetched (SDK
   * `validate_claims_in_jwt_payload`). OK or INVALID_CLAIMS.
   */
  async validateClaimsInJwtPayload(
    userId: string,
    jwtPayload: JsonObject,
    options: ClaimValidationOptions = {},
  ): Promise<ValidateClaimsResult> {
    const response = await this.call("ValidateClaimsInJwtPayload", this.stub.validateClaimsInJwtPayload, {
      userId,
      jwtPayload: toJsonObject(jwtPayload),
      ...validation(options),
    });
    return validateClaimsResult(response);
  }

  // -- JWT / OpenID ---------------------------------------------------------------------------

  async getJWKS(options: UserContextOption = {}): Promise<JwksResult> {
    const rpc = "GetJWKS";
    const response = await this.call(rpc, this.stub.getJwks, { userContext: optionalObject(options.userContext) });
    return {
      status: onlyOk(rpc, response.status),
      keys: response.keys.map(({ kty, kid, n, e, alg, use }) => ({ kty, kid, n, e, alg, use })),
    };
  }

  async createJWT(
    payload: JsonObject,
    options: { validitySeconds?: number; useStaticSigningKey?: boolean } & UserContextOption = {},
  ): Promise<CreateJwtResult> {
    const response = await this.call("CreateJWT", this.stub.createJwt, {
      payload: toJsonObject(payload),
      validitySeconds: options.validitySeconds,
      useStaticSigningKey: options.useStaticSigningKey,
      userContext: optionalObject(options.userContext),
    });
    const name = statusName(response.status);
    switch (name) {
      case "OK":
        return { status: name, jwt: response.jwt };
      case "UNSUPPORTED_ALGORITHM":
        return { status: name, message: response.message };
      default:
        return unknown(response);
    }
  }

  async getOpenIdDiscoveryConfiguration(options: UserContextOption = {}): Promise<OpenIdDiscoveryConfiguration> {
    const rpc = "GetOpenIdDiscoveryConfiguration";
    const request = { userContext: optionalObject(options.userContext) };
    const response = await this.call(rpc, this.stub.getOpenIdDiscoveryConfiguration, request);
    return { status: onlyOk(rpc, response.status), issuer: response.issuer, jwksUri: response.jwksUri };
  }
}

// -- conversions ------------------------------------------------------------------------------

function optionalObject(value: JsonObject | undefined): JsonObject | undefined {
  return value === undefined ? undefined : toJsonObject(value);
}

function object(value: { [key: string]: unknown } | undefined): JsonObject {
  return (value ?? {}) as JsonObject;
}

function session(rpc: string, message: pb.Session | undefined): Session {
  if (!message) throw new MalformedResponseError(rpc, "missing session");
  return {
    userId: message.userId,
    sessionHandle: message.sessionHandle,
    accessTokenPayload: object(message.accessTokenPayload),
    expiry: message.expiry,
    frontToken: message.frontToken,
    accessToken: message.accessToken,
  };
}

function tokenInfo(rpc: string, field: string, message: pb.TokenInfo | undefined): TokenInfo {
  if (!message) throw new MalformedResponseError(rpc, `missing ${field}`);
  return { token: message.token, expiry: message.expiry, createdTime: message.createdTime };
}

function claimErrors(messages: pb.ClaimValidationError[]): ClaimValidationError[] {
  return messages.map((m) => (m.reason === undefined ? { id: m.id } : { id: m.id, reason: m.reason as JsonObject }));
}

function validation(options: ClaimValidationOptions) {
  return {
    claimValidators: [...(options.claimValidators ?? [])],
    overrideGlobalClaimValidators: options.overrideGlobalClaimValidators ?? false,
    userContext: optionalObject(options.userContext),
  };
}

function validateClaimsResult(response: {
  status: number;
  message: string;
  invalidClaims: pb.ClaimValidationError[];
}): ValidateClaimsResult {
  const name = statusName(response.status);
  switch (name) {
    case "OK":
      return { status: name };
    case "INVALID_CLAIMS":
      return { status: name, message: response.message, invalidClaims: claimErrors(response.invalidClaims) };
    case "SESSION_DOES_NOT_EXIST":
      return { status: name, message: response.message };
    default:
      return unknown(response);
  }
}

/**
 * The status of an RPC whose only outcome is OK. A service older than that status field leaves
 * it unset (0), which also means OK; anything else is not an answer this RPC gives.
 */
export function onlyOk(rpc: string, status: number): "OK" {
  if (status === pb.SessionStatus.SESSION_STATUS_OK || status === pb.SessionStatus.SESSION_STATUS_UNSPECIFIED) {
    return "OK";
  }
  throw new MalformedResponseError(rpc, `status ${status} is not an outcome of ${rpc}`);
}

function handlesResult(rpc: string, response: { status: number; sessionHandles: string[] }): SessionHandlesResult {
  return { status: onlyOk(rpc, response.status), sessionHandles: response.sessionHandles };
}

function existsResult(response: { status: number; message: string }): SessionExistsResult {
  const name = statusName(response.status);
  switch (name) {
    case "OK":
      return { status: name };
    case "SESSION_DOES_NOT_EXIST":
      return { status: name, message: response.message };
    default:
      return unknown(response);
  }
}
