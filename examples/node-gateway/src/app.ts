/**
 * The example gateway: SuperTokens-style session endpoints on top of session-service.
 *
 *   POST /auth/signin            {"userId": "...", "roles"?: [...]}  CreateSession
 *   POST /auth/session/refresh                                       RefreshSession
 *   POST /auth/signout                                               GetSession + RevokeSession
 *   GET  /api/me                 protected                           GetSession
 *   POST /api/ping               protected (anti-CSRF applies)       GetSession
 *   GET  /api/admin              protected, needs role "admin"       GetSession + claim validator
 *
 * Sign-in trusts the posted user id: checking credentials is the application's job and out of
 * scope here.
 */
import express, { type Express } from "express";
import { claims, type JsonObject } from "session-service-client";
import { fromNodeRequest, type HttpSessions } from "session-service-client/http";
import { sendResult, sessionOf, sessionServiceErrors, verifySession } from "./express-adapter";

export interface GatewayOptions {
  readonly sessions: HttpSessions;
  /** Must match the HttpSessions refresh path (the path of the refresh cookie). */
  readonly refreshPath?: string;
}

export function createGateway({ sessions, refreshPath = "/auth/session/refresh" }: GatewayOptions): Express {
  const app = express();
  app.disable("x-powered-by");

  // The sign-in body is read as JSON whatever its content type (as the Python gateway reads
  // it), so `curl -d '{"userId": "alice"}'` works without a content-type header.
  app.post("/auth/signin", express.text({ type: () => true, limit: "16kb" }), async (req, res) => {
    const body = parseJson(req.body);
    const userId = typeof body === "object" && body !== null ? (body as { userId?: unknown }).userId : undefined;
    const roles = typeof body === "object" && body !== null ? (body as { roles?: unknown }).roles : undefined;
    if (typeof userId !== "string" || userId === "" || (roles !== undefined && !isStringArray(roles))) {
      res.status(400).json({ message: "expected {\"userId\": string, \"roles\"?: string[]}" });
      return;
    }
    // Roles travel as the SDK's UserRoles claim: {"st-role": {"v": [...], "t": ms}}.
    const accessTokenPayload: JsonObject = roles === undefined ? {} : { "st-role": { v: roles, t: Date.now() } };
    const session = await sessions.createNewSession(fromNodeRequest(req), userId, { accessTokenPayload });
    sendResult(res, { ok: true, value: session, response: session.response }, (s) => ({ status: "OK", userId: s.userId }));
  });

  app.post(refreshPath, async (req, res) => {
    sendResult(res, await sessions.refreshSession(fromNodeRequest(req)), () => ({}));
  });

  app.post("/auth/signout", async (req, res) => {
    sendResult(res, await sessions.signOut(fromNodeRequest(req)), (value) => value);
  });

  app.get("/api/me", verifySession(sessions), (_req, res) => {
    const session = sessionOf(res);
    res.json({ userId: session.userId, sessionHandle: session.sessionHandle, roles: rolesOf(session.accessTokenPayload) });
  });

  app.post("/api/ping", verifySession(sessions), (_req, res) => {
    res.json({ pong: sessionOf(res).userId });
  });

  app.get("/api/admin", verifySession(sessions, { claimValidators: [claims.includes("st-role", "admin")] }), (_req, res) => {
    res.json({ admin: sessionOf(res).userId });
  });

  app.use(sessionServiceErrors);
  return app;
}

function parseJson(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

function rolesOf(payload: JsonObject): string[] {
  const claim = payload["st-role"];
  if (typeof claim !== "object" || claim === null || Array.isArray(claim)) return [];
  const value = claim["v"];
  return isStringArray(value) ? value : [];
}
