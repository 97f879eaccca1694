/**
 * The HTTP request layer (HttpSessions) against live services: transfer-method choice, token
 * reading and writing, anti-CSRF, clearing, and the SDK's 401/403 outcomes.
 */
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { claims, SessionClient } from "../src";
import { HUNDRED_YEARS_MS, HttpSessions, type HttpRequestLike, type HttpResult, type ResponseChanges } from "../src/http";
import { CookieJar, type RunningService } from "../src/testing";
import { startService, stopService, tamperSignature } from "./support";

let viaToken: RunningService; // --anti-csrf VIA_TOKEN: the service checks the anti-csrf header
let plain: RunningService; // --anti-csrf NONE, for the VIA_CUSTOM_HEADER mode checked by HttpSessions
let client: SessionClient;
let plainClient: SessionClient;
let sessions: HttpSessions;

before(async () => {
  [viaToken, plain] = await Promise.all([startService(["--anti-csrf", "VIA_TOKEN"]), startService()]);
  client = new SessionClient(viaToken.address);
  plainClient = new SessionClient(plain.address);
  sessions = new HttpSessions(client, { antiCsrf: "VIA_TOKEN" });
});

after(async () => {
  client?.close();
  plainClient?.close();
  await Promise.all([viaToken && stopService(viaToken), plain && stopService(plain)]);
});

const REFRESH_PATH = "/auth/session/refresh";
const newUser = () => `user-${randomUUID()}`;

function request(method: string, headers: Record<string, string | undefined> = {}): HttpRequestLike {
  const lower = new Map<string, string>();
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) lower.set(k.toLowerCase(), v);
  return { method, header: (name) => lower.get(name) };
}

const headersOf = (changes: ResponseChanges) => Object.fromEntries(changes.headers);
const exposed = (changes: ResponseChanges) => (changes.headers.get("access-control-expose-headers") ?? "").split(", ").filter(Boolean).sort();

function assertError<T>(result: HttpResult<T>, httpStatus: number, body: unknown): ResponseChanges {
  assert.equal(result.ok, false, "expected an error outcome");
  if (result.ok) throw new Error("unreachable");
  assert.equal(result.error.httpStatus, httpStatus);
  assert.deepEqual(result.error.body, body);
  return result.response;
}

function assertOk<T>(result: HttpResult<T>): { value: T; response: ResponseChanges } {
  if (!result.ok) assert.fail(`expected OK, got ${result.error.httpStatus} ${JSON.stringify(result.error.body)} (${result.error.reason})`);
  return result;
}

/** Everything cleared, for both transfer methods. */
function assertClearedEverywhere(changes: ResponseChanges): void {
  assert.deepEqual(
    changes.cookies.map((c) => [c.name, c.value, c.expires, c.path]).sort(),
    [
      ["sAccessToken", "", 0, "/"],
      ["sRefreshToken", "", 0, REFRESH_PATH],
    ],
  );
  const headers = headersOf(changes);
  assert.equal(headers["st-access-token"], "");
  assert.equal(headers["st-refresh-token"], "");
  assert.equal(headers["front-token"], "remove");
  assert.equal(headers["anti-csrf"], undefined);
}

function assertNothingWritten(changes: ResponseChanges): void {
  assert.deepEqual(headersOf(changes), {});
  assert.deepEqual(changes.cookies, []);
}

async function signInWithHeaders(userId = newUser()) {
  const created = await sessions.createNewSession(request("POST"), userId);
  const headers = headersOf(created.response);
  return { created, access: headers["st-access-token"]!, refresh: headers["st-refresh-token"]! };
}

async function signInWithCookies(userId = newUser()) {
  const created = await sessions.createNewSession(request("POST", { "st-auth-mode": "cookie" }), userId);
  const jar = new CookieJar();
  jar.apply(created.response.setCookieHeaders());
  return { created, jar, antiCsrf: headersOf(created.response)["anti-csrf"]! };
}

