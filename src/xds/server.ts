// The xDS server: ADS and per-type discovery streams, SotW and delta. It knows streams, versions,
// nonces and subscriptions, and nothing of the mesh: resources come from a ResourceProvider
// (go-control-plane's split of server vs cache).
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { Node } from "../gen/envoy/config/core/v3/base_pb.js";
import { parseProxyNode, ProxyNodeError, type Proxy } from "../model/proxy.js";
import type { CallerContext } from "../security/identity.js";
import { Metrics, NO_LABELS, type Counter, type Gauge, type Histogram } from "../telemetry/metrics.js";
import { TypeUrl, type ProxyChange, type ResourceProvider } from "./types.js";
import type { ProxyStatus, XdsAckEvent, XdsEvent, XdsNackEvent, XdsPushEvent } from "./events.js";
import { typeShortName } from "./resource.js";
import { SotwStream } from "./sotw.js";
import { DeltaStream } from "./delta.js";
import type { StreamContext, StreamHost, XdsStream } from "./stream.js";
import { addDiscoveryService, discoveryServices } from "./services.js";
import type { OutgoingResponse } from "./wire.js";
import type { Log } from "../telemetry/log.js";
import { DEFAULT_STREAM_LIMITS, StreamOutbox, type StreamLimits } from "./limits.js";
import { DEFAULT_SYNC_LIMITS, SyncGate, type SyncLimits, type SyncTicket } from "./sync-gate.js";
import { FIRST_PHASE_WAIT_MS, FirstPhaseBarrier, firstPhaseTypes, inSlices, RoundScheduler, type FirstTypes, type Round, type SliceBudget } from "./push-round.js";

export type { ProxyStatus, TypeStatus, XdsEvent, XdsAckEvent, XdsNackEvent, XdsPushEvent } from "./events.js";

/** Provider changes are coalesced for this long before streams are recomputed (Istio: 100 ms). */
export const DEFAULT_DEBOUNCE_MS = 100;
/**
 * A push runs for at most this much CPU time before yielding to the event loop. Long enough that
 * proxies get the change before the server spends time on their ACKs (which a yield lets in
 * first: 10,000 streams take ~0.2 s of CPU to push and several times that to ACK); bounded so that other
 * work (new streams, the CA, health checks) is not held up for longer. CPU time rather than wall
 * time, so that a busy machine does not cut slices short.
 */
const ROUND_SLICE: SliceBudget = { cpuMs: 250, checkEvery: 128 };
/**
 * An urgent round (pushNow: enforcement) yields far sooner. Responses written during a slice
 * leave for the sockets only when the loop yields (http2 schedules its writes), so with one long
 * slice every proxy waits for the whole round before it can even start on its config; short
 * slices let the proxies decode and ACK the first batches while the rest are translated and
 * written. A quarantine pushes two types (EDS and LDS) to every peer: at 1,000 sidecars the round
 * is ~70 ms of CPU, all of which the last ACK used to wait behind (bench:quarantine-latency).
 */
const URGENT_SLICE: SliceBudget = { cpuMs: 15, checkEvery: 32 };

/** What an urgent push (pushNow) asks of its round. */
export interface UrgentPush {
  /**
   * The types each proxy must receive, and answer, before the rest of the round is sent (the
   * resources that cut a quarantined pod off); absent: one phase, as any round.
   */
  readonly first?: FirstTypes;
}

export interface XdsServerOptions {
  readonly provider: ResourceProvider;
  /** Decides whether a proxy may open a stream; reject with an Error carrying a grpc `code` to refuse it. */
  readonly admit?: (proxy: Proxy, caller: CallerContext) => Promise<void>;
  /** Default DEFAULT_DEBOUNCE_MS. */
  readonly debounceMs?: number;
  readonly metrics?: Metrics;
  /** Log sink for NACKs, refusals and stream errors; default stderr. */
  readonly log?: Log;
  /** Per-stream limits; each defaults to DEFAULT_STREAM_LIMITS's. */
  readonly limits?: Partial<StreamLimits>;
  /** How many streams are brought up at once (sync-gate.ts); each defaults to DEFAULT_SYNC_LIMITS's. */
  readonly syncLimits?: Partial<SyncLimits>;
  /** Told the sync gate's counts as they change, besides the gauge (a stream worker reports them to its pool). */
  readonly syncsChanged?: (active: number, waiting: number) => void;
  /**
   * Called once for each admitted proxy when its stream ends (also when it ends between admission
   * and the stream's start): a stream worker tells the main thread to drop what it holds for it.
   */
  readonly released?: (proxy: Proxy) => void;
  /**
   * Versions are `<epoch>-<n>`; by default the epoch is this server's own. Stream workers share
   * their pool's epoch and take every `stride`-th n from `offset`, so no two of them ever send the
   * same version.
   */
  readonly versions?: { readonly epoch: string; readonly stride: number; readonly offset: number };
  /** Called when an admitted proxy's stream starts, before its `connect` event. */
  readonly opened?: (streamId: number, proxy: Proxy) => void;
}

