/**
 * Runs the gateway. Environment:
 *   SESSION_SERVICE_ADDRESS  host:port of session-service (default 127.0.0.1:50051)
 *   HOST                     address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
 *   PORT                     HTTP port (default 3001)
 *   ANTI_CSRF                NONE | VIA_TOKEN | VIA_CUSTOM_HEADER; match the service's --anti-csrf
 *                            (VIA_CUSTOM_HEADER: run the service with NONE). Default NONE.
 *   COOKIE_SECURE            "true" behind https
 */
import { SessionClient } from "session-service-client";
import { HttpSessions } from "session-service-client/http";
import { createGateway } from "./app";

async function main(): Promise<void> {
  const address = process.env["SESSION_SERVICE_ADDRESS"] ?? "127.0.0.1:50051";
  const host = process.env["HOST"] ?? "127.0.0.1";
  const port = Number(process.env["PORT"] ?? "3001");
  const antiCsrf = process.env["ANTI_CSRF"] ?? "NONE";
  if (antiCsrf !== "NONE" && antiCsrf !== "VIA_TOKEN" && antiCsrf !== "VIA_CUSTOM_HEADER") {
    throw new Error(`ANTI_CSRF must be NONE, VIA_TOKEN or VIA_CUSTOM_HEADER, not ${antiCsrf}`);
  }
  const client = new SessionClient(address);
  await client.waitForServing(30_000);
  const sessions = new HttpSessions(client, { antiCsrf, cookieSecure: process.env["COOKIE_SECURE"] === "true" });
  const server = createGateway({ sessions }).listen(port, host, () =>
    console.log(`gateway listening on ${host}:${port}, session service at ${address}`),
  );
  const shutdown = () => server.close(() => client.close());
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
