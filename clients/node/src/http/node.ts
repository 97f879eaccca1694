/**
 * Adapter for node:http (and so for Express, whose req/res extend it, and Fastify's
 * `request.raw` / `reply.raw`).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ACCESS_CONTROL_EXPOSE_HEADERS } from "./constants";
import { mergeList, type ResponseChanges } from "./response";
import type { HttpRequestLike, HttpSessionError } from "./sessions";

export function fromNodeRequest(request: IncomingMessage): HttpRequestLike {
  return {
    method: request.method ?? "GET",
    header(name: string): string | undefined {
      const value = request.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(", ") : value;
    },
  };
}

/** Writes the headers and cookies; keeps Set-Cookie and expose-headers values set by others. */
export function applyResponseChanges(response: ServerResponse, changes: ResponseChanges): void {
  for (const [name, value] of changes.headers) {
    if (name === ACCESS_CONTROL_EXPOSE_HEADERS) {
      const existing = response.getHeader(name);
      response.setHeader(name, mergeList(existing === undefined ? undefined : String(existing), value));
    } else {
      response.setHeader(name, value);
    }
  }
  const cookies = changes.setCookieHeaders();
  if (cookies.length > 0) {
    const existing = response.getHeader("set-cookie");
    const before = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
    response.setHeader("set-cookie", [...before, ...cookies]);
  }
}

/** The SDK's default error handlers: 401/403 with `{"message": ...}` after the response changes. */
export function sendSessionError(response: ServerResponse, result: { error: HttpSessionError; response: ResponseChanges }): void {
  applyResponseChanges(response, result.response);
  response.statusCode = result.error.httpStatus;
  response.setHeader("content-type", "application/json; charset=utf-8");
  response.end(JSON.stringify(result.error.body));
}
