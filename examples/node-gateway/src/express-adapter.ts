/**
 * Express glue for the framework-neutral helpers in `session-service-client/http`: Express
 * requests and responses are node:http ones, so the node adapter does the reading and writing.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from "express";
import { GrpcStatus, SessionServiceError } from "session-service-client";
import {
  applyResponseChanges,
  fromNodeRequest,
  sendSessionError,
  type HttpResult,
  type HttpSessions,
  type RequestSession,
  type VerifySessionOptions,
} from "session-service-client/http";

interface Locals {
  session?: RequestSession;
}

/** Rejects with the SDK's 401/403 or puts the verified session on `res.locals` (see `sessionOf`). */
export function verifySession(sessions: HttpSessions, options: VerifySessionOptions = {}): RequestHandler {
  return async (req, res, next) => {
    const result = await sessions.getSession(fromNodeRequest(req), options);
    if (!result.ok) {
      sendSessionError(res, result);
      return;
    }
    applyResponseChanges(res, result.response);
    (res.locals as Locals).session = result.value;
    next();
  };
}

/** The session `verifySession` verified for this request. */
export function sessionOf(res: Response): RequestSession {
  const session = (res.locals as Locals).session;
  if (!session) throw new Error("sessionOf: the route is not behind verifySession");
  return session;
}

/** Sends a helper's outcome: its response changes plus `body` on success, the SDK error otherwise. */
export function sendResult<T>(res: Response, result: HttpResult<T>, body: (value: T) => unknown): void {
  if (!result.ok) {
    sendSessionError(res, result);
    return;
  }
  applyResponseChanges(res, result.response);
  res.status(200).json(body(result.value));
}

/** The session service could not answer: 503 when it may come back, 500 otherwise. */
export const sessionServiceErrors: ErrorRequestHandler = (error, _req, res, next) => {
  if (!(error instanceof SessionServiceError)) {
    next(error);
    return;
  }
  const retryable = error.code === GrpcStatus.UNAVAILABLE || error.code === GrpcStatus.DEADLINE_EXCEEDED;
  // The error names the RPC and gRPC code only; the service never puts tokens in messages.
  console.error(`session service: ${error.message}`);
  res.status(retryable ? 503 : 500).json({ message: retryable ? "session service unavailable" : "internal error" });
};