describe("createNewSession", () => {
  it("defaults to header transfer: tokens and front token in exposed headers, no anti-CSRF token", async () => {
    const userId = newUser();
    const { created, access, refresh } = await signInWithHeaders(userId);
    assert.equal(created.transferMethod, "header");
    assert.equal(created.userId, userId);
    const headers = headersOf(created.response);
    assert.equal(access, created.accessToken);
    assert.ok(refresh && refresh !== access);
    assert.equal(headers["front-token"], created.frontToken);
    assert.equal(headers["anti-csrf"], undefined, "header transfer disables anti-CSRF");
    assert.deepEqual(exposed(created.response), ["front-token", "st-access-token", "st-refresh-token"]);
    assert.deepEqual(created.response.cookies, []);
  });

  it("st-auth-mode: cookie sets HttpOnly cookies (refresh cookie on the refresh path) and the anti-CSRF header", async () => {
    const before = Date.now();
    const { created, jar, antiCsrf } = await signInWithCookies();
    assert.equal(created.transferMethod, "cookie");
    const headers = headersOf(created.response);
    assert.equal(headers["st-access-token"], undefined);
    assert.equal(headers["front-token"], created.frontToken);
    assert.match(antiCsrf, /\S/, "VIA_TOKEN issues an anti-CSRF token in cookie mode");
    assert.deepEqual(exposed(created.response), ["anti-csrf", "front-token"]);

    const access = created.response.cookies.find((c) => c.name === "sAccessToken")!;
    const refresh = created.response.cookies.find((c) => c.name === "sRefreshToken")!;
    assert.equal(access.value, created.accessToken);
    assert.equal(access.path, "/");
    assert.ok(access.expires >= before + HUNDRED_YEARS_MS && access.expires <= Date.now() + HUNDRED_YEARS_MS);
    assert.equal(refresh.path, REFRESH_PATH);
    assert.ok(refresh.expires > Date.now() && refresh.expires < before + HUNDRED_YEARS_MS, "the core's refresh expiry");
    for (const cookie of [access, refresh]) {
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.secure, false);
      assert.equal(cookie.sameSite, "lax");
    }
    assert.deepEqual(jar.names(), ["sAccessToken", "sRefreshToken"]);
    assert.equal(jar.header("/api/me"), `sAccessToken=${encodeURIComponent(created.accessToken)}`);
    assert.match(jar.header(REFRESH_PATH) ?? "", /^sRefreshToken=.*; sAccessToken=/);
  });

  it("exposeAccessTokenToFrontendInCookieBasedAuth also sends st-access-token in cookie mode", async () => {
    const exposing = new HttpSessions(client, { antiCsrf: "VIA_TOKEN", exposeAccessTokenToFrontendInCookieBasedAuth: true });
    const created = await exposing.createNewSession(request("POST", { "st-auth-mode": "cookie" }), newUser());
    assert.equal(headersOf(created.response)["st-access-token"], created.accessToken);
    assert.equal(created.response.cookies.find((c) => c.name === "sAccessToken")?.value, created.accessToken);
    assert.equal(headersOf(created.response)["st-refresh-token"], undefined);
  });

  it("clears the tokens the client sent by the other transfer method", async () => {
    const { access } = await signInWithHeaders();
    const created = await sessions.createNewSession(request("POST", { "st-auth-mode": "cookie", authorization: `Bearer ${access}` }), newUser());
    const headers = headersOf(created.response);
    assert.equal(headers["st-access-token"], "");
    assert.equal(headers["st-refresh-token"], "");
    assert.equal(headers["front-token"], created.frontToken, "set after the clearing");
    assert.equal(created.response.cookies.find((c) => c.name === "sAccessToken")?.value, created.accessToken);
  });

  it("refuses insecure SameSite=None cookies unless API and website are on localhost or an IP", async () => {
    const insecure = new HttpSessions(client, { cookieSameSite: "none", cookieSecure: false, apiDomain: "http://api.example.com", websiteDomain: "http://localhost:3000" });
    await assert.rejects(insecure.createNewSession(request("POST", { "st-auth-mode": "cookie" }), newUser()), /please use https on your apiDomain/);
    const local = new HttpSessions(client, { cookieSameSite: "none", apiDomain: "http://127.0.0.1:3001", websiteDomain: "http://localhost:3000" });
    const created = await local.createNewSession(request("POST", { "st-auth-mode": "cookie" }), newUser());
    assert.equal(created.response.cookies[0]?.sameSite, "none");
    // Header mode is unaffected.
    assert.equal((await insecure.createNewSession(request("POST"), newUser())).transferMethod, "header");
  });
});

