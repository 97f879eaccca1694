/**
 * SessionClient against a live session-service (embedded core, SQLite): every RPC and every
 * status the service can produce for it over a real socket.
 */
import { strict as assert } from "node:assert";
import { createPublicKey, randomUUID, verify } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import {
  claims,
  MalformedResponseError,
  SessionClient,
  SessionServiceError,
  type CreatedSession,
  type JsonObject,
  type JsonValue,
} from "../src";
import { onlyOk } from "../src/client";
import type { RunningService } from "../src/testing";
import { decodeJwtPart, startService, stopService, tamperSignature } from "./support";

let service: RunningService;
let client: SessionClient;

before(async () => {
  service = await startService();
  client = new SessionClient(service.address, { timeoutMs: 10_000 });
});

after(async () => {
  client?.close();
  if (service) await stopService(service);
});

const newUser = () => `user-${randomUUID()}`;

async function create(userId = newUser(), payload: Record<string, string | number | boolean> = {}): Promise<CreatedSession> {
  return client.createSession(userId, { accessTokenPayload: payload, sessionDataInDatabase: { plan: "free" } });
}

async function rejectsWithCode(promise: Promise<unknown>, code: GrpcStatus): Promise<SessionServiceError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SessionServiceError, `expected SessionServiceError, got ${String(error)}`);
    assert.equal(error.code, code, `expected ${GrpcStatus[code]}, got ${error.codeName}: ${error.details}`);
    return error;
  }
  assert.fail(`expected ${GrpcStatus[code]}`);
}

describe("CreateSession", () => {
  it("returns a session with access and refresh tokens, front token and payload", async () => {
    const userId = newUser();
    const before = Date.now();
    const created = await create(userId, { role: "admin" });
    const { session } = created;
    assert.equal(created.status, "OK");
    assert.equal(session.userId, userId);
    assert.match(session.sessionHandle, /\S/);
    assert.equal(session.accessToken, created.accessToken.token);
    assert.equal(session.expiry, created.accessToken.expiry);
    assert.ok(created.accessToken.createdTime >= before - 1000 && created.accessToken.expiry > Date.now());
    assert.ok(created.refreshToken.expiry > created.accessToken.expiry, "the session outlives the access token");
    assert.notEqual(created.refreshToken.token, created.accessToken.token);
    assert.equal(created.antiCsrfToken, undefined, "the service runs with anti-CSRF NONE");

    const payload = session.accessTokenPayload;
    assert.equal(payload["sub"], userId);
    assert.equal(payload["role"], "admin");
    assert.equal(payload["sessionHandle"], session.sessionHandle);
    assert.equal(payload["iss"], "http://localhost:3001/auth");
    assert.deepEqual(decodeJwtPart(session.accessToken, 1), payload, "the payload is the token's payload");
    assert.equal(decodeJwtPart(session.accessToken, 0)["version"], "3");

    const front = JSON.parse(Buffer.from(session.frontToken, "base64").toString("utf8"));
    assert.deepEqual(front, { ate: session.expiry, uid: userId, up: payload });
  });

  it("rejects an empty user id with INVALID_ARGUMENT", async () => {
    const error = await rejectsWithCode(client.createSession(""), GrpcStatus.INVALID_ARGUMENT);
    assert.match(error.details, /user_id/);
  });

  it("rejects a protected claim in the payload with INVALID_ARGUMENT", async () => {
    await rejectsWithCode(client.createSession(newUser(), { accessTokenPayload: { sub: "someone-else" } }), GrpcStatus.INVALID_ARGUMENT);
  });

  it("refuses non-JSON input before sending it", async () => {
    await assert.rejects(
      client.createSession(newUser(), { accessTokenPayload: { when: new Date() as never } }),
      (error: Error) => error instanceof TypeError && /\$\.when/.test(error.message),
    );
    await assert.rejects(client.createSession(newUser(), { accessTokenPayload: { n: Number.NaN } }), TypeError);
  });

  it("serves a payload nesting the service's limit of 32 levels, and refuses one level more", async () => {
    // Objects only: each costs three protobuf message levels, the most this client's decoder
    // (ts-proto, a limit of 100) takes at 32 (C++, Java and Python take 33).
    const nested = (depth: number): JsonValue => (depth === 0 ? "leaf" : { k: nested(depth - 1) });
    const deepest: JsonObject = { deep: nested(31) };
    const created = await client.createSession(newUser(), { accessTokenPayload: deepest });
    const verified = await client.getSession(created.accessToken.token);
    assert.equal(verified.status, "OK");
    if (verified.status !== "OK") return;
    assert.deepEqual(verified.session.accessTokenPayload["deep"], deepest["deep"]);
    const error = await rejectsWithCode(
      client.createSession(newUser(), { accessTokenPayload: { deep: nested(32) } }),
      GrpcStatus.INVALID_ARGUMENT,
    );
    assert.match(error.details, /^access_token_payload: nests 33 levels of objects and arrays, more than the 32/);
  });
});

