/**
 * The example gateway end to end: real HTTP (fetch) to Express, real gRPC to a live
 * session-service (--anti-csrf VIA_TOKEN, embedded core). Header mode and cookie mode.
 */
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import type { Server } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { SessionClient } from "session-service-client";
import { HttpSessions } from "session-service-client/http";
import { CookieJar, startSessionService, type RunningService } from "session-service-client/testing";
import { createGateway } from "../src/app";

let service: RunningService;
let client: SessionClient;
let server: Server;
let base: string;

function listen(app: ReturnType<typeof createGateway>): Promise<Server> {
  return new Promise((done) => {
    const s = app.listen(0, "127.0.0.1", () => done(s));
  });
}

function close(s: Server | undefined): Promise<void> {
  return new Promise((done) => (s ? s.close(() => done()) : done()));
}

before(async () => {
  const command = process.env["SESSION_SERVICE_BIN"] ?? resolve(__dirname, "../../../..", ".venv/bin/session-service");
  assert.ok(existsSync(command), `session-service not found at ${command}; run ./dev gen or set SESSION_SERVICE_BIN`);
  service = await startSessionService({
    command,
    args: ["--anti-csrf", "VIA_TOKEN", "--health-check-interval-seconds", "0.2", "--log-level", "warning"],
  });
  client = new SessionClient(service.address);
  server = await listen(createGateway({ sessions: new HttpSessions(client, { antiCsrf: "VIA_TOKEN" }) }));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await close(server);
  client?.close();
  if (service) {
    const status = await service.stop();
    assert.deepEqual(status, { code: 0, signal: null }, `service did not exit cleanly:\n${service.output()}`);
  }
});

const newUser = () => `user-${randomUUID()}`;

/** A port the OS handed out and that nothing listens on any more. */
function releasedPort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => done(port));
    });
    probe.once("error", fail);
  });
}

async function call(method: string, path: string, headers: Record<string, string | undefined> = {}, body?: unknown) {
  const sent: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) sent[k] = v;
  if (body !== undefined) sent["content-type"] = "application/json";
  const response = await fetch(`${base}${path}`, { method, headers: sent, ...(body !== undefined && { body: JSON.stringify(body) }) });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    setCookies: response.headers.getSetCookie(),
    json: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>),
  };
}

const bearer = (token: string | null | undefined) => ({ authorization: `Bearer ${token}` });

describe("header mode (the default without st-auth-mode)", () => {
  it("sign-in → protected call → refresh → promotion → theft on reuse of the old refresh token → sign-out", async () => {
    const userId = newUser();
    const signIn = await call("POST", "/auth/signin", {}, { userId });
    assert.equal(signIn.status, 200);
    assert.deepEqual(signIn.json, { status: "OK", userId });
    const a0 = signIn.headers.get("st-access-token");
    const r0 = signIn.headers.get("st-refresh-token");
    assert.ok(a0 && r0, "tokens in headers");
    assert.ok(signIn.headers.get("front-token"));
    assert.deepEqual(signIn.setCookies, []);
    assert.match(signIn.headers.get("access-control-expose-headers") ?? "", /st-access-token/);

    const me = await call("GET", "/api/me", bearer(a0));
    assert.equal(me.status, 200);
    assert.equal(me.json?.["userId"], userId);
    const handle = me.json?.["sessionHandle"];

    const refreshed = await call("POST", "/auth/session/refresh", bearer(r0));
    assert.equal(refreshed.status, 200);
    assert.deepEqual(refreshed.json, {});
    const a1 = refreshed.headers.get("st-access-token");
    const r1 = refreshed.headers.get("st-refresh-token");
    assert.ok(a1 && r1 && a1 !== a0 && r1 !== r0);

    // The first use of the new access token promotes the new refresh token; the core mints a
    // successor access token, which the gateway hands back.
    const promoted = await call("GET", "/api/me", bearer(a1));
    assert.equal(promoted.status, 200);
    assert.equal(promoted.json?.["sessionHandle"], handle);
    const a2 = promoted.headers.get("st-access-token");
    assert.ok(a2 && a2 !== a1, "a new access token after promotion");
    assert.equal((await call("GET", "/api/me", bearer(a2))).headers.get("st-access-token"), null);

    const theft = await call("POST", "/auth/session/refresh", bearer(r0));
    assert.equal(theft.status, 401);
    assert.deepEqual(theft.json, { message: "token theft detected" });
    assert.equal(theft.headers.get("st-access-token"), "");
    assert.equal(theft.headers.get("st-refresh-token"), "");
    assert.equal(theft.headers.get("front-token"), "remove");
    assert.deepEqual(theft.setCookies.map((c) => c.split(";")[0]).sort(), ["sAccessToken=", "sRefreshToken="]);
    // The gateway revoked the session, so even the newest refresh token is dead.
    const afterTheft = await call("POST", "/auth/session/refresh", bearer(r1));
    assert.equal(afterTheft.status, 401);
    assert.deepEqual(afterTheft.json, { message: "unauthorised" });

    // A new sign-in, then sign-out.
    const again = await call("POST", "/auth/signin", {}, { userId });
    const access = again.headers.get("st-access-token");
    const refresh = again.headers.get("st-refresh-token");
    const signOut = await call("POST", "/auth/signout", bearer(access));
    assert.equal(signOut.status, 200);
    assert.deepEqual(signOut.json, { status: "OK" });
    assert.equal(signOut.headers.get("st-access-token"), "");
    assert.equal(signOut.headers.get("st-refresh-token"), "");
    assert.equal(signOut.headers.get("front-token"), "remove");
    assert.deepEqual(signOut.setCookies, [], "only the session's own transfer method is cleared");
    const refreshAfterSignOut = await call("POST", "/auth/session/refresh", bearer(refresh));
    assert.equal(refreshAfterSignOut.status, 401);
    assert.deepEqual(refreshAfterSignOut.json, { message: "unauthorised" });
  });
});

