package sessionservice.client;

import sessionservice.session.v1.SessionStatus;

/**
 * The outcome of a session operation ({@code session.v1.SessionStatus}); branch on it. {@link
 * #UNKNOWN} stands for a value this client does not know (proto3 enums are open, and the service
 * may add values): treat it as a failure.
 */
public enum Status {
  UNKNOWN,
  OK,
  UNAUTHORISED,
  TRY_REFRESH_TOKEN,
  TOKEN_THEFT_DETECTED,
  INVALID_CLAIMS,
  SESSION_DOES_NOT_EXIST,
  UNSUPPORTED_ALGORITHM,
  NO_SESSION;

  private static final String PREFIX = "SESSION_STATUS_";

  /** The wire value; SESSION_STATUS_UNSPECIFIED (never sent) and unknown values are UNKNOWN. */
  static Status of(SessionStatus status) {
    if (status == SessionStatus.UNRECOGNIZED || status == SessionStatus.SESSION_STATUS_UNSPECIFIED) {
      return UNKNOWN;
    }
    try {
      return valueOf(status.name().substring(PREFIX.length()));
    } catch (IllegalArgumentException e) {
      return UNKNOWN;
    }
  }

  /**
   * The status of a response whose RPC has no outcome but OK (CreateSession, the handle lists,
   * GetJWKS, the discovery document): a service older than that status field leaves it unset
   * (SESSION_STATUS_UNSPECIFIED), which means OK too.
   */
  static Status ofSingleOutcome(SessionStatus status) {
    return status == SessionStatus.SESSION_STATUS_UNSPECIFIED ? OK : of(status);
  }
}
