// xDS streams sharded over stream worker processes, so that both cores serve proxies while this
// process's event loop keeps what must be one: sources, model, translation, the CA, the risk
// engine and the signal path.
//
// This process listens on the xDS port and hands each accepted connection to a worker in turn
// (as Node's cluster module does; Node 20 cannot set SO_REUSEPORT, and the kernel's spreading
// is uneven anyway). Each worker (stream-worker.ts) runs the single-thread server's stream code
// on a ReplicaProvider; this process
//  - admits each stream (authentication needs the CA's verifiers and the token reviewer, and the
//    node-id check needs every worker's proxies: both live here, so a worker never decides who a
//    caller is);
//  - computes each proxy's resources from the provider, as the single-thread server's streams
//    would ask for them, and sends each worker only the maps and bytes it does not hold yet
//    (ledger.ts): a resource's bytes travel once per worker, however many proxies get them;
//  - re-emits the workers' pushes, ACKs, NACKs, connects and disconnects in order, on this
//    process's clock, with stream ids unique over the pool, and mirrors each stream's status
//    (CSDS, proxy-status).
// Rounds are computed in short CPU slices, so a signal arriving mid-round waits for one slice at
// most, never for response assembly, socket writes or ACK decoding (which the workers do).
import { EventEmitter } from "node:events";
import { fork, type ChildProcess } from "node:child_process";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import type { Proxy } from "../../model/proxy.js";
import type { CallerContext } from "../../security/identity.js";
import { Metrics } from "../../telemetry/metrics.js";
import type { Log } from "../../telemetry/log.js";
import { DEFAULT_STREAM_LIMITS } from "../limits.js";
import { DEFAULT_SYNC_LIMITS } from "../sync-gate.js";
import { listenWithBacklog } from "../listen.js";
import type { ServingContext } from "../../ca/serving-credentials.js";
import { firstPhaseTypes, inSlices, RoundScheduler, type Round } from "../push-round.js";
import { DEFAULT_DEBOUNCE_MS, newEpoch, observeEvent, observeSyncs, registerMetrics, type UrgentPush, type XdsMetrics, type XdsServerEvents, type XdsServerOptions, type XdsStreams } from "../server.js";
import { heldResources, PushOrder, TypeUrl, type EncodedResource, type ProxyChange, type ResourceProvider } from "../types.js";
import { statusAfter, type ProxyStatus, type XdsEvent } from "../events.js";
import { ReplicaLedger } from "./ledger.js";
import { sameResources } from "../map-diff.js";
import type { HeldCounts, LedgerOp, MainToWorker, StreamReport, StreamWorkerInit, WireCaller, WireResource, WorkerToMain } from "./messages.js";
import { monotonicOriginNs } from "./messages.js";
export interface XdsWorkerPoolOptions extends Omit<XdsServerOptions, "released" | "opened"> {
  /** Stream worker processes (at least 1). */
  readonly workers: number;
  /** `host:port` to listen on; port 0 picks one. */
  readonly address: string;
  /** The plaintext port's transport gate in every worker (security/transport-gates.ts). */
  readonly plaintextGate?: boolean;
  /**
   * A second, TLS listener (the role of 15012 for xDS): each worker terminates TLS itself with the
   * serving key and chain `context()` gives, sent to it over IPC at start and again after every
   * rotation (`onRotate`), and applies the TLS port's gate to those connections.
   */
  readonly tls?: {
    readonly address: string;
    readonly context: () => ServingContext;
    onRotate(listener: () => void): void;
  };
}

/** A round's CPU slice on this thread: short, so the signal path waits for one slice at most. */
const POOL_SLICE = { cpuMs: 10, checkEvery: 64 };

interface Shard {
  readonly index: number;
  readonly child: ChildProcess;
  readonly ledger: ReplicaLedger<true>;
  ops: LedgerOp[];
  /** The newest round this worker reported pushed. */
  flushed: number;
  /** The worker's sync gate, as last reported. */
  syncs: { active: number; waiting: number };
}

interface RemoteProxy {
  readonly key: number;
  readonly shard: Shard;
  readonly proxy: Proxy;
  status: ProxyStatus | undefined;
  /** The maps its worker holds for it, by type. */
  readonly maps: Map<TypeUrl, ReadonlyMap<string, EncodedResource>>;
}

interface MapInfo {
  readonly id: number;
  readonly entries: ReadonlyMap<string, EncodedResource>;
}