describe("cookie mode (st-auth-mode: cookie)", () => {
  it("sign-in → protected calls with anti-CSRF → refresh → promotion → theft → sign-out, as a browser", async () => {
    const jar = new CookieJar();
    const userId = newUser();
    const signIn = await call("POST", "/auth/signin", { "st-auth-mode": "cookie" }, { userId });
    assert.equal(signIn.status, 200);
    assert.equal(signIn.headers.get("st-access-token"), null);
    jar.apply(signIn.setCookies);
    assert.deepEqual(jar.names(), ["sAccessToken", "sRefreshToken"]);
    assert.equal(jar.get("sRefreshToken")?.path, "/auth/session/refresh");
    assert.ok(jar.get("sAccessToken")?.attributes.has("httponly"));
    const csrf0 = signIn.headers.get("anti-csrf");
    assert.ok(csrf0, "VIA_TOKEN: an anti-CSRF token for cookie mode");
    assert.equal(jar.header("/api/me")?.includes("sRefreshToken"), false, "the refresh cookie stays on its path");

    assert.equal((await call("GET", "/api/me", { cookie: jar.header("/api/me") })).status, 200, "GET needs no anti-CSRF");
    const noCsrf = await call("POST", "/api/ping", { cookie: jar.header("/api/ping") });
    assert.equal(noCsrf.status, 401);
    assert.deepEqual(noCsrf.json, { message: "try refresh token" });
    const ping = await call("POST", "/api/ping", { cookie: jar.header("/api/ping"), "anti-csrf": csrf0 });
    assert.equal(ping.status, 200);
    assert.deepEqual(ping.json, { pong: userId });

    const oldRefreshCookie = jar.header("/auth/session/refresh");
    const refreshed = await call("POST", "/auth/session/refresh", { cookie: oldRefreshCookie, "anti-csrf": csrf0 });
    assert.equal(refreshed.status, 200);
    jar.apply(refreshed.setCookies);
    const csrf1 = refreshed.headers.get("anti-csrf");
    assert.ok(csrf1);

    const promoted = await call("POST", "/api/ping", { cookie: jar.header("/api/ping"), "anti-csrf": csrf1 });
    assert.equal(promoted.status, 200);
    assert.equal(promoted.setCookies.length, 1, "a new access-token cookie after promotion");
    assert.match(promoted.setCookies[0] ?? "", /^sAccessToken=[^;]+; Path=\/;/);
    jar.apply(promoted.setCookies);
    assert.equal((await call("GET", "/api/me", { cookie: jar.header("/api/me") })).setCookies.length, 0);

    const theft = await call("POST", "/auth/session/refresh", { cookie: oldRefreshCookie, "anti-csrf": csrf0 });
    assert.equal(theft.status, 401);
    assert.deepEqual(theft.json, { message: "token theft detected" });
    jar.apply(theft.setCookies);
    assert.deepEqual(jar.names(), [], "the browser's cookies are cleared");

    const again = await call("POST", "/auth/signin", { "st-auth-mode": "cookie" }, { userId });
    jar.apply(again.setCookies);
    const signOut = await call("POST", "/auth/signout", { cookie: jar.header("/auth/signout"), "anti-csrf": again.headers.get("anti-csrf") ?? undefined });
    assert.equal(signOut.status, 200);
    assert.deepEqual(signOut.json, { status: "OK" });
    assert.equal(signOut.headers.get("front-token"), "remove");
    jar.apply(signOut.setCookies);
    assert.deepEqual(jar.names(), []);
    // The service follows its core's revocation feed, and the process that revoked a session
    // refuses it at once (docs/revocation.md): a kept copy of the access token is refused,
    // where the SDK without check_database would accept it until it expires.
    const kept = await call("GET", "/api/me", { cookie: again.setCookies.map((c) => c.split(";")[0]).join("; ") });
    assert.equal(kept.status, 401, "a revoked session's access token is refused");
    assert.deepEqual(kept.json, { message: "unauthorised" });
  });
});