describe("getSession", () => {
  it("reads Authorization: Bearer; writes nothing when the token is unchanged", async () => {
    const { created, access } = await signInWithHeaders();
    const { value, response } = assertOk(await sessions.getSession(request("POST", { authorization: `Bearer ${access}` })));
    assert.equal(value.sessionHandle, created.sessionHandle);
    assert.equal(value.transferMethod, "header");
    assertNothingWritten(response);
  });

  it("prefers the header over the cookie, and ignores a bearer token that is not an access token", async () => {
    const fromHeader = await signInWithHeaders();
    const fromCookie = await signInWithCookies();
    const cookie = fromCookie.jar.header("/api")!;
    const both = assertOk(await sessions.getSession(request("GET", { authorization: `Bearer ${fromHeader.access}`, cookie })));
    assert.equal(both.value.sessionHandle, fromHeader.created.sessionHandle);
    const opaque = assertOk(await sessions.getSession(request("GET", { authorization: "Bearer opaque-api-key", cookie })));
    assert.equal(opaque.value.sessionHandle, fromCookie.created.sessionHandle);
    assert.equal(opaque.value.transferMethod, "cookie");
  });

  it("cookie mode: anti-CSRF is checked on non-GET requests only (VIA_TOKEN)", async () => {
    const { jar, antiCsrf } = await signInWithCookies();
    const cookie = jar.header("/api")!;
    assertOk(await sessions.getSession(request("GET", { cookie })));
    const response = assertError(await sessions.getSession(request("POST", { cookie })), 401, { message: "try refresh token" });
    assertNothingWritten(response);
    assertError(await sessions.getSession(request("POST", { cookie, "anti-csrf": "wrong" })), 401, { message: "try refresh token" });
    assertOk(await sessions.getSession(request("POST", { cookie, "anti-csrf": antiCsrf })));
    assertOk(await sessions.getSession(request("POST", { cookie }), { antiCsrfCheck: false }));
  });

  it("no token: 401 unauthorised without clearing; optional: no session", async () => {
    assertNothingWritten(assertError(await sessions.getSession(request("GET")), 401, { message: "unauthorised" }));
    const optional = assertOk(await sessions.getSession(request("GET"), { sessionRequired: false }));
    assert.equal(optional.value, undefined);
    assertNothingWritten(optional.response);
  });

  it("a token that does not verify: 401 try refresh token, nothing cleared", async () => {
    const { access } = await signInWithHeaders();
    const result = await sessions.getSession(request("GET", { authorization: `Bearer ${tamperSignature(access)}` }));
    assertNothingWritten(assertError(result, 401, { message: "try refresh token" }));
  });

  it("a session the core no longer has: 401 unauthorised and every token cleared", async () => {
    const { created, access } = await signInWithHeaders();
    assert.equal((await client.revokeSession(created.sessionHandle)).status, "OK");
    const result = await sessions.getSession(request("GET", { authorization: `Bearer ${access}` }), { checkDatabase: true });
    assertClearedEverywhere(assertError(result, 401, { message: "unauthorised" }));
  });

  it("a legacy sIdRefreshToken cookie: 401 try refresh token", async () => {
    const { access } = await signInWithHeaders();
    const result = await sessions.getSession(request("GET", { authorization: `Bearer ${access}`, cookie: "sIdRefreshToken=old" }));
    assertError(result, 401, { message: "try refresh token" });
  });

  it("failed claim validators: 403 invalid claim with the SDK's claimValidationErrors", async () => {
    const { access } = await signInWithHeaders();
    const result = await sessions.getSession(request("GET", { authorization: `Bearer ${access}` }), {
      claimValidators: [claims.isTrue("st-ev"), claims.hasValue("st-role", "admin", { id: "admin-only" })],
    });
    assertNothingWritten(
      assertError(result, 403, {
        message: "invalid claim",
        claimValidationErrors: [
          { id: "st-ev", reason: { message: "value does not exist", expectedValue: true, actualValue: null } },
          { id: "admin-only", reason: { message: "value does not exist", expectedValue: "admin", actualValue: null } },
        ],
      }),
    );
  });

  it("the first use after a refresh returns the new access token the same way it came (cookie mode)", async () => {
    const { jar, antiCsrf } = await signInWithCookies();
    const refreshed = assertOk(await sessions.refreshSession(request("POST", { cookie: jar.header(REFRESH_PATH), "anti-csrf": antiCsrf })));
    jar.apply(refreshed.response.setCookieHeaders());
    const newAntiCsrf = headersOf(refreshed.response)["anti-csrf"]!;

    const first = assertOk(await sessions.getSession(request("POST", { cookie: jar.header("/api"), "anti-csrf": newAntiCsrf })));
    const cookie = first.response.cookies.find((c) => c.name === "sAccessToken");
    assert.ok(cookie, "a new access token cookie");
    assert.equal(cookie.value, first.value.accessToken);
    assert.notEqual(cookie.value, refreshed.value.accessToken);
    assert.equal(headersOf(first.response)["front-token"], first.value.frontToken);
    assert.equal(headersOf(first.response)["anti-csrf"], newAntiCsrf);
    jar.apply(first.response.setCookieHeaders());

    const second = assertOk(await sessions.getSession(request("GET", { cookie: jar.header("/api") })));
    assertNothingWritten(second.response);
  });
});