export class XdsWorkerPool extends EventEmitter<XdsServerEvents> implements XdsStreams {
  readonly provider: ResourceProvider;
  readonly metrics: Metrics;
  /** Every worker's versions start with it (XdsServer's epoch). */
  readonly epoch = newEpoch();
  /** The bound `host:port`. */
  address = "";
  /** The TLS listener's bound `host:port` (with the `tls` option). */
  tlsAddress: string | undefined;
  private readonly m: XdsMetrics;
  private readonly log: Log;
  private readonly shards: Shard[] = [];
  private readonly remotes = new Map<number, RemoteProxy>();
  private readonly mapIds = new WeakMap<ReadonlyMap<string, EncodedResource>, MapInfo>();
  private readonly wired = new WeakMap<EncodedResource, WireResource>();
  private ids = 0;
  private readonly listening: NetServer[] = [];
  /** The next worker to get a connection. */
  private turn = 0;
  private keys = 0;
  private round = 0;
  /** The current round is computed and sent: it ends when every worker has pushed it. */
  private sent = false;
  private readonly rounds: RoundScheduler;
  private closed = false;
  private stopped: Promise<void> | undefined;
  private readonly heldRequests = new Map<number, (c: HeldCounts) => void>();
  private readonly unsubscribe: () => void;

  private constructor(private readonly opts: XdsWorkerPoolOptions) {
    super();
    this.provider = opts.provider;
    this.metrics = opts.metrics ?? new Metrics();
    this.m = registerMetrics(this.metrics);
    this.log = opts.log ?? ((line) => process.stderr.write(line + "\n"));
    this.rounds = new RoundScheduler(opts.debounceMs ?? DEFAULT_DEBOUNCE_MS, (round) => void this.flush(round));
    this.unsubscribe = this.provider.onChange((c) => this.rounds.changed(c));
  }

  /** Starts the workers and the listener; resolves once every worker is ready. */
  static async start(opts: XdsWorkerPoolOptions): Promise<XdsWorkerPool> {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new Error(`xDS workers: ${opts.workers} is not a positive whole number`);
    const pool = new XdsWorkerPool(opts);
    try {
      await Promise.all(Array.from({ length: opts.workers }, (_, i) => pool.spawn(i)));
      pool.address = await pool.listen(opts.address, false);
      if (opts.tls !== undefined) {
        opts.tls.onRotate(() => {
          for (const shard of pool.shards) pool.sendTls(shard);
        });
        pool.tlsAddress = await pool.listen(opts.tls.address, true);
      }
    } catch (e) {
      await pool.stop();
      throw e;
    }
    return pool;
  }

  /** Accepts on `address` and hands each connection, unread, to the next worker (`tls`: to be terminated there). */
  private listen(address: string, tls: boolean): Promise<string> {
    const server = createServer({ pauseOnConnect: true }, (socket) => this.handOver(socket, tls));
    this.listening.push(server);
    return listenWithBacklog(server, address);
  }

  private handOver(socket: Socket, tls: boolean): void {
    const live = this.shards.filter((s) => s.child.connected);
    if (this.closed || live.length === 0) return void socket.destroy();
    const shard = live[this.turn++ % live.length]!;
    // keepOpen false: this process's copy of the socket is closed once it is sent.
    shard.child.send({ kind: "connection", ...(tls ? { tls } : {}) } satisfies MainToWorker, socket, { keepOpen: false }, (err) => {
      if (err) socket.destroy();
    });
  }

  private spawn(index: number): Promise<void> {
    const init: StreamWorkerInit = {
      index,
      limits: { ...DEFAULT_STREAM_LIMITS, ...this.opts.limits },
      syncLimits: { ...DEFAULT_SYNC_LIMITS, ...this.opts.syncLimits },
      plaintextGate: this.opts.plaintextGate ?? false,
      tls: this.opts.tls !== undefined,
      mainMonotonicOriginNs: monotonicOriginNs().toString(),
      epoch: this.epoch,
      workers: this.opts.workers,
    };
    const child = fork(fileURLToPath(new URL("./stream-worker.js", import.meta.url)), [], {
      env: { ...process.env, MESHWARD_STREAM_WORKER: JSON.stringify(init) },
      // Structured clone: resource bytes cross as bytes, not as JSON arrays of numbers.
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: [],
    });
    const shard: Shard = { index, child, ledger: new ReplicaLedger<true>(), ops: [], flushed: 0, syncs: { active: 0, waiting: 0 } };
    this.shards.push(shard);
    return new Promise<void>((resolve, reject) => {
      child.on("error", (e) => {
        this.log(`xds: stream worker ${index} failed: ${e.stack ?? e.message}`, { level: "error", stage: "xds" });
        reject(e);
      });
      child.on("exit", (code, signal) => {
        if (!this.closed) this.log(`xds: stream worker ${index} exited (${signal ?? `code ${code}`}); its proxies reconnect to the others`, { level: "error", stage: "xds" });
        reject(new Error(`stream worker ${index} exited (${signal ?? `code ${code}`})`));
        this.workerGone(shard);
      });
      child.on("message", (msg: WorkerToMain) => {
        switch (msg.kind) {
          case "ready":
            this.sendTls(shard);
            return resolve();
          case "admit":
            return void this.admit(shard, msg.request, msg.proxy, msg.caller);
          case "reports":
            return this.reports(shard, msg.reports);
          case "log":
            return this.log(msg.line, { ...msg.fields, worker: index });
          case "held":
            this.heldRequests.get(msg.request)?.(msg.counts);
            return void this.heldRequests.delete(msg.request);
          case "syncs":
            shard.syncs = { active: msg.active, waiting: msg.waiting };
            return this.syncsChanged();
        }
      });
    });
  }