describe("GetSession", () => {
  it("OK for a fresh access token, verified without a new token", async () => {
    const created = await create(undefined, { tier: "gold" });
    const result = await client.getSession(created.accessToken.token);
    assert.equal(result.status, "OK");
    if (result.status !== "OK") return;
    assert.equal(result.session.sessionHandle, created.session.sessionHandle);
    assert.equal(result.session.accessTokenPayload["tier"], "gold");
    assert.equal(result.session.accessToken, created.accessToken.token);
    assert.equal(result.newAccessToken, undefined);
  });

  it("UNAUTHORISED without a token when a session is required, NO_SESSION when not", async () => {
    const required = await client.getSession(undefined);
    assert.equal(required.status, "UNAUTHORISED");
    const optional = await client.getSession("", { sessionRequired: false });
    assert.equal(optional.status, "NO_SESSION");
  });

  it("UNAUTHORISED for an unparsable token, NO_SESSION when optional", async () => {
    assert.equal((await client.getSession("not-a-jwt")).status, "UNAUTHORISED");
    assert.equal((await client.getSession("not-a-jwt", { sessionRequired: false })).status, "NO_SESSION");
  });

  it("TRY_REFRESH_TOKEN for a token whose signature does not verify", async () => {
    const created = await create();
    const result = await client.getSession(tamperSignature(created.accessToken.token));
    assert.equal(result.status, "TRY_REFRESH_TOKEN");
    if (result.status === "TRY_REFRESH_TOKEN") assert.ok(!result.message.includes(created.accessToken.token));
  });

  it("INVALID_CLAIMS with the SDK's reasons, OK when the validators pass", async () => {
    const created = await create();
    const handle = created.session.sessionHandle;
    assert.equal((await client.setClaimValue(handle, "st-role", ["admin"])).status, "OK");
    // The stored payload changed; a refreshed token carries it.
    const refreshed = await client.refreshSession(created.refreshToken.token);
    assert.equal(refreshed.status, "OK");
    if (refreshed.status !== "OK") return;
    const token = refreshed.accessToken.token;

    const failing = await client.getSession(token, {
      claimValidators: [claims.includes("st-role", "owner"), claims.isTrue("st-ev", { id: "email-verified" })],
    });
    assert.equal(failing.status, "INVALID_CLAIMS");
    if (failing.status !== "INVALID_CLAIMS") return;
    assert.equal(failing.session.sessionHandle, handle);
    assert.deepEqual(failing.invalidClaims, [
      // The expected value as it was passed (one item here), as the SDK reports it.
      { id: "st-role", reason: { message: "wrong value", expectedToInclude: "owner", actualValue: ["admin"] } },
      { id: "email-verified", reason: { message: "value does not exist", expectedValue: true, actualValue: null } },
    ]);

    const passing = await client.getSession(token, { claimValidators: [claims.includes("st-role", "admin")] });
    assert.equal(passing.status, "OK");
  });

  it("a revoked session: checkDatabase sees it at once, local verification once the revocation feed brings it", async () => {
    const created = await create();
    assert.equal((await client.revokeSession(created.session.sessionHandle)).status, "OK");
    assert.equal((await client.getSession(created.accessToken.token, { checkDatabase: true })).status, "UNAUTHORISED");
    // The service follows its core's revocation feed (docs/revocation.md): within about a second.
    const deadline = Date.now() + 10_000;
    let status = (await client.getSession(created.accessToken.token)).status;
    while (status !== "UNAUTHORISED" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await client.getSession(created.accessToken.token)).status;
    }
    assert.equal(status, "UNAUTHORISED");
  });
});

