/**
 * Typed results of `SessionClient` calls.
 *
 * Every result carries a `status`. Every RPC that has more than one outcome returns a
 * discriminated union on it: the fields of an outcome exist only on its branch, so TypeScript
 * makes the caller narrow (branch on the status) before it can read a session or a token. Proto3
 * enums are open, so each union also has an `UNKNOWN` branch for a status this client does not
 * expect from that RPC; treat it as a failure (see `assertNever` for exhaustive switches).
 *
 * CreateSession, the handle lists, GetJWKS and the OpenID discovery document have no outcome but
 * OK (their failures are gRPC errors): their results say `status: "OK"`, and any other status
 * rejects with `MalformedResponseError`.
 */
import type { JsonObject, JsonValue } from "./json";

/** A token with its lifetime (epoch ms). */
export interface TokenInfo {
  readonly token: string;
  readonly expiry: number;
  readonly createdTime: number;
}

/** A verified session and its current access token. */
export interface Session {
  readonly userId: string;
  readonly sessionHandle: string;
  /** The whole decoded access-token payload: custom claims, protected claims and `iss`. */
  readonly accessTokenPayload: JsonObject;
  /** When the access token expires, epoch ms. */
  readonly expiry: number;
  /** The SDK front token (base64 of {"ate","uid","up"}) that frontends read the session from. */
  readonly frontToken: string;
  /** The current access token: the new one when the core issued one, else the one verified. */
  readonly accessToken: string;
}

/** One failed claim validator; `reason` is the SDK's reason object and absent when there is none. */
export interface ClaimValidationError {
  readonly id: string;
  readonly reason?: JsonObject;
}

/** A status this client does not expect from the RPC (proto3 enums are open): a failure. */
export interface UnknownStatus {
  readonly status: "UNKNOWN";
  /** The raw `session.v1.SessionStatus` number. */
  readonly statusCode: number;
  readonly message: string;
}

export interface CreatedSession {
  readonly status: "OK";
  readonly session: Session;
  readonly accessToken: TokenInfo;
  readonly refreshToken: TokenInfo;
  /** Set only when the service runs with anti-CSRF VIA_TOKEN and it was not disabled. */
  readonly antiCsrfToken?: string;
}

export type GetSessionResult =
  | {
      readonly status: "OK";
      readonly session: Session;
      /** Set when the core issued a new access token; hand it to the client. */
      readonly newAccessToken?: TokenInfo;
    }
  | {
      readonly status: "INVALID_CLAIMS";
      readonly message: string;
      readonly session: Session;
      /** Every failed validator, in validator order. */
      readonly invalidClaims: readonly ClaimValidationError[];
      readonly newAccessToken?: TokenInfo;
    }
  | { readonly status: "TRY_REFRESH_TOKEN"; readonly message: string }
  | { readonly status: "UNAUTHORISED"; readonly message: string }
  | { readonly status: "NO_SESSION"; readonly message: string }
  | UnknownStatus;

export interface TokenTheft {
  /** The session whose refresh token was reused; revoke it. */
  readonly sessionHandle: string;
  readonly userId: string;
}

export type RefreshSessionResult =
  | {
      readonly status: "OK";
      readonly session: Session;
      readonly accessToken: TokenInfo;
      /** The new refresh token; the old one must not be used again. */
      readonly refreshToken: TokenInfo;
      readonly antiCsrfToken?: string;
    }
  | { readonly status: "UNAUTHORISED"; readonly message: string }
  | { readonly status: "TOKEN_THEFT_DETECTED"; readonly message: string; readonly tokenTheft: TokenTheft }
  | UnknownStatus;

/** OK (the SDK's true) or SESSION_DOES_NOT_EXIST (the SDK's false). */
export type SessionExistsResult =
  | { readonly status: "OK" }
  | { readonly status: "SESSION_DOES_NOT_EXIST"; readonly message: string }
  | UnknownStatus;

export interface SessionInformation {
  readonly sessionHandle: string;
  readonly userId: string;
  readonly sessionDataInDatabase: JsonObject;
  /** When the session (its refresh token) expires, epoch ms. */
  readonly expiry: number;
  /** The stored custom claims (no protected claims; `iss` when set). */
  readonly customClaimsInAccessTokenPayload: JsonObject;
  readonly timeCreated: number;
}

export type SessionInformationResult =
  | { readonly status: "OK"; readonly info: SessionInformation }
  | { readonly status: "SESSION_DOES_NOT_EXIST"; readonly message: string }
  | UnknownStatus;

export type RegenerateAccessTokenResult =
  | {
      readonly status: "OK";
      readonly session: {
        readonly sessionHandle: string;
        readonly userId: string;
        readonly userDataInJwt: JsonObject;
      };
      /** Absent when the given token had already expired (the payload is stored anyway). */
      readonly accessToken?: TokenInfo;
    }
  | { readonly status: "UNAUTHORISED"; readonly message: string }
  | { readonly status: "TRY_REFRESH_TOKEN"; readonly message: string }
  | UnknownStatus;

export type ClaimValueResult =
  | {
      readonly status: "OK";
      /** The claim's value; `undefined` when the session has no such claim. */
      readonly value: JsonValue | undefined;
    }
  | { readonly status: "SESSION_DOES_NOT_EXIST"; readonly message: string }
  | UnknownStatus;

export type ValidateClaimsResult =
  | { readonly status: "OK" }
  | {
      readonly status: "INVALID_CLAIMS";
      readonly message: string;
      readonly invalidClaims: readonly ClaimValidationError[];
    }
  | { readonly status: "SESSION_DOES_NOT_EXIST"; readonly message: string }
  | UnknownStatus;

export type CreateJwtResult =
  | { readonly status: "OK"; readonly jwt: string }
  | { readonly status: "UNSUPPORTED_ALGORITHM"; readonly message: string }
  | UnknownStatus;

/** RevokeAllSessionsForUser, RevokeMultipleSessions, GetAllSessionHandlesForUser. */
export interface SessionHandlesResult {
  readonly status: "OK";
  /** The handles revoked, or listed. */
  readonly sessionHandles: string[];
}

export interface JsonWebKey {
  readonly kty: string;
  readonly kid: string;
  readonly n: string;
  readonly e: string;
  readonly alg: string;
  readonly use: string;
}

export interface JwksResult {
  readonly status: "OK";
  /** Dynamic keys newest first, then static keys. */
  readonly keys: JsonWebKey[];
}

export interface OpenIdDiscoveryConfiguration {
  readonly status: "OK";
  readonly issuer: string;
  readonly jwksUri: string;
}

/** For exhaustive `switch (result.status)`: a new branch becomes a compile error here. */
export function assertNever(value: never, what = "value"): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify((value as { status?: unknown }).status ?? value)}`);
}
