// State shared by SotW and delta streams: per-type subscriptions, the latest response's nonce and
// version, ACK/NACK bookkeeping (decided by error_detail, never by version; only the latest nonce
// counts), and the events they produce.
import type { Proxy } from "../model/proxy.js";
import type { CallerContext } from "../security/identity.js";
import type { Status } from "../gen/google/rpc/status_pb.js";
import type { EncodedResource, ResourceProvider, TypeUrl } from "./types.js";
import type { ProxyStatus, TypeStatus, XdsEvent, XdsPushEvent } from "./events.js";
import { Subscription } from "./subscription.js";
import { responseSize, type OutgoingResponse } from "./wire.js";

/** What a stream needs from its server. */
export interface StreamHost {
  readonly provider: ResourceProvider;
  /** A SotW type version / delta system version: per-process epoch plus a counter, never reused. */
  nextVersion(): string;
  /** Emits the event and updates metrics. */
  record(event: XdsEvent): void;
}

export interface StreamContext {
  readonly id: number;
  readonly proxy: Proxy;
  readonly caller: CallerContext;
  readonly service: string;
  readonly write: (response: OutgoingResponse) => void;
}

interface SentResponse {
  readonly nonce: string;
  readonly version: string;
  readonly names: readonly string[];
  readonly timeMs: number;
  answered: boolean;
}

export class TypeState {
  readonly sub: Subscription;
  /** SotW: name → version last sent. Delta: name → version the client holds. */
  readonly sent = new Map<string, string>();
  latest: SentResponse | undefined;
  ackedVersion = "";
  lastNack: TypeStatus["lastNack"];
  /** A stale-nonce request changed the subscription; answer on the next current request. */
  dirty = false;
  /**
   * The provider map the last computation used; `sent` is up to date with it and with the
   * subscription (reset to undefined whenever the subscription changes). Provider maps are
   * immutable (ResourceProvider contract): the same map back means nothing to send, and a new map
   * needs only the names that differ between the two (map-diff.ts) to be looked at.
   */
  computedFrom: ReadonlyMap<string, EncodedResource> | undefined;

  constructor(readonly typeUrl: TypeUrl) {
    this.sub = new Subscription(typeUrl);
  }
}

/** How a request relates to the latest response of its type. */
export type Acknowledgement = "none" | "ack" | "nack" | "repeat" | "stale";

export abstract class XdsStream {
  abstract readonly protocol: "sotw" | "delta";
  protected readonly types = new Map<TypeUrl, TypeState>();
  readonly connectedAtMs = Date.now();
  private nonces = 0;

  constructor(
    protected readonly host: StreamHost,
    readonly ctx: StreamContext,
  ) {}

  get proxy(): Proxy {
    return this.ctx.proxy;
  }

  /**
   * Recompute every subscribed type after a provider change, in make-before-break order; with
   * `only`, just those types (the first phase of a phased round).
   */
  abstract push(only?: ReadonlySet<TypeUrl>): void;

  /** Explicitly subscribed names over all types (the per-stream cap counts these), but `except`'s. */
  subscribedNames(except?: TypeUrl): number {
    let n = 0;
    for (const t of this.types.values()) if (t.typeUrl !== except) n += t.sub.names.size;
    return n;
  }

  /**
   * Every type asked for has been sent a response, every response has been answered (ACK or NACK),
   * and none is owed: the stream's sync is done (sync-gate.ts). A type whose resources the server
   * does not hold yet (a stream worker waiting for the main process) is not settled.
   */
  settled(): boolean {
    for (const t of this.types.values()) if (t.latest === undefined || !t.latest.answered || t.dirty) return false;
    return true;
  }

  protected state(typeUrl: TypeUrl): TypeState {
    let t = this.types.get(typeUrl);
    if (t === undefined) {
      t = new TypeState(typeUrl);
      this.types.set(typeUrl, t);
    }
    return t;
  }

  /**
   * Classifies a request by its response_nonce. A nonce other than the latest one is stale (unless
   * nothing of this type was ever sent on this stream: a reconnecting client may echo an old one).
   */
  protected acknowledge(t: TypeState, nonce: string, errorDetail: Status | undefined): Acknowledgement {
    const latest = t.latest;
    if (nonce === "" || latest === undefined) return "none";
    if (nonce !== latest.nonce) return "stale";
    if (latest.answered) return "repeat";
    latest.answered = true;
    const timeMs = performance.now();
    const base = {
      proxyId: this.proxy.id,
      streamId: this.ctx.id,
      typeUrl: t.typeUrl,
      version: latest.version,
      nonce,
      names: latest.names,
      timeMs,
      wallMs: Date.now(),
      latencyMs: timeMs - latest.timeMs,
    };
    if (errorDetail !== undefined) {
      t.lastNack = { nonce, version: latest.version, error: errorDetail.message, wallMs: base.wallMs };
      this.host.record({ kind: "nack", ...base, error: errorDetail.message });
      return "nack";
    }
    t.ackedVersion = latest.version;
    this.host.record({ kind: "ack", ...base });
    return "ack";
  }

  protected nextNonce(): string {
    return String(++this.nonces);
  }

  /** Writes a response and records it as the latest of its type. */
  protected send(t: TypeState, response: OutgoingResponse, version: string, nonce: string, names: string[], removed: string[] = []): void {
    const timeMs = performance.now();
    t.latest = { nonce, version, names, timeMs, answered: false };
    this.ctx.write(response);
    const event: XdsPushEvent = {
      kind: "push",
      proxyId: this.proxy.id,
      streamId: this.ctx.id,
      typeUrl: t.typeUrl,
      version,
      nonce,
      names,
      removed,
      bytes: responseSize(response),
      timeMs,
      wallMs: Date.now(),
    };
    this.host.record(event);
  }

  status(): ProxyStatus {
    const types: TypeStatus[] = [...this.types.values()].map((t) => ({
      typeUrl: t.typeUrl,
      subscribed: t.sub.list(),
      resources: t.sent.size,
      sentVersion: t.latest?.version ?? "",
      sentNonce: t.latest?.nonce ?? "",
      ackedVersion: t.ackedVersion,
      pending: t.latest !== undefined && !t.latest.answered,
      ...(t.lastNack ? { lastNack: t.lastNack } : {}),
    }));
    return {
      proxyId: this.proxy.id,
      streamId: this.ctx.id,
      peer: this.ctx.caller.peer,
      protocol: this.protocol,
      service: this.ctx.service,
      connectedAtMs: this.connectedAtMs,
      types,
    };
  }
}