describe("RefreshSession", () => {
  it("rotates tokens; the first use of the new access token gets a new one from the core", async () => {
    const created = await create(undefined, { n: 1 });
    const refreshed = await client.refreshSession(created.refreshToken.token);
    assert.equal(refreshed.status, "OK");
    if (refreshed.status !== "OK") return;
    assert.equal(refreshed.session.sessionHandle, created.session.sessionHandle);
    assert.notEqual(refreshed.accessToken.token, created.accessToken.token);
    assert.notEqual(refreshed.refreshToken.token, created.refreshToken.token);
    assert.equal(refreshed.session.accessTokenPayload["n"], 1);
    assert.equal(typeof refreshed.session.accessTokenPayload["parentRefreshTokenHash1"], "string");

    const first = await client.getSession(refreshed.accessToken.token);
    assert.equal(first.status, "OK");
    if (first.status !== "OK") return;
    assert.ok(first.newAccessToken, "the core promotes the refresh token and issues a new access token");
    assert.equal(first.session.accessToken, first.newAccessToken.token);
    assert.equal(first.session.accessTokenPayload["parentRefreshTokenHash1"], null);

    const second = await client.getSession(first.newAccessToken.token);
    assert.equal(second.status, "OK");
    if (second.status === "OK") assert.equal(second.newAccessToken, undefined);
  });

  it("TOKEN_THEFT_DETECTED when an old refresh token is reused after its successor was used", async () => {
    const userId = newUser();
    const created = await create(userId);
    const r1 = await client.refreshSession(created.refreshToken.token);
    assert.equal(r1.status, "OK");
    if (r1.status !== "OK") return;
    const r2 = await client.refreshSession(r1.refreshToken.token);
    assert.equal(r2.status, "OK");
    const reuse = await client.refreshSession(created.refreshToken.token);
    assert.equal(reuse.status, "TOKEN_THEFT_DETECTED");
    if (reuse.status !== "TOKEN_THEFT_DETECTED") return;
    assert.deepEqual(reuse.tokenTheft, { sessionHandle: created.session.sessionHandle, userId });
  });

  it("UNAUTHORISED for an empty, unknown or revoked refresh token", async () => {
    assert.equal((await client.refreshSession("")).status, "UNAUTHORISED");
    assert.equal((await client.refreshSession("garbage.refresh.token")).status, "UNAUTHORISED");
    const created = await create();
    await client.revokeSession(created.session.sessionHandle);
    assert.equal((await client.refreshSession(created.refreshToken.token)).status, "UNAUTHORISED");
  });
});

