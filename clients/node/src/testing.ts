/**
 * Test support: run a real session-service process on a free port with a throwaway data
 * directory, and wait for it to report SERVING on grpc.health.v1.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitForServing } from "./health";

export interface StartServiceOptions {
  /** The `session-service` executable (e.g. `<repo>/.venv/bin/session-service`). */
  readonly command: string;
  /** Extra `serve` flags, e.g. `["--anti-csrf", "VIA_TOKEN"]`. */
  readonly args?: readonly string[];
  /** Added to the environment (inherited SESSION_SERVICE_* variables are dropped first). */
  readonly env?: Readonly<Record<string, string>>;
  readonly host?: string;
  /** How long to wait for SERVING. Default 60 s. */
  readonly readyTimeoutMs?: number;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningService {
  /** `host:port` for `SessionClient`. */
  readonly address: string;
  readonly port: number;
  readonly dataDir: string;
  /** The last lines the process wrote (kept in memory for diagnostics only). */
  output(): string;
  /** SIGTERM, then resolves with the exit status once the process is gone; removes the data dir. */
  stop(): Promise<ExitStatus>;
}

const OUTPUT_LINES = 200;

export async function startSessionService(options: StartServiceOptions): Promise<RunningService> {
  const host = options.host ?? "127.0.0.1";
  const port = await freePort(host);
  const dataDir = await mkdtemp(join(tmpdir(), "session-service-node-"));
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("SESSION_SERVICE_")) env[key] = value;
  }
  Object.assign(env, options.env);
  const child = spawn(
    options.command,
    ["serve", "--host", host, "--port", String(port), "--data-dir", dataDir, ...(options.args ?? [])],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );

  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    lines.push(...chunk.toString("utf8").split("\n").filter((line) => line.length > 0));
    if (lines.length > OUTPUT_LINES) lines.splice(0, lines.length - OUTPUT_LINES);
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const output = () => lines.join("\n");

  // Never leave the service running if the test process goes away first.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  const startFailed = new AbortController();
  void exited.then((status) => {
    startFailed.abort(
      new Error(`session-service exited (code ${status.code}, signal ${status.signal}) before it was SERVING:\n${output()}`),
    );
  });

  const address = `${host}:${port}`;
  let stopped: Promise<ExitStatus> | undefined;
  const stop = (): Promise<ExitStatus> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const status = await exited;
      process.removeListener("exit", killOnExit);
      await rm(dataDir, { recursive: true, force: true });
      return status;
    })();
    return stopped;
  };

  try {
    await waitForServing(address, { timeoutMs: options.readyTimeoutMs ?? 60_000, signal: startFailed.signal });
  } catch (error) {
    await stop();
    throw error instanceof Error && error.message.includes("session-service exited")
      ? error
      : new Error(`session-service did not become SERVING: ${String(error)}\n${output()}`);
  }
  return { address, port, dataDir, output, stop };
}

/** A port the OS just handed out; released before the service binds it (a tiny race, fine for tests). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("could not pick a free port"));
      });
    });
  });
}

interface StoredCookie {
  readonly name: string;
  /** As sent in Set-Cookie (still URL-encoded); a browser sends it back unchanged. */
  readonly rawValue: string;
  readonly path: string;
  readonly expires: number | undefined;
  readonly attributes: ReadonlyMap<string, string>;
}

/**
 * A minimal browser cookie store for driving HTTP flows in tests: it applies Set-Cookie
 * headers (an empty value or a past expiry deletes) and builds the Cookie header for a path.
 */
export class CookieJar {
  private readonly cookies = new Map<string, StoredCookie>();

  /** Applies Set-Cookie header values, in order. */
  apply(setCookieHeaders: readonly string[], now = Date.now()): void {
    for (const header of setCookieHeaders) {
      const [pair = "", ...rest] = header.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const attributes = new Map<string, string>();
      for (const part of rest) {
        const [key = "", ...value] = part.trim().split("=");
        attributes.set(key.toLowerCase(), value.join("="));
      }
      const expiresText = attributes.get("expires");
      const cookie: StoredCookie = {
        name: pair.slice(0, eq).trim(),
        rawValue: pair.slice(eq + 1).trim(),
        path: attributes.get("path") || "/",
        expires: expiresText === undefined ? undefined : Date.parse(expiresText),
        attributes,
      };
      const key = `${cookie.name}\u0000${cookie.path}`;
      if (cookie.rawValue === "" || (cookie.expires !== undefined && cookie.expires <= now)) this.cookies.delete(key);
      else this.cookies.set(key, cookie);
    }
  }

  /** The Cookie header a browser would send to `path` (longest cookie path first), or undefined. */
  header(path: string): string | undefined {
    const matching = [...this.cookies.values()]
      .filter((c) => path === c.path || path.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length === 0 ? undefined : matching.map((c) => `${c.name}=${c.rawValue}`).join("; ");
  }

  get(name: string): StoredCookie | undefined {
    return [...this.cookies.values()].find((c) => c.name === name);
  }

  names(): string[] {
    return [...this.cookies.values()].map((c) => c.name).sort();
  }
}