  /**
   * Per worker, what this process believes it holds and what it reports holding: the same
   * counts while both ledgers are in step (tests, and memory accounting).
   */
  async held(): Promise<Array<{ readonly main: HeldCounts; readonly worker: HeldCounts }>> {
    return Promise.all(
      this.shards.map(async (s) => {
        const request = ++this.ids;
        const worker = await new Promise<HeldCounts>((resolve) => {
          this.heldRequests.set(request, resolve);
          this.send(s, { kind: "held", request });
        });
        return { main: s.ledger.counts(), worker };
      }),
    );
  }

  /** The worker processes (benchmarks add their CPU time and memory to this process's). */
  workerProcesses(): readonly ChildProcess[] {
    return this.shards.map((s) => s.child);
  }

  /** A worker that died: its streams are gone (their proxies reconnect and land on another). */
  private workerGone(shard: Shard): void {
    for (const r of [...this.remotes.values()]) {
      if (r.shard !== shard) continue;
      this.remotes.delete(r.key);
      if (r.status !== undefined) {
        this.m.connected.dec();
        this.notify("disconnect", r.status);
      }
    }
    shard.flushed = Number.MAX_SAFE_INTEGER;
    shard.syncs = { active: 0, waiting: 0 };
    this.syncsChanged();
    this.roundDone();
  }

  /** The TLS listener's key and chain, to a worker (IPC only; never its environment). */
  private sendTls(shard: Shard): void {
    if (this.opts.tls !== undefined) this.send(shard, { kind: "tls", context: this.opts.tls.context() });
  }

  /** meshward_xds_initial_syncs: every worker's gate summed. */
  private syncsChanged(): void {
    let active = 0;
    let waiting = 0;
    for (const s of this.shards) {
      active += s.syncs.active;
      waiting += s.syncs.waiting;
    }
    observeSyncs(this.m, active, waiting);
    this.opts.syncsChanged?.(active, waiting);
  }

  private send(shard: Shard, m: MainToWorker): void {
    if (shard.child.connected) shard.child.send(m);
  }

  /** Stream ids unique over the pool: worker i's stream n is n * workers + i. */
  private streamId(shard: Shard, id: number): number {
    return id * this.opts.workers + shard.index;
  }

  private async admit(shard: Shard, request: number, proxy: Proxy, wire: WireCaller): Promise<void> {
    const metadata = new grpc.Metadata();
    for (const [k, vs] of Object.entries(wire.metadata)) for (const v of vs) metadata.add(k, typeof v === "string" ? v : Buffer.from(v));
    const caller: CallerContext = { metadata, peer: wire.peer, ...(wire.peerCertificate !== undefined ? { peerCertificate: Buffer.from(wire.peerCertificate) } : {}) };
    try {
      if (this.closed) throw Object.assign(new Error("xDS server closing"), { code: grpc.status.UNAVAILABLE });
      await this.opts.admit?.(proxy, caller);
    } catch (err) {
      const code = err !== null && typeof err === "object" && "code" in err && typeof err.code === "number" ? err.code : grpc.status.PERMISSION_DENIED;
      return this.send(shard, { kind: "refused", request, code, details: err instanceof Error ? err.message : String(err) });
    }
    const remote: RemoteProxy = { key: ++this.keys, shard, proxy, status: undefined, maps: new Map() };
    this.remotes.set(remote.key, remote);
    if (!this.assign(remote)) {
      this.forget(remote);
      return this.send(shard, { kind: "refused", request, code: grpc.status.INTERNAL, details: "internal error computing xDS response" });
    }
    this.post(shard, 0);
    this.send(shard, { kind: "admitted", request, key: remote.key });
  }

