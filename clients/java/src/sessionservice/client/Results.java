package sessionservice.client;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The typed results of {@link SessionClient}'s calls. Every result carries a {@link Status}; its
 * {@link Optional} parts are present only for the statuses their docs name. CreateSession, the
 * handle lists, GetJWKS and the discovery document have no outcome but OK.
 * Tokens are left out of {@code toString()}, so logging a result does not leak one.
 */
public final class Results {
  private Results() {}

  /** A token with its lifetime. */
  public record TokenInfo(String token, Instant expiry, Instant createdTime) {
    @Override
    public String toString() {
      return "TokenInfo[expiry=" + expiry + ", createdTime=" + createdTime + "]";
    }
  }

  /**
   * A verified session and its current access token (the new one when the core issued one).
   * {@code accessTokenPayload} is the whole decoded payload, protected claims included.
   */
  public record Session(
      String userId,
      String sessionHandle,
      Map<String, Object> accessTokenPayload,
      Instant expiry,
      String frontToken,
      String accessToken) {
    @Override
    public String toString() {
      return "Session[userId=" + userId + ", sessionHandle=" + sessionHandle + ", expiry=" + expiry + "]";
    }
  }

  /** One failed claim validator; {@code reason} is the SDK's reason object (empty if none). */
  public record ClaimValidationError(String id, Optional<Map<String, Object>> reason) {}

  /**
   * CreateSession: OK and a new session (failures are exceptions). The anti-CSRF token only under
   * anti-CSRF VIA_TOKEN.
   */
  public record CreatedSession(
      Status status, Session session, TokenInfo accessToken, TokenInfo refreshToken, Optional<String> antiCsrfToken) {
    @Override
    public String toString() {
      return "CreatedSession[status=" + status + ", session=" + session + ", accessToken=" + accessToken
          + ", refreshToken=" + refreshToken + "]";
    }
  }

  /**
   * OK, UNAUTHORISED, TRY_REFRESH_TOKEN, INVALID_CLAIMS or NO_SESSION. {@code session} is present
   * for OK and INVALID_CLAIMS; {@code newAccessToken} whenever the core issued one (the first use
   * after a refresh): hand it to the client.
   */
  public record GetSessionResult(
      Status status,
      String message,
      Optional<Session> session,
      Optional<TokenInfo> newAccessToken,
      List<ClaimValidationError> invalidClaims) {}

  /**
   * The session whose refresh token was reused. The service has revoked it, unless it runs with
   * --revoke-session-on-token-theft false: then revoke it yourself.
   */
  public record TokenTheft(String sessionHandle, String userId) {}

  /** OK (session and new tokens present), UNAUTHORISED or TOKEN_THEFT_DETECTED (tokenTheft). */
  public record RefreshResult(
      Status status,
      String message,
      Optional<Session> session,
      Optional<TokenInfo> accessToken,
      Optional<TokenInfo> refreshToken,
      Optional<String> antiCsrfToken,
      Optional<TokenTheft> tokenTheft) {
    @Override
    public String toString() {
      return "RefreshResult[status=" + status + ", message=" + message + ", session=" + session
          + ", accessToken=" + accessToken + ", refreshToken=" + refreshToken + ", tokenTheft=" + tokenTheft + "]";
    }
  }

  /**
   * RevokeAllSessionsForUser, RevokeMultipleSessions, GetAllSessionHandlesForUser: OK, with the
   * handles revoked or listed.
   */
  public record SessionHandlesResult(Status status, List<String> sessionHandles) {}

  /** OK or SESSION_DOES_NOT_EXIST (the SDK's true and false). */
  public record StatusResult(Status status, String message) {}

  /** What the core stores about a session. */
  public record SessionInformation(
      String sessionHandle,
      String userId,
      Map<String, Object> sessionDataInDatabase,
      Instant expiry,
      Map<String, Object> customClaimsInAccessTokenPayload,
      Instant timeCreated) {}

  /** OK with info, or SESSION_DOES_NOT_EXIST. */
  public record SessionInformationResult(Status status, String message, Optional<SessionInformation> info) {}

  /**
   * OK, UNAUTHORISED or TRY_REFRESH_TOKEN. For OK, {@code accessToken} is empty when the given
   * token had already expired (the payload is stored anyway).
   */
  public record RegenerateResult(
      Status status,
      String message,
      String sessionHandle,
      String userId,
      Map<String, Object> userDataInJwt,
      Optional<TokenInfo> accessToken) {}

  /** OK or SESSION_DOES_NOT_EXIST; for OK, {@code value} is empty when the claim is not set. */
  public record ClaimValueResult(Status status, String message, Optional<Object> value) {}

  /** OK, INVALID_CLAIMS (invalidClaims set) or SESSION_DOES_NOT_EXIST. */
  public record ClaimsValidationResult(Status status, String message, List<ClaimValidationError> invalidClaims) {}

  /** A public RSA signing key (n and e base64url without padding). */
  public record JsonWebKey(String kty, String kid, String n, String e, String alg, String use) {}

  /** GetJWKS: OK, with the public keys (dynamic keys newest first, then static keys). */
  public record JwksResult(Status status, List<JsonWebKey> keys) {}

  /** OK with the JWT, or UNSUPPORTED_ALGORITHM. */
  public record CreateJwtResult(Status status, String message, String jwt) {
    @Override
    public String toString() {
      return "CreateJwtResult[status=" + status + ", message=" + message + "]";
    }
  }

  /** The OpenID discovery document, with status OK. */
  public record OpenIdConfiguration(Status status, String issuer, String jwksUri) {}
}