/**
 * What the rest of the control plane reads of the xDS side: one XdsServer, or a pool of stream
 * workers (workers/pool.ts) that each run one.
 */
export interface XdsStreams extends EventEmitter<XdsServerEvents> {
  readonly provider: ResourceProvider;
  /** The connected proxies, one per stream. */
  proxies(): Proxy[];
  /** Each open stream's proxy with its status (CSDS, proxy-status). */
  streamsView(): Array<{ readonly proxy: Proxy; readonly status: ProxyStatus }>;
  status(): ProxyStatus[];
  pushNow(opts?: UrgentPush): void;
  close(): void;
}

/** A per-process epoch: SotW versions of this run can never equal a previous run's. */
export function newEpoch(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
}

/** Requests a stream may send before its admission completes (they wait for it). */
const MAX_REQUESTS_BEFORE_ADMISSION = 16;

interface OpenStream {
  readonly stream: XdsStream;
  readonly outbox: StreamOutbox;
  readonly end: (err?: StatusError) => void;
}

export interface XdsServerEvents {
  push: [XdsPushEvent];
  ack: [XdsAckEvent];
  nack: [XdsNackEvent];
  connect: [ProxyStatus];
  disconnect: [ProxyStatus];
  /** A push round starts: every provider change made before this is in it. */
  flushing: [];
  /**
   * The first phase of a phased round is over: every first-phase response was answered (`all`),
   * or some were still open when FIRST_PHASE_WAIT_MS ran out. The rest of the round follows.
   */
  firstPhase: [{ readonly all: boolean; readonly open: number }];
  /** A debounced provider change has been pushed to every affected stream. */
  flushed: [];
}

interface StatusError {
  code: grpc.status;
  details: string;
}

function statusError(code: grpc.status, details: string): StatusError & Error {
  return Object.assign(new Error(details), { code, details });
}

function errorCode(err: unknown): grpc.status | undefined {
  if (err !== null && typeof err === "object" && "code" in err && typeof err.code === "number") return err.code;
  return undefined;
}

export interface XdsMetrics {
  connected: Gauge;
  convergence: Histogram;
  pushes: Counter;
  nacks: Counter;
  acks: Counter;
  bytes: Counter;
  pushToAck: Histogram;
  initialSyncs: Gauge;
}

export function registerMetrics(m: Metrics): XdsMetrics {
  return {
    // Istio's names where Istio has the metric (pilot/pkg/xds/monitoring.go), meshward_ otherwise.
    connected: m.gauge("pilot_xds", "Number of xDS streams connected to this control plane (admitted)."),
    convergence: m.histogram(
      "pilot_proxy_convergence_time",
      "Delay in seconds between a config change and a proxy being pushed all of it.",
      [0.1, 0.5, 1, 3, 5, 10, 20, 30],
    ),
    pushes: m.counter("pilot_xds_pushes", "xDS responses sent, by type.", ["type"]),
    nacks: m.counter("pilot_total_xds_rejects", "xDS responses rejected by a proxy (NACK), by type.", ["type"]),
    acks: m.counter("meshward_xds_acks_total", "xDS responses accepted by a proxy (ACK), by type.", ["type"]),
    bytes: m.counter("meshward_xds_sent_bytes_total", "Bytes of xDS responses written."),
    pushToAck: m.histogram("meshward_xds_push_ack_seconds", "Time from sending an xDS response to its ACK or NACK, by type.", undefined, ["type"]),
    initialSyncs: m.gauge("meshward_xds_initial_syncs", "Admitted xDS streams in their initial sync (state=active) and waiting to start it (state=waiting).", ["state"]),
  };
}

