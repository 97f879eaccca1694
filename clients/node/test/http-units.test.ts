/** Pure parts of the HTTP layer: cookie and header parsing and writing, token structure. */
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  defaultTokenTransferMethod,
  getToken,
  mergeList,
  parseAccessToken,
  parseCookieHeader,
  ResponseChanges,
  serializeSetCookie,
  type HttpRequestLike,
} from "../src/http";

function request(headers: Record<string, string>, method = "GET"): HttpRequestLike {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, header: (name) => lower.get(name) };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const jwt = (header: unknown, payload: unknown) => `${b64url(header)}.${b64url(payload)}.c2lnbmF0dXJl`;
const V3_HEADER = { alg: "RS256", typ: "JWT", version: "3", kid: "d-1" };
const V3_PAYLOAD = { sub: "u", exp: 2_000_000_000, iat: 1_700_000_000, sessionHandle: "h", refreshTokenHash1: "r" };

describe("parseCookieHeader", () => {
  it("splits, trims, unquotes and URL-decodes; the first of a repeated name wins", () => {
    const cookies = parseCookieHeader(' a=1;b = two ; sAccessToken=x%2By%3D; q="quoted"; a=second; flag; bad=%E0%A4%A');
    assert.deepEqual(Object.fromEntries(cookies), { a: "1", b: "two", sAccessToken: "x+y=", q: "quoted", bad: "%E0%A4%A" });
  });

  it("gives an empty map for no header", () => {
    assert.equal(parseCookieHeader(undefined).size, 0);
    assert.equal(parseCookieHeader("").size, 0);
  });
});

describe("serializeSetCookie", () => {
  it("writes the SDK's attributes", () => {
    const expires = Date.UTC(2125, 0, 2, 3, 4, 5);
    assert.equal(
      serializeSetCookie({ name: "sRefreshToken", value: "a+b/c=", expires, path: "/auth/session/refresh", secure: true, httpOnly: true, sameSite: "none", domain: "example.com" }),
      "sRefreshToken=a%2Bb%2Fc%3D; Path=/auth/session/refresh; Expires=Tue, 02 Jan 2125 03:04:05 GMT; Domain=example.com; HttpOnly; Secure; SameSite=None",
    );
  });

  it("clears with an empty value and expiry 0", () => {
    assert.equal(
      serializeSetCookie({ name: "sAccessToken", value: "", expires: 0, path: "/", secure: false, httpOnly: true, sameSite: "lax" }),
      "sAccessToken=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax",
    );
  });

  it("round-trips a value through parseCookieHeader", () => {
    const value = "eyJ.a+b/c=;%é";
    const header = serializeSetCookie({ name: "t", value, expires: 0, path: "/", secure: false, httpOnly: true, sameSite: "strict" });
    const pair = header.split(";")[0]!;
    assert.equal(parseCookieHeader(pair).get("t"), value);
  });
});

describe("parseAccessToken (SDK structure check)", () => {
  it("accepts a v3 token with the required claims", () => {
    const parsed = parseAccessToken(jwt(V3_HEADER, { ...V3_PAYLOAD, custom: 1 }));
    assert.equal(parsed?.version, 3);
    assert.equal(parsed?.kid, "d-1");
    assert.equal(parsed?.payload["custom"], 1);
  });

  it("accepts the exact v2 header with v2 claims", () => {
    const v2Header = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0=";
    const payload = { sessionHandle: "h", userData: {}, refreshTokenHash1: "r", expiryTime: 1, timeCreated: 0, userId: "u" };
    const parsed = parseAccessToken(`${v2Header}.${b64url(payload)}.sig`);
    assert.equal(parsed?.version, 2);
    assert.equal(parsed?.kid, undefined);
    assert.equal(parseAccessToken(`${v2Header}.${b64url({ ...payload, userData: null })}.sig`), undefined);
  });

  const rejected: Array<[string, string]> = [
    ["two parts", "a.b"],
    ["four parts", `${jwt(V3_HEADER, V3_PAYLOAD)}.x`],
    ["an opaque token", "opaque-token"],
    ["no kid", jwt({ ...V3_HEADER, kid: undefined }, V3_PAYLOAD)],
    ["version 2 in a non-standard header", jwt({ ...V3_HEADER, version: "2" }, V3_PAYLOAD)],
    ["a numeric version", jwt({ ...V3_HEADER, version: 3 }, V3_PAYLOAD)],
    ["typ other than JWT", jwt({ ...V3_HEADER, typ: "at+jwt" }, V3_PAYLOAD)],
    ["no sub", jwt(V3_HEADER, { ...V3_PAYLOAD, sub: undefined })],
    ["a fractional exp", jwt(V3_HEADER, { ...V3_PAYLOAD, exp: 1.5 })],
    ["a numeric sessionHandle", jwt(V3_HEADER, { ...V3_PAYLOAD, sessionHandle: 7 })],
    ["no refreshTokenHash1", jwt(V3_HEADER, { ...V3_PAYLOAD, refreshTokenHash1: undefined })],
    ["a payload that is not JSON", `${b64url(V3_HEADER)}.bm90IGpzb24.sig`],
    ["a payload that is an array", jwt(V3_HEADER, [1])],
  ];
  for (const [what, token] of rejected) {
    it(`rejects ${what}`, () => assert.equal(parseAccessToken(token), undefined));
  }
});

