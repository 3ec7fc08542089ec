// Streams signals to the control plane, at least once: a signal leaves the buffer only when the
// control plane acknowledges its id (stored or rejected for good). While the control plane is
// unreachable, signals wait in a bounded buffer; overflow drops the oldest and counts it. With a
// buffer file the buffer is on disk as well (SQLite, 0600), so signals raised while the control
// plane is away survive an agent restart and are sent when it returns.
import * as grpc from "@grpc/grpc-js";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { openPrivateDatabase, type Database, type Statement } from "../risk/sqlite.js";
import {
  AgentHealthSchema, SignalSchema, SignalService, StreamSignalsRequestSchema,
  type AgentHello, type Signal, type StreamSignalsRequest, type StreamSignalsResponse,
} from "../gen/meshward/agent/v1/signals_pb.js";
import { grpcServiceDefinition } from "../signals/grpc-definition.js";

export interface SignalSenderOptions {
  readonly address: string;
  readonly credentials: grpc.ChannelCredentials;
  /** Extra channel options, e.g. grpc.ssl_target_name_override for the control plane's TLS name. */
  readonly channelOptions?: grpc.ChannelOptions;
  /** Bearer token presented in `authorization` (node token or JWT). */
  readonly token?: () => string | undefined;
  readonly hello: AgentHello;
  /** Signals buffered at most (memory and disk); default 10,000. */
  readonly maxBuffered?: number;
  /** Where unacknowledged signals are kept across restarts (the agent: <data-dir>/signal-buffer.db). */
  readonly bufferFile?: string;
  readonly batchSize?: number;
  readonly health?: () => { ringbufDrops: bigint; throttled: bigint; events: bigint };
  /** How often health (drop counters) is reported; default 5 s. */
  readonly healthIntervalMs?: number;
  readonly log?: (msg: string) => void;
}

export interface SenderStats {
  readonly buffered: number;
  readonly sent: number;
  readonly acked: number;
  readonly rejected: number;
  readonly bufferDrops: number;
  readonly connected: boolean;
  readonly reconnects: number;
}

export class SignalSender {
  private readonly client: grpc.Client;
  private readonly def = grpcServiceDefinition(SignalService).StreamSignals;
  /** Not yet acknowledged, in arrival order (Map keeps insertion order). */
  private readonly unacked = new Map<string, Signal>();
  /** Ids written on the current stream and awaiting an ack. */
  private readonly inflight = new Set<string>();
  private stream: grpc.ClientDuplexStream<StreamSignalsRequest, StreamSignalsResponse> | undefined;
  private stopped = false;
  private backoffMs = 200;
  private timer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private ackWaiters: Array<() => void> = [];
  private counters = { sent: 0, acked: 0, rejected: 0, bufferDrops: 0, reconnects: 0 };
  private connected = false;
  private readonly disk: { db: Database; put: Statement; del: Statement } | undefined;

  constructor(private readonly opts: SignalSenderOptions) {
    if (opts.bufferFile !== undefined) {
      const db = openPrivateDatabase(opts.bufferFile); // signals carry argv, which can carry secrets
      db.exec("CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, signal BLOB NOT NULL)");
      this.disk = { db, put: db.prepare("INSERT OR IGNORE INTO pending (id, signal) VALUES (?, ?)"), del: db.prepare("DELETE FROM pending WHERE id = ?") };
      const rows = db.prepare("SELECT id, signal FROM pending ORDER BY seq").all() as Array<{ id: string; signal: Buffer }>;
      for (const r of rows) {
        try {
          this.unacked.set(r.id, fromBinary(SignalSchema, r.signal));
        } catch {
          this.disk.del.run(r.id); // unreadable (written by another version): nothing to resend
        }
      }
      if (rows.length > 0) opts.log?.(`signal buffer: ${this.unacked.size} unacknowledged signals from before the restart`);
    }
    this.client = new grpc.Client(opts.address, opts.credentials, {
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 5_000,
      ...opts.channelOptions,
    });
  }

  start(): void {
    this.connect();
    this.healthTimer = setInterval(() => this.sendHealth(), this.opts.healthIntervalMs ?? 5000);
    this.healthTimer.unref();
  }

  stats(): SenderStats {
    return { buffered: this.unacked.size, connected: this.connected, ...this.counters };
  }

