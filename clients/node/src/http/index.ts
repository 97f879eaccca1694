export { parseAccessToken, type ParsedAccessToken } from "./access-token";
export * from "./constants";
export { parseCookieHeader, serializeSetCookie, type CookieToSet, type SameSite } from "./cookies";
export { applyResponseChanges, fromNodeRequest, sendSessionError } from "./node";
export { mergeList, ResponseChanges } from "./response";
export {
  defaultTokenTransferMethod,
  getCookie,
  getToken,
  HttpSessions,
  type ErrorBody,
  type HttpRequestLike,
  type HttpResult,
  type HttpSessionConfig,
  type HttpSessionError,
  type RequestSession,
  type SessionErrorType,
  type TokenTransferMethod,
  type VerifySessionOptions,
} from "./sessions";