describe("refreshSession", () => {
  it("header mode: the refresh token comes as Authorization: Bearer and new tokens go out as headers", async () => {
    const { created, refresh } = await signInWithHeaders();
    const { value, response } = assertOk(await sessions.refreshSession(request("POST", { authorization: `Bearer ${refresh}` })));
    assert.equal(value.sessionHandle, created.sessionHandle);
    const headers = headersOf(response);
    assert.equal(headers["st-access-token"], value.accessToken);
    assert.match(headers["st-refresh-token"] ?? "", /\S/);
    assert.notEqual(headers["st-refresh-token"], refresh);
    assert.equal(headers["front-token"], value.frontToken);
    assert.deepEqual(response.cookies, []);
  });

  it("cookie mode with VIA_TOKEN needs the anti-CSRF token; without it the session is cleared", async () => {
    const { jar, antiCsrf } = await signInWithCookies();
    const cookie = jar.header(REFRESH_PATH);
    assertClearedEverywhere(assertError(await sessions.refreshSession(request("POST", { cookie })), 401, { message: "unauthorised" }));

    const again = await signInWithCookies();
    const ok = assertOk(await sessions.refreshSession(request("POST", { cookie: again.jar.header(REFRESH_PATH), "anti-csrf": again.antiCsrf })));
    assert.deepEqual(ok.response.cookies.map((c) => [c.name, c.path]).sort(), [
      ["sAccessToken", "/"],
      ["sRefreshToken", REFRESH_PATH],
    ]);
    assert.match(headersOf(ok.response)["anti-csrf"] ?? "", /\S/);
    assert.notEqual(antiCsrf, undefined);
  });

  it("no refresh token: 401 unauthorised without clearing (a legacy cookie is cleared)", async () => {
    assertNothingWritten(assertError(await sessions.refreshSession(request("POST")), 401, { message: "unauthorised" }));
    const legacy = assertError(await sessions.refreshSession(request("POST", { cookie: "sIdRefreshToken=old" })), 401, { message: "unauthorised" });
    assert.deepEqual(legacy.cookies.map((c) => [c.name, c.value, c.expires]), [["sIdRefreshToken", "", 0]]);
  });

  it("an unknown refresh token: 401 unauthorised and everything cleared", async () => {
    const result = await sessions.refreshSession(request("POST", { authorization: "Bearer not-a-refresh-token" }));
    assertClearedEverywhere(assertError(result, 401, { message: "unauthorised" }));
  });

  it("reuse of a rotated refresh token: 401 token theft detected, session revoked, everything cleared", async () => {
    const { created, refresh: r0 } = await signInWithHeaders();
    const first = assertOk(await sessions.refreshSession(request("POST", { authorization: `Bearer ${r0}` })));
    const r1 = headersOf(first.response)["st-refresh-token"]!;
    assertOk(await sessions.refreshSession(request("POST", { authorization: `Bearer ${r1}` })));
    const theft = await sessions.refreshSession(request("POST", { authorization: `Bearer ${r0}` }));
    assertClearedEverywhere(assertError(theft, 401, { message: "token theft detected" }));
    assert.equal((await client.getSessionInformation(created.sessionHandle)).status, "SESSION_DOES_NOT_EXIST");
  });

  it("with tokens sent both ways, the header wins and the cookie tokens are cleared", async () => {
    const { refresh } = await signInWithHeaders();
    const result = assertOk(await sessions.refreshSession(request("POST", { authorization: `Bearer ${refresh}`, cookie: "sRefreshToken=stale" })));
    assert.equal(result.value.transferMethod, "header");
    assert.deepEqual(result.response.cookies.map((c) => [c.name, c.value, c.expires]).sort(), [
      ["sAccessToken", "", 0],
      ["sRefreshToken", "", 0],
    ]);
    assert.equal(headersOf(result.response)["st-access-token"], result.value.accessToken);
  });
});

