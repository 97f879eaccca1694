/**
 * Readiness through the standard grpc.health.v1 service: the session service reports SERVING
 * once its session core answers, and NOT_SERVING while it cannot reach one.
 */
import { credentials as grpcCredentials, status as GrpcStatus, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { HealthCheckResponse_ServingStatus as ServingStatus, HealthClient } from "./gen/health/v1/health";

export interface WaitForServingOptions {
  /** Give up (reject) after this long. */
  readonly timeoutMs: number;
  readonly credentials?: ChannelCredentials;
  /** The health service name; "" (the default) is the server as a whole. */
  readonly service?: string;
  /** Rejects early, e.g. when the server process being waited for has exited. */
  readonly signal?: AbortSignal;
}

/**
 * Resolves once `address` reports SERVING. It waits on events only: the channel's
 * connectivity (gRPC reconnects with backoff, capped low here so a server that is still
 * starting is picked up quickly) and then the health Watch stream, which pushes every status
 * change, so no polling interval is involved.
 */
export async function waitForServing(address: string, options: WaitForServingOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const health = new HealthClient(address, options.credentials ?? grpcCredentials.createInsecure(), {
    "grpc.initial_reconnect_backoff_ms": 50,
    "grpc.max_reconnect_backoff_ms": 500,
  });
  const aborted = abortPromise(options.signal);
  try {
    for (;;) {
      await Promise.race([aborted.promise, channelReady(health, deadline)]);
      const outcome = await watchUntilServing(health, options.service ?? "", deadline, options.signal);
      if (outcome === "serving") return;
      // "reconnect": the connection dropped mid-watch; wait for the channel again.
    }
  } finally {
    aborted.dispose();
    health.close();
  }
}

function channelReady(health: HealthClient, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    health.waitForReady(deadline, (error) => {
      if (error) reject(new Error(`health: no connection before the deadline (${error.message})`));
      else resolve();
    });
  });
}

function watchUntilServing(
  health: HealthClient,
  service: string,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<"serving" | "reconnect"> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const call = health.watch({ service }, { deadline });
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const onAbort = () => {
      settle(() => reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted")));
      call.cancel();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    call.on("data", (response: { status: ServingStatus }) => {
      if (response.status === ServingStatus.SERVING) {
        settle(() => resolve("serving"));
        call.cancel();
      }
    });
    call.on("error", (error: ServiceError) => {
      if (error.code === GrpcStatus.UNAVAILABLE) settle(() => resolve("reconnect"));
      else settle(() => reject(new Error(`health watch failed: ${GrpcStatus[error.code]}: ${error.details}`)));
    });
    call.on("end", () => settle(() => resolve("reconnect")));
  });
}

function abortPromise(signal: AbortSignal | undefined): { promise: Promise<never>; dispose: () => void } {
  if (!signal) return { promise: new Promise<never>(() => {}), dispose: () => {} };
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  promise.catch(() => {}); // observed through the race; avoid an unhandled rejection afterwards
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}