describe("errors", () => {
  it("401 unauthorised without a token, 401 try refresh token for a bad one, 401 on refresh without a token", async () => {
    const none = await call("GET", "/api/me");
    assert.equal(none.status, 401);
    assert.deepEqual(none.json, { message: "unauthorised" });
    assert.match(none.headers.get("content-type") ?? "", /^application\/json/);

    const signIn = await call("POST", "/auth/signin", {}, { userId: newUser() });
    const token = signIn.headers.get("st-access-token")!;
    const [h, p, s] = token.split(".") as [string, string, string];
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), sub: "admin" })).toString("base64url")}.${s}`;
    const bad = await call("GET", "/api/me", bearer(forged));
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.json, { message: "try refresh token" });

    const refresh = await call("POST", "/auth/session/refresh");
    assert.equal(refresh.status, 401);
    assert.deepEqual(refresh.json, { message: "unauthorised" });
  });

  it("403 invalid claim for a missing role, 200 with it", async () => {
    const user = await call("POST", "/auth/signin", {}, { userId: newUser(), roles: ["user"] });
    const denied = await call("GET", "/api/admin", bearer(user.headers.get("st-access-token")));
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.json, {
      message: "invalid claim",
      claimValidationErrors: [{ id: "st-role", reason: { message: "wrong value", expectedToInclude: "admin", actualValue: ["user"] } }],
    });

    const adminId = newUser();
    const admin = await call("POST", "/auth/signin", {}, { userId: adminId, roles: ["user", "admin"] });
    const allowed = await call("GET", "/api/admin", bearer(admin.headers.get("st-access-token")));
    assert.equal(allowed.status, 200);
    assert.deepEqual(allowed.json, { admin: adminId });
    const me = await call("GET", "/api/me", bearer(admin.headers.get("st-access-token")));
    assert.deepEqual(me.json?.["roles"], ["user", "admin"]);
  });

  it("400 for a malformed sign-in body", async () => {
    assert.equal((await call("POST", "/auth/signin", {}, { userId: 7 })).status, 400);
    assert.equal((await call("POST", "/auth/signin", {}, { userId: "u", roles: "admin" })).status, 400);
    const notJson = await fetch(`${base}/auth/signin`, { method: "POST", body: "userId=alice" });
    assert.equal(notJson.status, 400);
    assert.deepEqual(await notJson.json(), { message: "expected {\"userId\": string, \"roles\"?: string[]}" });
  });

  it("reads the sign-in body as JSON whatever its content type, as curl -d sends it", async () => {
    const userId = newUser();
    const response = await fetch(`${base}/auth/signin`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify({ userId, roles: ["admin"] }),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "OK", userId });
    const admin = await call("GET", "/api/admin", bearer(response.headers.get("st-access-token")));
    assert.deepEqual(admin.json, { admin: userId });
  });

  it("503 when the session service cannot be reached", async () => {
    const token = (await call("POST", "/auth/signin", {}, { userId: newUser() })).headers.get("st-access-token");
    const deadClient = new SessionClient(`127.0.0.1:${await releasedPort()}`, { timeoutMs: 3_000 });
    const dead = await listen(createGateway({ sessions: new HttpSessions(deadClient) }));
    try {
      const port = (dead.address() as AddressInfo).port;
      const response = await fetch(`http://127.0.0.1:${port}/api/me`, { headers: bearer(token) });
      assert.equal(response.status, 503);
      assert.deepEqual(await response.json(), { message: "session service unavailable" });
    } finally {
      await close(dead);
      deadClient.close();
    }
  });
});