describe("signOut", () => {
  it("revokes the session and clears the tokens of its transfer method", async () => {
    const { created, jar, antiCsrf } = await signInWithCookies();
    const result = assertOk(await sessions.signOut(request("POST", { cookie: jar.header("/auth/signout"), "anti-csrf": antiCsrf })));
    assert.deepEqual(result.value, { status: "OK" });
    assert.deepEqual(result.response.cookies.map((c) => [c.name, c.value, c.expires]).sort(), [
      ["sAccessToken", "", 0],
      ["sRefreshToken", "", 0],
    ]);
    assert.equal(headersOf(result.response)["front-token"], "remove");
    assert.equal(headersOf(result.response)["st-access-token"], undefined, "only the session's own method is cleared");
    assert.equal((await client.getSessionInformation(created.sessionHandle)).status, "SESSION_DOES_NOT_EXIST");
  });

  it("without a session it is still OK and writes nothing; an unverifiable token gives try refresh token", async () => {
    const none = assertOk(await sessions.signOut(request("POST")));
    assert.deepEqual(none.value, { status: "OK" });
    assertNothingWritten(none.response);
    const { access } = await signInWithHeaders();
    assertError(await sessions.signOut(request("POST", { authorization: `Bearer ${tamperSignature(access)}` })), 401, { message: "try refresh token" });
  });

  it("ignores failing global claim validators (none are applied on sign-out)", async () => {
    const { created, access } = await signInWithHeaders();
    const result = assertOk(await sessions.signOut(request("POST", { authorization: `Bearer ${access}` })));
    assert.equal(headersOf(result.response)["st-access-token"], "");
    assert.equal((await client.getSessionInformation(created.sessionHandle)).status, "SESSION_DOES_NOT_EXIST");
  });
});

describe("anti-CSRF VIA_CUSTOM_HEADER (checked by HttpSessions, service on NONE)", () => {
  it("cookie mode needs the rid header on non-GET requests and on refresh", async () => {
    const custom = new HttpSessions(plainClient, { antiCsrf: "VIA_CUSTOM_HEADER" });
    const created = await custom.createNewSession(request("POST", { "st-auth-mode": "cookie" }), newUser());
    assert.equal(headersOf(created.response)["anti-csrf"], undefined, "no anti-CSRF token in this mode");
    const jar = new CookieJar();
    jar.apply(created.response.setCookieHeaders());

    assertError(await custom.getSession(request("POST", { cookie: jar.header("/api") })), 401, { message: "try refresh token" });
    assertOk(await custom.getSession(request("POST", { cookie: jar.header("/api"), rid: "session" })));
    assertOk(await custom.getSession(request("GET", { cookie: jar.header("/api") })));
    // As in 0.14.0, the rid check comes before looking at the token, so even no token says "try refresh token".
    assertError(await custom.getSession(request("POST")), 401, { message: "try refresh token" });

    assertNothingWritten(assertError(await custom.refreshSession(request("POST", { cookie: jar.header(REFRESH_PATH) })), 401, { message: "unauthorised" }));
    assertOk(await custom.refreshSession(request("POST", { cookie: jar.header(REFRESH_PATH), rid: "session" })));
  });

  it("header mode needs no rid header", async () => {
    const custom = new HttpSessions(plainClient, { antiCsrf: "VIA_CUSTOM_HEADER" });
    const created = await custom.createNewSession(request("POST"), newUser());
    const headers = headersOf(created.response);
    assertOk(await custom.getSession(request("POST", { authorization: `Bearer ${headers["st-access-token"]}` })));
    assertOk(await custom.refreshSession(request("POST", { authorization: `Bearer ${headers["st-refresh-token"]}` })));
  });
});
