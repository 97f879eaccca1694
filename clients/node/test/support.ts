import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { startSessionService, type RunningService, type StartServiceOptions } from "../src/testing";

/** The service CLI: $SESSION_SERVICE_BIN, else the repository's virtualenv (`./dev` creates it). */
export function serviceCommand(): string {
  const command = process.env["SESSION_SERVICE_BIN"] ?? resolve(__dirname, "../../../..", ".venv/bin/session-service");
  assert.ok(existsSync(command), `session-service not found at ${command}; run ./dev gen or set SESSION_SERVICE_BIN`);
  return command;
}

/** A live service; readiness re-checks every 0.2 s so SERVING comes soon after start. */
export function startService(args: readonly string[] = [], options: Partial<StartServiceOptions> = {}): Promise<RunningService> {
  return startSessionService({
    command: serviceCommand(),
    args: ["--health-check-interval-seconds", "0.2", "--log-level", "warning", ...args],
    ...options,
  });
}

/** Stops the service and asserts a clean exit (SIGTERM handled, exit code 0). */
export async function stopService(service: RunningService): Promise<void> {
  const status = await service.stop();
  assert.deepEqual(status, { code: 0, signal: null }, `service did not exit cleanly:\n${service.output()}`);
}

export function decodeJwtPart(token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split(".")[index];
  assert.ok(part !== undefined, "not a JWT");
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** The same token with one signature character changed (still well-formed, no longer valid). */
export function tamperSignature(token: string): string {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const i = Math.floor(signature.length / 2);
  const swapped = signature[i] === "A" ? "B" : "A";
  return `${header}.${payload}.${signature.slice(0, i)}${swapped}${signature.slice(i + 1)}`;
}
