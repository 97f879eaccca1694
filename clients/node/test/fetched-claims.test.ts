/**
 * Claims the service fetches (its `--claims-module`), through SessionClient against a live
 * session-service: GetSession's new access token, FetchAndSetClaim, ValidateClaimsInJwtPayload,
 * ValidateClaimsForSessionHandle, and userContext reaching the claim's fetch_value.
 */
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { claims, SessionClient, SessionServiceError, type JsonObject } from "../src";
import type { RunningService } from "../src/testing";
import { decodeJwtPart, startService, stopService } from "./support";

let service: RunningService;
let client: SessionClient;

before(async () => {
  // dist/test at run time: the fixture stays in test/fixtures.
  const fixtures = resolve(__dirname, "../../test/fixtures");
  service = await startService(["--claims-module", "node_test_claims"], {
    env: { PYTHONPATH: [fixtures, process.env["PYTHONPATH"]].filter(Boolean).join(":") },
  });
  client = new SessionClient(service.address, { timeoutMs: 10_000 });
});

after(async () => {
  client?.close();
  if (service) await stopService(service);
});

const newUser = () => `user-${randomUUID()}`;

describe("fetched claims", () => {
  it("GetSession fetches a missing value and answers with a new access token", async () => {
    const created = await client.createSession(newUser());
    const validators = [claims.includes("roles", "admin")];
    const result = await client.getSession(created.session.accessToken, { claimValidators: validators });
    assert.equal(result.status, "OK");
    if (result.status !== "OK") return;
    assert.ok(result.newAccessToken, "claims were fetched: a new token");
    assert.equal(result.session.accessToken, result.newAccessToken.token);
    const roles = decodeJwtPart(result.newAccessToken.token, 1)["roles"] as { v: string[]; t: number };
    assert.equal(roles.v[0], "admin");
    assert.deepEqual(result.session.accessTokenPayload["roles"], roles);

    const again = await client.getSession(result.newAccessToken.token, { claimValidators: validators });
    assert.equal(again.status, "OK");
    assert.equal(again.status === "OK" && again.newAccessToken, undefined, "the new token carries the value");
  });

  it("FetchAndSetClaim stores what fetch_value finds for the userContext", async () => {
    const created = await client.createSession(newUser());
    const handle = created.session.sessionHandle;
    assert.deepEqual(await client.fetchAndSetClaim(handle, "plan", { userContext: { plan: "pro" } }), { status: "OK" });
    const info = await client.getSessionInformation(handle);
    assert.equal(info.status, "OK");
    if (info.status === "OK") {
      assert.equal((info.info.customClaimsInAccessTokenPayload["plan"] as { v: string }).v, "pro");
    }
    assert.deepEqual(await client.fetchAndSetClaim("no-such-handle", "plan"), {
      status: "SESSION_DOES_NOT_EXIST",
      message: "Session does not exist.",
    });
    await assert.rejects(
      client.fetchAndSetClaim(handle, "undefined-claim"),
      (error: Error) => error instanceof SessionServiceError && error.code === GrpcStatus.INVALID_ARGUMENT,
    );
  });

  it("ValidateClaimsForSessionHandle fetches; ValidateClaimsInJwtPayload only checks", async () => {
    const created = await client.createSession(newUser());
    const handle = created.session.sessionHandle;
    const validators = [claims.hasValue("plan", "team")];
    const fetched = await client.validateClaimsForSessionHandle(handle, {
      claimValidators: validators,
      userContext: { plan: "team" },
    });
    assert.deepEqual(fetched, { status: "OK" });

    const payload = decodeJwtPart(created.session.accessToken, 1) as JsonObject;
    const checked = await client.validateClaimsInJwtPayload(created.session.userId, payload, {
      claimValidators: validators,
      userContext: { plan: "team" },
    });
    assert.equal(checked.status, "INVALID_CLAIMS", "the old token's payload has no plan, and nothing is fetched");
    if (checked.status === "INVALID_CLAIMS") {
      assert.deepEqual(checked.invalidClaims, [
        { id: "plan", reason: { message: "value does not exist", expectedValue: "team", actualValue: null } },
      ]);
    }
  });
});