describe("session management", () => {
  it("RevokeSession: OK, then SESSION_DOES_NOT_EXIST; an empty handle is INVALID_ARGUMENT", async () => {
    const created = await create();
    assert.deepEqual(await client.revokeSession(created.session.sessionHandle), { status: "OK" });
    const again = await client.revokeSession(created.session.sessionHandle);
    assert.equal(again.status, "SESSION_DOES_NOT_EXIST");
    await rejectsWithCode(client.revokeSession(""), GrpcStatus.INVALID_ARGUMENT);
  });

  it("RevokeMultipleSessions and RevokeAllSessionsForUser return what they revoked", async () => {
    const userId = newUser();
    const sessions = await Promise.all([create(userId), create(userId), create(userId), create(userId)]);
    const handles = sessions.map((s) => s.session.sessionHandle);
    const revoked = await client.revokeMultipleSessions([handles[0]!, handles[1]!, "no-such-handle"]);
    assert.equal(revoked.status, "OK");
    assert.deepEqual(revoked.sessionHandles.sort(), [handles[0]!, handles[1]!].sort());
    assert.equal((await client.getSessionInformation(handles[0]!)).status, "SESSION_DOES_NOT_EXIST");
    assert.equal((await client.getSessionInformation(handles[2]!)).status, "OK");

    const revokedAll = await client.revokeAllSessionsForUser(userId);
    assert.equal(revokedAll.status, "OK");
    assert.deepEqual(revokedAll.sessionHandles.sort(), [handles[2]!, handles[3]!].sort());
    assert.deepEqual(await client.revokeAllSessionsForUser(userId), { status: "OK", sessionHandles: [] });
    assert.deepEqual(await client.revokeMultipleSessions([]), { status: "OK", sessionHandles: [] });
  });

  it("GetAllSessionHandlesForUser lists a user's live sessions", async () => {
    const userId = newUser();
    const handles = (await Promise.all([create(userId), create(userId)])).map((s) => s.session.sessionHandle);
    const listed = await client.getAllSessionHandlesForUser(userId);
    assert.equal(listed.status, "OK");
    assert.deepEqual(listed.sessionHandles.sort(), [...handles].sort());
    await client.revokeSession(handles[0]!);
    assert.deepEqual(await client.getAllSessionHandlesForUser(userId), { status: "OK", sessionHandles: [handles[1]!] });
    assert.deepEqual(await client.getAllSessionHandlesForUser(newUser()), { status: "OK", sessionHandles: [] });
  });

  it("GetSessionInformation and UpdateSessionDataInDatabase", async () => {
    const userId = newUser();
    const created = await create(userId, { color: "blue" });
    const handle = created.session.sessionHandle;
    const info = await client.getSessionInformation(handle);
    assert.equal(info.status, "OK");
    if (info.status !== "OK") return;
    assert.equal(info.info.userId, userId);
    assert.equal(info.info.sessionHandle, handle);
    assert.deepEqual(info.info.sessionDataInDatabase, { plan: "free" });
    assert.deepEqual(info.info.customClaimsInAccessTokenPayload, { color: "blue", iss: "http://localhost:3001/auth" });
    assert.equal(info.info.expiry, created.refreshToken.expiry);
    assert.ok(info.info.timeCreated <= Date.now());

    const data = { plan: "pro", seats: 3, tags: ["a", "b"], nested: { ok: true, none: null } };
    assert.deepEqual(await client.updateSessionDataInDatabase(handle, data), { status: "OK" });
    const updated = await client.getSessionInformation(handle);
    assert.equal(updated.status, "OK");
    if (updated.status === "OK") assert.deepEqual(updated.info.sessionDataInDatabase, data);

    await client.revokeSession(handle);
    assert.equal((await client.getSessionInformation(handle)).status, "SESSION_DOES_NOT_EXIST");
    assert.equal((await client.updateSessionDataInDatabase(handle, {})).status, "SESSION_DOES_NOT_EXIST");
  });

  it("MergeIntoAccessTokenPayload merges into the stored payload; null removes a key", async () => {
    const created = await create(undefined, { keep: "yes", drop: "me" });
    const handle = created.session.sessionHandle;
    assert.deepEqual(await client.mergeIntoAccessTokenPayload(handle, { added: 2, drop: null }), { status: "OK" });
    const info = await client.getSessionInformation(handle);
    assert.equal(info.status, "OK");
    if (info.status === "OK") {
      assert.deepEqual(info.info.customClaimsInAccessTokenPayload, { keep: "yes", added: 2, iss: "http://localhost:3001/auth" });
    }
    await rejectsWithCode(client.mergeIntoAccessTokenPayload(handle, { exp: 1 }), GrpcStatus.INVALID_ARGUMENT);
    await client.revokeSession(handle);
    assert.equal((await client.mergeIntoAccessTokenPayload(handle, { x: 1 })).status, "SESSION_DOES_NOT_EXIST");
  });

  it("RegenerateAccessToken: OK with a new token and payload; TRY_REFRESH_TOKEN; UNAUTHORISED once revoked", async () => {
    const created = await create(undefined, { v: 1 });
    const result = await client.regenerateAccessToken(created.accessToken.token, { v: 2 });
    assert.equal(result.status, "OK");
    if (result.status !== "OK") return;
    assert.equal(result.session.sessionHandle, created.session.sessionHandle);
    assert.equal(result.session.userDataInJwt["v"], 2);
    assert.ok(result.accessToken, "the token had not expired, so a new one is issued");
    assert.notEqual(result.accessToken.token, created.accessToken.token);
    assert.equal(decodeJwtPart(result.accessToken.token, 1)["v"], 2);
    const verified = await client.getSession(result.accessToken.token);
    assert.equal(verified.status, "OK");

    assert.equal((await client.regenerateAccessToken(tamperSignature(created.accessToken.token))).status, "TRY_REFRESH_TOKEN");
    await client.revokeSession(created.session.sessionHandle);
    assert.equal((await client.regenerateAccessToken(created.accessToken.token, { v: 3 })).status, "UNAUTHORISED");
  });
});

describe("claims by handle", () => {
  it("SetClaimValue, GetClaimValue, ValidateClaimsForSessionHandle, RemoveClaim", async () => {
    const handle = (await create()).session.sessionHandle;
    assert.deepEqual(await client.getClaimValue(handle, "st-ev"), { status: "OK", value: undefined });
    assert.deepEqual(await client.setClaimValue(handle, "st-ev", false), { status: "OK" });
    assert.deepEqual(await client.getClaimValue(handle, "st-ev"), { status: "OK", value: false });

    const invalid = await client.validateClaimsForSessionHandle(handle, { claimValidators: [claims.isTrue("st-ev")] });
    assert.equal(invalid.status, "INVALID_CLAIMS");
    if (invalid.status === "INVALID_CLAIMS") {
      assert.deepEqual(invalid.invalidClaims, [
        { id: "st-ev", reason: { message: "wrong value", expectedValue: true, actualValue: false } },
      ]);
    }
    assert.deepEqual(
      await client.validateClaimsForSessionHandle(handle, { claimValidators: [claims.isFalse("st-ev", { maxAgeSeconds: 300 })] }),
      { status: "OK" },
    );
    await client.setClaimValue(handle, "st-perm", ["read", "write"]);
    const arrays = await client.validateClaimsForSessionHandle(handle, {
      claimValidators: [
        claims.includesAll("st-perm", ["read", "write"]),
        claims.excludes("st-perm", "delete"),
        claims.excludesAll("st-perm", ["write"], { id: "no-write" }),
        claims.hasValue("st-missing", "x"),
      ],
    });
    assert.equal(arrays.status, "INVALID_CLAIMS");
    if (arrays.status === "INVALID_CLAIMS") {
      assert.deepEqual(
        arrays.invalidClaims.map((c) => [c.id, c.reason?.["message"]]),
        [
          ["no-write", "wrong value"],
          ["st-missing", "value does not exist"],
        ],
      );
    }

    assert.deepEqual(await client.removeClaim(handle, "st-ev"), { status: "OK" });
    assert.deepEqual(await client.getClaimValue(handle, "st-ev"), { status: "OK", value: undefined });

    await client.revokeSession(handle);
    for (const result of [
      await client.setClaimValue(handle, "k", 1),
      await client.getClaimValue(handle, "k"),
      await client.removeClaim(handle, "k"),
      await client.validateClaimsForSessionHandle(handle),
    ]) {
      assert.equal(result.status, "SESSION_DOES_NOT_EXIST");
    }
  });
});