  /**
   * Queues the proxy's current maps (those the worker lacks) for its worker. A provider failure
   * is logged and returns false: the caller refuses or ends that stream, not the round.
   */
  private assign(remote: RemoteProxy, only?: ReadonlySet<TypeUrl>): boolean {
    try {
      this.assignTypes(remote, only);
      return true;
    } catch (err) {
      this.log(`xds: push to ${remote.proxy.id}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, { level: "error", stage: "xds", proxy: remote.proxy.id });
      return false;
    }
  }

  /** The proxy's stream ended or failed: its worker drops what it held for it. */
  private forget(remote: RemoteProxy): void {
    this.remotes.delete(remote.key);
    remote.shard.ledger.dropProxy(remote.key);
    remote.shard.ops.push({ op: "drop", key: remote.key });
  }

  private assignTypes(remote: RemoteProxy, only?: ReadonlySet<TypeUrl>): void {
    const { shard, proxy, key } = remote;
    for (const typeUrl of PushOrder) {
      if (only !== undefined && !only.has(typeUrl)) continue;
      // Envoy sidecars get their certificates over ADS: asking starts issuance, as the stream would.
      // Other proxies do not ask for secrets; what is held is shown without issuing anything.
      const map = typeUrl === TypeUrl.Secret && proxy.flavour !== "envoy" ? heldResources(this.provider, proxy, typeUrl) : this.provider.resources(proxy, typeUrl);
      const held = remote.maps.get(typeUrl);
      // A provider that builds a new map per call (SDS) with the same resources changes nothing.
      if (held !== undefined && (held === map || sameResources(held, map))) continue;
      remote.maps.set(typeUrl, map);
      const info = this.mapInfo(map);
      if (!shard.ledger.hasMap(info.id)) {
        const ids: number[] = [];
        for (const r of info.entries.values()) {
          const w = this.wire(r);
          if (!shard.ledger.hasResource(w.id)) {
            shard.ledger.addResource(w.id, true);
            shard.ops.push({ op: "resource", resource: w });
          }
          ids.push(w.id);
        }
        shard.ledger.addMap(info.id, ids);
        shard.ops.push({ op: "map", map: { id: info.id, resources: ids } });
      }
      shard.ledger.setMap(key, typeUrl, info.id);
      shard.ops.push({ op: "assign", key, typeUrl, map: info.id });
    }
  }

  private mapInfo(map: ReadonlyMap<string, EncodedResource>): MapInfo {
    let info = this.mapIds.get(map);
    if (info === undefined) this.mapIds.set(map, (info = { id: ++this.ids, entries: map }));
    return info;
  }

  /** The resource as it crosses to a worker (with an id the ledgers know it by). */
  private wire(r: EncodedResource): WireResource {
    let w = this.wired.get(r);
    if (w === undefined) {
      w = { id: ++this.ids, typeUrl: r.typeUrl, name: r.name, version: r.version, bytes: r.bytes };
      this.wired.set(r, w);
    }
    return w;
  }

  private post(shard: Shard, round: number, urgent?: { first?: Array<readonly [number, readonly TypeUrl[]]> }): void {
    if (shard.ops.length === 0 && round === 0) return;
    const ops = shard.ops;
    shard.ops = [];
    this.send(shard, { kind: "update", ops, round, ...(urgent !== undefined ? { urgent } : {}) });
  }

  private reports(shard: Shard, reports: readonly StreamReport[]): void {
    for (const r of reports) {
      const remote = this.remotes.get((r as { key?: number }).key ?? -1);
      switch (r.t) {
        case "event": {
          const e: XdsEvent = { ...r.event, streamId: this.streamId(shard, r.event.streamId) };
          // The worker sends a status only when more than this event changed (sameShape).
          if (remote?.status !== undefined) remote.status = statusAfter(remote.status, e);
          observeEvent(this.m, this.log, e);
          this.notify(e.kind, e as never);
          break;
        }
        case "connect":
        case "status":
          if (remote === undefined) break;
          remote.status = { ...r.status, streamId: this.streamId(shard, r.status.streamId) };
          if (r.t === "connect") {
            this.m.connected.inc();
            this.notify("connect", remote.status);
          }
          break;
        case "disconnect":
          if (remote === undefined) break;
          remote.status = undefined;
          this.m.connected.dec();
          this.notify("disconnect", { ...r.status, streamId: this.streamId(shard, r.status.streamId) });
          break;
        case "released":
          if (remote === undefined) break;
          this.forget(remote);
          this.post(shard, 0);
          break;
        case "firstPhase":
          this.notify("firstPhase", { all: r.all, open: r.open });
          break;
        case "flushed":
          shard.flushed = Math.max(shard.flushed, r.round);
          this.roundDone();
          break;
      }
    }
  }

  private notify<K extends keyof XdsServerEvents>(event: K, ...args: XdsServerEvents[K]): void {
    try {
      EventEmitter.prototype.emit.call(this, event, ...args);
    } catch (err) {
      this.log(`xds: ${event} listener failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  proxies(): Proxy[] {
    return this.connected().map((r) => r.proxy);
  }

  streamsView(): Array<{ readonly proxy: Proxy; readonly status: ProxyStatus }> {
    return this.connected().map((r) => ({ proxy: r.proxy, status: r.status as ProxyStatus }));
  }

  status(): ProxyStatus[] {
    return this.connected().map((r) => r.status as ProxyStatus);
  }

  private connected(): RemoteProxy[] {
    return [...this.remotes.values()].filter((r) => r.status !== undefined);
  }

  pushNow(opts: UrgentPush = {}): void {
    if (!this.closed) this.rounds.pushNow(opts.first);
  }

  /**
   * One round: the affected proxies' maps, computed in short slices and sent to their workers as
   * each slice ends (workers start pushing while the rest is computed); over once every worker
   * has pushed it.
   */
  private async flush({ urgent, first, affects }: Round): Promise<void> {
    const round = ++this.round;
    this.notify("flushing");
    const targets = [...this.remotes.values()].filter((r) => affects(r.proxy));
    const firsts = new Map<Shard, Array<readonly [number, readonly TypeUrl[]]>>();
    const sendAll = (final: boolean): void => {
      for (const s of this.shards) {
        const f = firsts.get(s);
        if (s.ops.length === 0 && f === undefined && !final) continue;
        firsts.delete(s);
        this.post(s, final ? round : 0, urgent ? (f !== undefined ? { first: f } : {}) : undefined);
      }
    };
    let sinceSend = 0;
    const pass = (chunked: boolean, each: (r: RemoteProxy) => ReadonlySet<TypeUrl> | undefined): Promise<void> =>
      inSlices(targets, POOL_SLICE, (r) => {
        if (this.closed || !this.remotes.has(r.key)) return;
        if (!this.assign(r, each(r))) this.send(r.shard, { kind: "end", key: r.key, code: grpc.status.INTERNAL, details: "internal error computing xDS response" });
        // Send what the slice computed before the next one starts: a slice yields after this.
        if (chunked && ++sinceSend % POOL_SLICE.checkEvery === 0) sendAll(false);
      });
    if (first !== undefined) {
      // What cuts a pod off goes to every worker before the rest of the round is computed: the
      // provider encodes a type only when asked, so asking for every type here would hold the cut
      // behind every group's listeners (as in the single-thread server's phased round). In one
      // message per worker: each urgent message starts a phased round there, and a second one
      // would wait for the first one's answers.
      await pass(false, (r) => {
        const types = first(r.proxy);
        let f = firsts.get(r.shard);
        if (f === undefined) firsts.set(r.shard, (f = []));
        f.push([r.key, types]);
        return firstPhaseTypes(types);
      });
      sendAll(false);
    }
    await pass(true, () => undefined);
    sendAll(true);
    this.sent = true;
    this.roundDone();
  }

  /** Every worker pushed the current round: it is over; the next starts if changes wait. */
  private roundDone(): void {
    if (!this.rounds.inRound || !this.sent || this.shards.some((s) => s.flushed < this.round)) return;
    this.sent = false;
    this.rounds.done();
    this.notify("flushed");
  }

  /** Stops pushing; workers end their streams with UNAVAILABLE and exit. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.rounds.close();
    for (const l of this.listening) l.close();
    for (const s of this.shards) this.send(s, { kind: "close" });
  }

  /** close(), then waits for every worker to exit (killed if it has not after 2 s). */
  stop(): Promise<void> {
    this.stopped ??= this.stopWorkers();
    return this.stopped;
  }

  private async stopWorkers(): Promise<void> {
    this.close();
    await Promise.all([
      ...this.listening.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))),
      ...this.shards.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
            const force = setTimeout(() => s.child.kill("SIGKILL"), 2000);
            s.child.once("exit", () => (clearTimeout(force), resolve()));
          }),
      ),
    ]);
  }
}
