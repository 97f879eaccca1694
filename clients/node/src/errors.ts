import { Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";

/**
 * The call could not be answered (INVALID_ARGUMENT, UNAVAILABLE, DEADLINE_EXCEEDED, ...): a
 * failure, as opposed to an outcome, which comes back as a result `status`. The service's
 * messages contain no token material, so this error is safe to log.
 */
export class SessionServiceError extends Error {
  override readonly name = "SessionServiceError";
  /** The gRPC status code (`@grpc/grpc-js` `status`). */
  readonly code: GrpcStatus;
  /** The name of the code, e.g. "INVALID_ARGUMENT". */
  readonly codeName: string;
  /** The service's description, e.g. the offending field of an invalid request. */
  readonly details: string;
  readonly metadata: Metadata;

  constructor(rpc: string, error: ServiceError) {
    const codeName = GrpcStatus[error.code] ?? `code ${error.code}`;
    super(`${rpc}: ${codeName}: ${error.details}`);
    this.code = error.code;
    this.codeName = codeName;
    this.details = error.details;
    this.metadata = error.metadata ?? new Metadata();
  }
}

/** The service answered OK but left out a field the contract promises (a service bug). */
export class MalformedResponseError extends Error {
  override readonly name = "MalformedResponseError";
  constructor(rpc: string, what: string) {
    super(`${rpc}: malformed response: ${what}`);
  }
}
