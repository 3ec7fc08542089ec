// The messages between the main process (workers/pool.ts: provider, admission, the audit chain)
// and a stream worker (workers/stream-worker.ts: connections, streams, ACKs), over the IPC
// channel with structured-clone serialization (resource bytes cross as bytes, once per worker).
import type { Proxy } from "../../model/proxy.js";
import type { StreamLimits } from "../limits.js";
import type { SyncLimits } from "../sync-gate.js";
import type { ProxyStatus, XdsEvent } from "../events.js";
import type { TypeUrl } from "../types.js";
import type { LogFields } from "../../telemetry/log.js";
import type { ServingContext } from "../../ca/serving-credentials.js";

/** A stream worker's settings (JSON in its environment, MESHWARD_STREAM_WORKER). */
export interface StreamWorkerInit {
  readonly index: number;
  readonly limits: StreamLimits;
  /** The worker's own sync gate (each worker brings up this many streams at once). */
  readonly syncLimits: SyncLimits;
  /** Refuse bearer tokens and key material from non-loopback callers (the plaintext port's gate). */
  readonly plaintextGate: boolean;
  /** The pool also hands over TLS connections (the TLS port's gate applies to those). */
  readonly tls: boolean;
  /**
   * Where the main process's performance.now() is 0 on the machine's monotonic clock
   * (process.hrtime, nanoseconds, as a decimal string): the worker converts its event times to the
   * main clock with it. performance.timeOrigin comes from the wall clock, which can step between
   * the two processes' starts.
   */
  readonly mainMonotonicOriginNs: string;
  /** The pool's version epoch and the worker count (the stride of each worker's versions). */
  readonly epoch: string;
  readonly workers: number;
}

export interface WireResource {
  readonly id: number;
  readonly typeUrl: TypeUrl;
  readonly name: string;
  readonly version: string;
  readonly bytes: Uint8Array;
}

export interface WireMap {
  readonly id: number;
  readonly resources: readonly number[];
}

/**
 * One ledger operation (ledger.ts): a resource's bytes, a map of held resources, a proxy's map for
 * a type, a proxy whose stream ended. Applied in order, on both sides.
 */
export type LedgerOp =
  | { readonly op: "resource"; readonly resource: WireResource }
  | { readonly op: "map"; readonly map: WireMap }
  | { readonly op: "assign"; readonly key: number; readonly typeUrl: TypeUrl; readonly map: number }
  | { readonly op: "drop"; readonly key: number };

export interface ResourceUpdate {
  readonly kind: "update";
  readonly ops: readonly LedgerOp[];
  /** Push the proxies this update touches now (no debounce), these types first per proxy key. */
  readonly urgent?: { readonly first?: ReadonlyArray<readonly [number, readonly TypeUrl[]]> };
  /** Round number (0: an admission's initial resources): the worker reports `flushed` once pushed. */
  readonly round: number;
}

export type MainToWorker =
  | ResourceUpdate
  | { readonly kind: "admitted"; readonly request: number; readonly key: number }
  | { readonly kind: "refused"; readonly request: number; readonly code: number; readonly details: string }
  | { readonly kind: "close" }
  /** Report what the worker holds (HeldCounts), for checking the two ledgers agree. */
  | { readonly kind: "held"; readonly request: number }
  /** End the proxy's stream with this status (its resources could not be computed). */
  | { readonly kind: "end"; readonly key: number; readonly code: number; readonly details: string }
  /** An accepted connection (the socket travels as the message's handle); `tls`: from the TLS listener. */
  | { readonly kind: "connection"; readonly tls?: boolean }
  /**
   * The TLS listener's serving key, chain and client roots (PEM), at start and after every
   * rotation. Over this IPC channel only: never in the worker's environment or on a wire.
   */
  | { readonly kind: "tls"; readonly context: ServingContext };

/** What the worker's caller looked like (CallerContext without the grpc Metadata object). */
export interface WireCaller {
  readonly metadata: Readonly<Record<string, ReadonlyArray<string | Uint8Array>>>;
  readonly peer: string;
  readonly peerCertificate?: Uint8Array;
}

/** A stream report, in the order the worker saw it; times already on the main thread's clock. */
export type StreamReport =
  | { readonly t: "event"; readonly key: number; readonly event: XdsEvent }
  | { readonly t: "connect"; readonly key: number; readonly status: ProxyStatus }
  | { readonly t: "disconnect"; readonly key: number; readonly status: ProxyStatus }
  /** The admitted proxy's stream is over (after disconnect, or before it ever connected). */
  | { readonly t: "released"; readonly key: number }
  | { readonly t: "status"; readonly key: number; readonly status: ProxyStatus }
  | { readonly t: "firstPhase"; readonly all: boolean; readonly open: number }
  | { readonly t: "flushed"; readonly round: number };

export type WorkerToMain =
  | { readonly kind: "ready" }
  | { readonly kind: "held"; readonly request: number; readonly counts: HeldCounts }
  | { readonly kind: "admit"; readonly request: number; readonly proxy: Proxy; readonly caller: WireCaller }
  | { readonly kind: "reports"; readonly reports: readonly StreamReport[] }
  | { readonly kind: "log"; readonly line: string; readonly fields?: LogFields }
  /** The worker's sync gate: streams in their initial sync and waiting for it (at most every 100 ms). */
  | { readonly kind: "syncs"; readonly active: number; readonly waiting: number };

/** What one side's ledger holds for a worker. */
export interface HeldCounts {
  readonly proxies: number;
  readonly maps: number;
  readonly resources: number;
}

/** This process's performance.now() origin on the machine-wide monotonic clock, in nanoseconds. */
export function monotonicOriginNs(): bigint {
  return process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));
}
