// What the protocol side reports about each stream: pushes, ACKs and NACKs (for the audit trail,
// the risk engine's "enforced on the last proxy" timing, and metrics), and a status snapshot.
import type { TypeUrl } from "./types.js";

interface XdsEventBase {
  readonly proxyId: string;
  /** Unique per stream within this server; a proxy may hold several streams (per-type services). */
  readonly streamId: number;
  readonly typeUrl: TypeUrl;
  /** SotW version_info / delta system_version_info of the response concerned. */
  readonly version: string;
  readonly nonce: string;
  /** Resources in the response concerned (for ACK/NACK: those of the acknowledged response). */
  readonly names: readonly string[];
  /** Monotonic time (performance.now()), comparable with other events of this process. */
  readonly timeMs: number;
  /** Wall-clock time (Date.now()) for the audit trail. */
  readonly wallMs: number;
}

export interface XdsPushEvent extends XdsEventBase {
  readonly kind: "push";
  /** Delta only: names sent in removed_resources. */
  readonly removed: readonly string[];
  readonly bytes: number;
  /**
   * Sent in the first phase of a phased round (pushNow's `first` types: what must reach proxies
   * before anything else, such as the resources that cut a quarantined pod off).
   */
  readonly first?: boolean;
}

export interface XdsAckEvent extends XdsEventBase {
  readonly kind: "ack";
  /** Push to ACK. */
  readonly latencyMs: number;
}

export interface XdsNackEvent extends XdsEventBase {
  readonly kind: "nack";
  /** error_detail.message as the proxy sent it. */
  readonly error: string;
  readonly latencyMs: number;
}

export type XdsEvent = XdsPushEvent | XdsAckEvent | XdsNackEvent;

export interface TypeStatus {
  readonly typeUrl: TypeUrl;
  /** Subscribed names as the client lists them; `*` when wildcard. */
  readonly subscribed: readonly string[];
  /** Resource names the server believes the client holds. */
  readonly resources: number;
  readonly sentVersion: string;
  readonly sentNonce: string;
  readonly ackedVersion: string;
  /** The latest response has neither been ACKed nor NACKed yet. */
  readonly pending: boolean;
  readonly lastNack?: { readonly nonce: string; readonly version: string; readonly error: string; readonly wallMs: number };
}

export interface ProxyStatus {
  readonly proxyId: string;
  readonly streamId: number;
  /** Remote address as gRPC reports it. */
  readonly peer: string;
  readonly protocol: "sotw" | "delta";
  /** Fully-qualified gRPC service the stream was opened on. */
  readonly service: string;
  readonly connectedAtMs: number;
  readonly types: readonly TypeStatus[];
}

/**
 * Whether two statuses of one stream differ only in what its push, ACK and NACK events say
 * (versions, nonce, pending): subscriptions (the same list() array while unchanged), resource
 * counts and NACKs compared. A stream worker sends a status only when this is false; the main
 * process follows the rest with statusAfter.
 */
export function sameShape(a: ProxyStatus, b: ProxyStatus): boolean {
  if (a.types.length !== b.types.length) return false;
  return a.types.every((t, i) => {
    const u = b.types[i]!;
    return t.typeUrl === u.typeUrl && t.subscribed === u.subscribed && t.resources === u.resources && t.lastNack === u.lastNack;
  });
}

/** The stream's status after one of its events, as the stream itself would report it. */
export function statusAfter(s: ProxyStatus, e: XdsEvent): ProxyStatus {
  const i = s.types.findIndex((t) => t.typeUrl === e.typeUrl);
  if (i < 0) return s;
  const t = s.types[i]!;
  const next: TypeStatus =
    e.kind === "push"
      ? { ...t, sentVersion: e.version, sentNonce: e.nonce, pending: true }
      : e.kind === "ack"
        ? { ...t, ackedVersion: e.version, pending: false }
        : { ...t, pending: false, lastNack: { nonce: e.nonce, version: e.version, error: e.error, wallMs: e.wallMs } };
  const types = s.types.slice();
  types[i] = next;
  return { ...s, types };
}
