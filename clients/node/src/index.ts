export {
  SessionClient,
  type ClaimValidationOptions,
  type GetSessionOptions,
  type SessionClientOptions,
  type UserContextOption,
} from "./client";
export * as claims from "./claims";
export type { ClaimCheckOptions, ClaimValidator } from "./claims";
export { MalformedResponseError, SessionServiceError } from "./errors";
export { waitForServing, type WaitForServingOptions } from "./health";
export type { JsonObject, JsonValue } from "./json";
export * from "./types";
/** gRPC status codes, for `SessionServiceError.code`, without a direct @grpc/grpc-js dependency. */
export { status as GrpcStatus } from "@grpc/grpc-js";