describe("JWT and OpenID", () => {
  it("CreateJWT signs with a key from GetJWKS; GetOpenIdDiscoveryConfiguration names issuer and JWKS", async () => {
    const jwks = await client.getJWKS();
    assert.equal(jwks.status, "OK");
    const keys = jwks.keys;
    assert.ok(keys.length >= 2, "a dynamic and a static key");
    for (const key of keys) {
      assert.equal(key.kty, "RSA");
      assert.equal(key.alg, "RS256");
      assert.equal(key.use, "sig");
      assert.match(key.kid, /^(d-\d+|s-.+)$/);
    }

    const created = await client.createJWT({ purpose: "test" }, { validitySeconds: 60 });
    assert.equal(created.status, "OK");
    if (created.status !== "OK") return;
    const header = decodeJwtPart(created.jwt, 0);
    const payload = decodeJwtPart(created.jwt, 1);
    assert.equal(payload["purpose"], "test");
    assert.equal(Number(payload["exp"]) - Number(payload["iat"]), 60);
    assert.match(String(header["kid"]), /^s-/, "the static key by default");
    const jwk = keys.find((k) => k.kid === header["kid"]);
    assert.ok(jwk, "the signing key is published");
    const [h, p, s] = created.jwt.split(".") as [string, string, string];
    const publicKey = createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: "jwk" });
    assert.ok(verify("RSA-SHA256", Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, "base64url")), "RS256 signature verifies");

    const dynamic = await client.createJWT({}, { useStaticSigningKey: false });
    assert.equal(dynamic.status, "OK");
    if (dynamic.status === "OK") assert.match(String(decodeJwtPart(dynamic.jwt, 0)["kid"]), /^d-/);

    await rejectsWithCode(client.createJWT({}, { validitySeconds: 0 }), GrpcStatus.INVALID_ARGUMENT);

    const discovery = await client.getOpenIdDiscoveryConfiguration();
    assert.equal(discovery.status, "OK");
    assert.equal(discovery.issuer, "http://localhost:3001/auth");
    assert.equal(discovery.jwksUri, "http://localhost:3001/auth/jwt/jwks.json");
    assert.equal(payload["iss"], discovery.issuer);
  });
});

describe("failures", () => {
  it("a single-outcome RPC reads an unset status (an older service) as OK and refuses any other", () => {
    assert.equal(onlyOk("GetJWKS", 0), "OK");
    assert.equal(onlyOk("GetJWKS", 1), "OK");
    assert.throws(() => onlyOk("GetJWKS", 2), MalformedResponseError);
    assert.throws(() => onlyOk("GetJWKS", 99), /status 99 is not an outcome of GetJWKS/);
  });

  it("UNAVAILABLE when nothing listens at the address", async () => {
    const stopped = await startService();
    const address = stopped.address;
    await stopService(stopped);
    const unreachable = new SessionClient(address, { timeoutMs: 5_000 });
    try {
      await rejectsWithCode(unreachable.getJWKS(), GrpcStatus.UNAVAILABLE);
    } finally {
      unreachable.close();
    }
  });

  it("DEADLINE_EXCEEDED when the deadline is too short", async () => {
    const hurried = new SessionClient(service.address, { timeoutMs: 0 });
    try {
      await rejectsWithCode(hurried.getJWKS(), GrpcStatus.DEADLINE_EXCEEDED);
    } finally {
      hurried.close();
    }
  });
});