describe("request reading", () => {
  it("reads Authorization: Bearer (trimmed, case-sensitive scheme) and the cookies", () => {
    assert.equal(getToken(request({ authorization: "Bearer  abc " }), "access", "header"), "abc");
    assert.equal(getToken(request({ authorization: "bearer abc" }), "access", "header"), undefined);
    assert.equal(getToken(request({ authorization: "Basic abc" }), "refresh", "header"), undefined);
    assert.equal(getToken(request({ authorization: "Bearer r1" }), "refresh", "header"), "r1", "refresh API: bearer is the refresh token");
    const cookies = request({ cookie: "sAccessToken=a%2Fb; sRefreshToken=r" });
    assert.equal(getToken(cookies, "access", "cookie"), "a/b");
    assert.equal(getToken(cookies, "refresh", "cookie"), "r");
    assert.equal(getToken(request({}), "access", "cookie"), undefined);
  });

  it("chooses the transfer method as the SDK: st-auth-mode for create, any otherwise", () => {
    assert.equal(defaultTokenTransferMethod(request({ "st-auth-mode": "cookie" }), true), "cookie");
    assert.equal(defaultTokenTransferMethod(request({ "st-auth-mode": "HEADER" }), true), "header");
    assert.equal(defaultTokenTransferMethod(request({ "st-auth-mode": "both" }), true), "any");
    assert.equal(defaultTokenTransferMethod(request({}), true), "any");
    assert.equal(defaultTokenTransferMethod(request({ "st-auth-mode": "cookie" }), false), "any");
  });
});

describe("ResponseChanges", () => {
  it("accumulates Access-Control-Expose-Headers without duplicates; other headers are replaced", () => {
    const changes = new ResponseChanges();
    changes.setHeader("Access-Control-Expose-Headers", "front-token");
    changes.setHeader("access-control-expose-headers", "front-token");
    changes.setHeader("access-control-expose-headers", "st-access-token, anti-csrf");
    changes.setHeader("front-token", "a");
    changes.setHeader("front-token", "remove");
    changes.setHeader("anti-csrf", "x");
    changes.removeHeader("anti-csrf");
    assert.deepEqual(Object.fromEntries(changes.headers), {
      "access-control-expose-headers": "front-token, st-access-token, anti-csrf",
      "front-token": "remove",
    });
    assert.equal(mergeList("a, B", "b, c"), "a, B, c");
  });

  it("replaces a cookie with the same name, path and domain and keeps the order of the rest", () => {
    const changes = new ResponseChanges();
    const base = { expires: 1, secure: false, httpOnly: true, sameSite: "lax" as const };
    changes.setCookie({ ...base, name: "sAccessToken", value: "1", path: "/" });
    changes.setCookie({ ...base, name: "sRefreshToken", value: "2", path: "/auth/session/refresh" });
    changes.setCookie({ ...base, name: "sAccessToken", value: "", path: "/", expires: 0 });
    assert.deepEqual(
      changes.cookies.map((c) => [c.name, c.value, c.expires]),
      [
        ["sRefreshToken", "2", 1],
        ["sAccessToken", "", 0],
      ],
    );
    assert.equal(changes.setCookieHeaders().length, 2);
  });
});