export class XdsServer extends EventEmitter<XdsServerEvents> implements XdsStreams {
  readonly provider: ResourceProvider;
  private readonly admit: XdsServerOptions["admit"];
  private readonly released: XdsServerOptions["released"];
  private readonly opened: XdsServerOptions["opened"];
  private readonly log: Log;
  readonly metrics: Metrics;
  private readonly m: XdsMetrics;
  /** Per-process epoch: SotW versions of this run can never equal a previous run's. */
  readonly epoch: string;
  private versions = 0;
  private streamIds = 0;
  private readonly streams = new Map<number, OpenStream>();
  private readonly limits: StreamLimits;
  private readonly unsubscribe: () => void;
  private readonly rounds: RoundScheduler;
  private readonly syncs: SyncGate;
  /** Admitted streams waiting in the sync gate: ended too when the server closes. */
  private readonly waiting = new Map<number, (err?: StatusError) => void>();
  /** Set while a phased round's first phase writes: its pushes are marked and awaited. */
  private firstPhase: FirstPhaseBarrier | undefined;
  /** The phased round's barrier, until its first phase is settled (answers still count). */
  private barrier: FirstPhaseBarrier | undefined;
  private closed = false;
  private readonly host: StreamHost;

  constructor(opts: XdsServerOptions) {
    super();
    this.provider = opts.provider;
    this.admit = opts.admit;
    this.released = opts.released;
    this.opened = opts.opened;
    this.log = opts.log ?? ((line) => process.stderr.write(line + "\n"));
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...opts.limits };
    this.epoch = opts.versions?.epoch ?? newEpoch();
    const stride = opts.versions?.stride ?? 1;
    const offset = opts.versions?.offset ?? 0;
    this.metrics = opts.metrics ?? new Metrics();
    this.m = registerMetrics(this.metrics);
    this.host = {
      provider: this.provider,
      nextVersion: () => `${this.epoch}-${++this.versions * stride + offset}`,
      record: (e) => this.record(e),
    };
    this.syncs = new SyncGate({ ...DEFAULT_SYNC_LIMITS, ...opts.syncLimits }, (active, waiting) => {
      observeSyncs(this.m, active, waiting);
      opts.syncsChanged?.(active, waiting);
    });
    this.rounds = new RoundScheduler(opts.debounceMs ?? DEFAULT_DEBOUNCE_MS, (round) => void this.flush(round));
    this.unsubscribe = this.provider.onChange((change) => this.rounds.changed(change));
  }

  /** Registers ADS and the per-type discovery services on a gRPC server. */
  addTo(server: grpc.Server): void {
    for (const svc of discoveryServices) {
      addDiscoveryService(server, svc.desc, {
        // A SotW request replaces its type's names; a delta request adds to them.
        sotw: (call) => this.serve(call, svc.desc.typeName, svc.typeUrl, (h, ctx) => new SotwStream(h, ctx), (s, t, r) => s.subscribedNames(t) + r.resourceNames.length),
        delta: (call) =>
          this.serve(call, svc.desc.typeName, svc.typeUrl, (h, ctx) => new DeltaStream(h, ctx), (s, t, r) => s.subscribedNames() + r.resourceNamesSubscribe.length),
      });
    }
  }

  /** Stops pushing and ends every stream with UNAVAILABLE so proxies reconnect elsewhere. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.rounds.close();
    for (const end of [...this.streams.values()].map((o) => o.end).concat([...this.waiting.values()])) end(statusError(grpc.status.UNAVAILABLE, "xDS server closing"));
  }

  /** The connected proxies, one per stream. */
  proxies(): Proxy[] {
    return [...this.streams.values()].map(({ stream }) => stream.proxy);
  }

  /**
   * Pushes pending changes now instead of after the debounce: enforcement (a quarantine) must not
   * wait for more changes to coalesce. During a round, the next round starts right after it.
   */
  pushNow(opts: UrgentPush = {}): void {
    if (!this.closed) this.rounds.pushNow(opts.first);
  }

  /** Each open stream's proxy with its status (CSDS, proxy-status). */
  streamsView(): Array<{ readonly proxy: Proxy; readonly status: ProxyStatus }> {
    return [...this.streams.values()].map(({ stream }) => ({ proxy: stream.proxy, status: stream.status() }));
  }

  /** Ends one stream with this status (a stream worker's main process could not compute its resources). */
  endStream(streamId: number, code: grpc.status, details: string): void {
    this.streams.get(streamId)?.end(statusError(code, details));
  }

  /** One open stream's status. */
  statusOf(streamId: number): ProxyStatus | undefined {
    return this.streams.get(streamId)?.stream.status();
  }

  status(): ProxyStatus[] {
    return [...this.streams.values()].map(({ stream }) => stream.status());
  }

  private record(e: XdsEvent): void {
    observeEvent(this.m, this.log, e);
    if (e.kind === "push") {
      if (this.firstPhase !== undefined) {
        this.firstPhase.sent(e.streamId, e.typeUrl);
        this.notify("push", { ...e, first: true });
      } else this.notify("push", e);
      return;
    }
    this.barrier?.answered(e.streamId, e.typeUrl);
    if (e.kind === "ack") this.notify("ack", e);
    else this.notify("nack", e);
  }

  /** Emits to listeners; a failing listener (audit store, risk engine) must not break a stream. */
  private notify<K extends keyof XdsServerEvents>(event: K, ...args: XdsServerEvents[K]): void {
    try {
      // The untyped emit: TypeScript cannot relate a generic K to EventEmitter's conditional args.
      EventEmitter.prototype.emit.call(this, event, ...args);
    } catch (err) {
      this.log(`xds: ${event} listener failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private serve<Req extends { node?: Node; typeUrl: string }>(
    call: grpc.ServerDuplexStream<Req, OutgoingResponse>,
    service: string,
    serviceType: TypeUrl | undefined,
    make: (host: StreamHost, ctx: StreamContext) => XdsStream & { handle(t: TypeUrl, r: Req): void },
    /** How many names the stream would subscribe after this request (an upper bound). */
    namesAfter: (s: XdsStream, typeUrl: TypeUrl, req: Req) => number,
  ): void {
    let stream: (XdsStream & { handle(t: TypeUrl, r: Req): void }) | undefined;
    let outbox: StreamOutbox | undefined;
    /** Set once admitted: told to `released` when the stream ends, whether or not it started. */
    let admitted: Proxy | undefined;
    /** The stream's place in the sync gate, from admission on. */
    let ticket: SyncTicket | undefined;
    let ended = false;
    const queued: Req[] = [];
    const id = ++this.streamIds;

    const end = (err?: StatusError): void => {
      if (ended) return;
      ended = true;
      outbox?.close();
      this.waiting.delete(id);
      ticket?.release();
      if (stream && this.streams.delete(id)) {
        this.barrier?.gone(id);
        this.m.connected.dec();
        this.notify("disconnect", stream.status());
      }
      if (admitted) this.released?.(admitted);
      if (err) call.emit("error", err);
      else call.end();
    };
    const dispatch = (s: typeof stream & object, req: Req): void => {
      const typeUrl = resolveType(req.typeUrl, serviceType);
      if (typeUrl === undefined) return; // a type this server does not serve: no response, as for an unknown name
      if (typeof typeUrl !== "string") return end(typeUrl);
      const names = namesAfter(s, typeUrl, req);
      if (names > this.limits.maxNamesPerStream) {
        const details = `${typeShortName(typeUrl)} subscription: ${names} resource names on this stream exceed the limit of ${this.limits.maxNamesPerStream} per stream (maxNamesPerStream)`;
        this.log(`xds: stream ${id} (${s.proxy.id}) dropped: ${details}`, { level: "warn", stage: "xds", proxy: s.proxy.id });
        return end(statusError(grpc.status.RESOURCE_EXHAUSTED, details));
      }
      try {
        s.handle(typeUrl, req);
      } catch (err) {
        this.log(`xds: stream ${id} (${s.proxy.id}): ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
        end(statusError(grpc.status.INTERNAL, "internal error computing xDS response"));
      }
      ticket?.check();
    };
    /** The admitted stream gets its slot in the sync gate: it starts, and its queued requests are answered. */
    const start = (ctx: StreamContextBase): void => {
      this.waiting.delete(id);
      if (ended) return;
      if (this.closed) return end(statusError(grpc.status.UNAVAILABLE, "xDS server closing"));
      const s = make(this.host, { ...ctx, write: (b) => box.write(b) });
      const box = new StreamOutbox(
        { write: (r, cb) => call.write(r, cb) },
        this.limits,
        () => this.pushStream({ stream: s, outbox: box, end }),
        (why) => {
          this.log(`xds: stream ${id} (${s.proxy.id}) dropped: ${why.details}`, { level: "warn", stage: "xds", proxy: s.proxy.id });
          end(statusError(grpc.status[why.code], why.details));
        },
        () => ticket?.check(),
      );
      stream = s;
      outbox = box;
      this.streams.set(id, { stream, outbox, end });
      this.m.connected.inc();
      this.opened?.(id, stream.proxy);
      this.notify("connect", stream.status());
      for (const r of queued.splice(0)) if (!ended) dispatch(stream, r);
    };

    call.on("data", (req: Req) => {
      if (ended) return;
      if (stream) return dispatch(stream, req);
      queued.push(req);
      if (queued.length > MAX_REQUESTS_BEFORE_ADMISSION) {
        return end(statusError(grpc.status.RESOURCE_EXHAUSTED, `more than ${MAX_REQUESTS_BEFORE_ADMISSION} requests before the stream was admitted`));
      }
      if (queued.length > 1) return; // admission of the first request is in progress
      this.open(call, id, service, req.node)
        .then((ctx) => {
          if (ended) return void this.released?.(ctx.proxy);
          admitted = ctx.proxy;
          this.waiting.set(id, end);
          ticket = this.syncs.enter(
            () => start(ctx),
            () => stream !== undefined && outbox !== undefined && stream.settled() && outbox.drained,
          );
        })
        .catch((err: unknown) => {
          const code = errorCode(err) ?? grpc.status.PERMISSION_DENIED;
          const details = err instanceof Error ? err.message : String(err);
          this.log(`xds: refused stream from ${call.getPeer()}: ${grpc.status[code]}: ${details}`, { level: "warn", stage: "xds", peer: call.getPeer(), code: grpc.status[code] });
          end(statusError(code, details));
        });
    });
    call.on("end", () => end());
    call.on("cancelled", () => end());
    call.on("error", () => end());
    call.on("close", () => end());
  }

  /** Parses the node of the first request and runs admission. */
  private async open(call: grpc.ServerDuplexStream<unknown, OutgoingResponse>, id: number, service: string, node: Node | undefined) {
    if (this.closed) throw statusError(grpc.status.UNAVAILABLE, "xDS server closing");
    if (node === undefined) throw statusError(grpc.status.INVALID_ARGUMENT, "node: missing from the first request of the stream");
    let proxy: Proxy;
    try {
      proxy = parseProxyNode(node);
    } catch (err) {
      if (err instanceof ProxyNodeError) throw statusError(grpc.status.INVALID_ARGUMENT, `node: ${err.message}`);
      throw err;
    }
    const raw = call.getAuthContext().sslPeerCertificate?.raw;
    const caller: CallerContext = { metadata: call.metadata, peer: call.getPeer(), ...(raw ? { peerCertificate: raw } : {}) };
    if (this.admit) await this.admit(proxy, caller);
    return { id, proxy, caller, service };
  }

  /** Pushes one stream (`only` those types); a failure ends that stream, not the round. */
  private pushStream({ stream, end }: OpenStream, only?: ReadonlySet<TypeUrl>): void {
    if (this.closed) return;
    try {
      stream.push(only);
    } catch (err) {
      this.log(`xds: push to ${stream.proxy.id}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, { level: "error", stage: "xds", proxy: stream.proxy.id });
      end(statusError(grpc.status.INTERNAL, "internal error computing xDS response"));
    }
  }

  /**
   * Recomputes every stream the pending changes affect, in time slices. An urgent round with first
   * types runs in two phases (push-round.ts): those types to every affected stream, a wait for
   * their answers, then the rest.
   */
  private async flush({ changedAtMs, urgent, first, affects }: Round): Promise<void> {
    this.notify("flushing");
    const targets = [...this.streams.values()].filter(({ stream }) => affects(stream.proxy));
    const budget = urgent ? URGENT_SLICE : ROUND_SLICE;
    // A stream that is not reading is skipped; its outbox pushes it the latest once it drains.
    const pushEach = (only: (s: XdsStream) => ReadonlySet<TypeUrl> | undefined) => (t: OpenStream): void => {
      if (this.closed || !this.streams.has(t.stream.ctx.id) || !t.outbox.ready()) return;
      this.pushStream(t, only(t.stream));
      this.m.convergence.observe(NO_LABELS, (performance.now() - changedAtMs) / 1000);
    };
    if (first !== undefined) {
      const barrier = new FirstPhaseBarrier();
      this.barrier = barrier;
      const phaseTypes = new Map<string, ReadonlySet<TypeUrl>>();
      const typesOf = (s: XdsStream): ReadonlySet<TypeUrl> => {
        const wanted = first(s.proxy);
        const key = wanted.join(",");
        let set = phaseTypes.get(key);
        if (set === undefined) phaseTypes.set(key, (set = firstPhaseTypes(wanted)));
        return set;
      };
      const each = pushEach(typesOf);
      await inSlices(targets, budget, (t) => {
        this.firstPhase = barrier;
        try {
          each(t);
        } finally {
          this.firstPhase = undefined;
        }
      });
      const settled = await barrier.settled(FIRST_PHASE_WAIT_MS);
      this.barrier = undefined;
      this.notify("firstPhase", { all: settled, open: barrier.pending });
    }
    await inSlices(targets, budget, pushEach(() => undefined));
    this.rounds.done();
    this.notify("flushed");
  }
}

/** meshward_xds_initial_syncs: streams holding a sync slot and streams waiting for one. */
export function observeSyncs(m: XdsMetrics, active: number, waiting: number): void {
  m.initialSyncs.set(SYNC_ACTIVE, active);
  m.initialSyncs.set(SYNC_WAITING, waiting);
}

/** An event's metrics (and the log line of a NACK). */
export function observeEvent(m: XdsMetrics, log: Log, e: XdsEvent): void {
  const labels = typeLabels(e.typeUrl);
  switch (e.kind) {
    case "push":
      m.pushes.inc(labels);
      m.bytes.inc(NO_LABELS, e.bytes);
      break;
    case "ack":
      m.acks.inc(labels);
      m.pushToAck.observe(labels, e.latencyMs / 1000);
      break;
    case "nack":
      m.nacks.inc(labels);
      m.pushToAck.observe(labels, e.latencyMs / 1000);
      log(`xds: NACK from proxy ${e.proxyId} for ${labels.type} version ${e.version} nonce ${e.nonce}: ${e.error}`, {
        level: "warn", stage: "xds", proxy: e.proxyId, type: labels.type, version: e.version, nonce: e.nonce,
      });
      break;
  }
}

const labelsByType = new Map<string, { readonly type: string }>();

/** Metric labels per type, one object each (the registry caches label keys per object). */
function typeLabels(typeUrl: string): { readonly type: string } {
  let l = labelsByType.get(typeUrl);
  if (l === undefined) {
    l = { type: typeShortName(typeUrl) };
    labelsByType.set(typeUrl, l);
  }
  return l;
}

/** The request's type: ADS needs type_url; per-type services default to, and insist on, theirs. */
function resolveType(typeUrl: string, serviceType: TypeUrl | undefined): TypeUrl | StatusError | undefined {
  if (serviceType !== undefined) {
    if (typeUrl === "" || typeUrl === serviceType) return serviceType;
    return statusError(grpc.status.INVALID_ARGUMENT, `type_url: "${typeUrl}" is not served by this service (want ${serviceType})`);
  }
  if (typeUrl === "") return statusError(grpc.status.INVALID_ARGUMENT, "type_url: required on aggregated streams");
  return servedTypes.has(typeUrl) ? (typeUrl as TypeUrl) : undefined;
}

const SYNC_ACTIVE = { state: "active" } as const;
const SYNC_WAITING = { state: "waiting" } as const;

/** What admission establishes about a stream (its StreamContext without the writer). */
type StreamContextBase = Omit<StreamContext, "write">;

/** Built once: the check runs on every request. */
const servedTypes: ReadonlySet<string> = new Set(Object.values(TypeUrl));