  enqueue(signal: Signal): void {
    if (this.unacked.has(signal.id)) return;
    const max = this.opts.maxBuffered ?? 10_000;
    while (this.unacked.size >= max) {
      const oldest = this.unacked.keys().next().value as string;
      this.forget(oldest);
      this.counters.bufferDrops++;
    }
    this.unacked.set(signal.id, signal);
    if (this.disk?.db.open) this.disk.put.run(signal.id, Buffer.from(toBinary(SignalSchema, signal)));
    this.flush();
  }

  /** Resolves when every buffered signal has been acknowledged (or the timeout passes). */
  async drained(timeoutMs = 10_000): Promise<boolean> {
    if (this.unacked.size === 0) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.ackWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    const token = this.opts.token?.();
    if (token) md.set("authorization", `Bearer ${token}`);
    return md;
  }

  private connect(): void {
    if (this.stopped) return;
    this.inflight.clear();
    const s = this.client.makeBidiStreamRequest(
      this.def.path,
      this.def.requestSerialize as (v: StreamSignalsRequest) => Buffer,
      this.def.responseDeserialize as (b: Buffer) => StreamSignalsResponse,
      this.metadata(),
    );
    this.stream = s;
    s.on("data", (r: StreamSignalsResponse) => {
      this.connected = true;
      this.backoffMs = 200;
      this.onAck(r);
    });
    s.on("error", (err: grpc.ServiceError) => this.onStreamEnd(s, `${grpc.status[err.code] ?? err.code}: ${err.details}`));
    s.on("end", () => this.onStreamEnd(s, "stream ended"));
    s.write(create(StreamSignalsRequestSchema, { msg: { case: "hello", value: this.opts.hello } }));
    this.flush();
  }

  private onStreamEnd(s: grpc.ClientDuplexStream<StreamSignalsRequest, StreamSignalsResponse>, why: string): void {
    if (this.stream !== s) return;
    this.stream = undefined;
    this.connected = false;
    this.inflight.clear();
    if (this.stopped) return;
    this.opts.log?.(`signal stream to ${this.opts.address}: ${why}; reconnecting in ${this.backoffMs} ms`);
    this.counters.reconnects++;
    this.timer = setTimeout(() => this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 5000);
  }

  private onAck(r: StreamSignalsResponse): void {
    for (const id of r.acceptedIds) if (this.forget(id)) this.counters.acked++;
    for (const rej of r.rejected) {
      if (this.forget(rej.id)) this.counters.rejected++;
      this.opts.log?.(`signal ${rej.id} rejected: ${rej.reason}`);
    }
    if (this.unacked.size === 0) {
      const w = this.ackWaiters;
      this.ackWaiters = [];
      for (const f of w) f();
    }
    this.flush();
  }

  /** Drops a signal from the buffer (memory and disk); true if it was there. */
  private forget(id: string): boolean {
    this.inflight.delete(id);
    if (!this.unacked.delete(id)) return false;
    if (this.disk?.db.open) this.disk.del.run(id);
    return true;
  }

  /** Writes every buffered signal not yet in flight on the current stream, in batches. */
  private flush(): void {
    const s = this.stream;
    if (s === undefined || this.stopped) return;
    const batchSize = this.opts.batchSize ?? 100;
    let batch: Signal[] = [];
    const write = (): void => {
      s.write(create(StreamSignalsRequestSchema, { msg: { case: "batch", value: { signals: batch, sentTime: timestampNow() } } }));
      this.counters.sent += batch.length;
      batch = [];
    };
    for (const [id, sig] of this.unacked) {
      if (this.inflight.has(id)) continue;
      this.inflight.add(id);
      batch.push(sig);
      if (batch.length >= batchSize) write();
    }
    if (batch.length > 0) write();
  }

  private sendHealth(): void {
    const h = this.opts.health?.();
    if (this.stream === undefined || h === undefined) return;
    this.stream.write(create(StreamSignalsRequestSchema, {
      msg: { case: "health", value: create(AgentHealthSchema, { ringbufDrops: h.ringbufDrops, throttled: h.throttled, events: h.events, bufferDrops: BigInt(this.counters.bufferDrops) }) },
    }));
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.stream?.end();
    this.stream?.cancel();
    this.client.close();
    if (this.disk?.db.open) this.disk.db.close();
  }
}
