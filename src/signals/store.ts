// Received signals: in memory for queries, de-duplicated by id, and appended (fsync'd before the
// ack) to a JSONL file when one is configured, so a restarted control plane neither loses an
// acknowledged signal nor stores a re-sent one twice.
import { closeSync, existsSync, fdatasyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { StoredSignalSchema, type Signal, type StoredSignal } from "../gen/meshward/agent/v1/signals_pb.js";

export interface SignalQuery {
  readonly node?: string;
  readonly podUid?: string;
  readonly namespace?: string;
  readonly detectionId?: string;
  readonly since?: Date;
  readonly limit?: number;
}

export class SignalStore {
  private readonly byId = new Map<string, StoredSignal>();
  private readonly order: StoredSignal[] = [];
  private fd: number | undefined;

  /** @param file JSONL file to persist to (created with mode 0600); undefined = memory only. */
  constructor(readonly file?: string, private readonly maxInMemory = 100_000) {
    if (file === undefined) return;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (existsSync(file)) {
      for (const line of readFileSync(file, "utf8").split("\n")) {
        if (line.trim() === "") continue;
        try {
          this.remember(fromJson(StoredSignalSchema, JSON.parse(line) as JsonValue));
        } catch {
          // a torn last line after a crash: the agent re-sends it, it was never acknowledged
        }
      }
    }
    this.fd = openSync(file, "a", 0o600);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Adds signals not yet stored and returns those that were new. Durable before it returns. */
  add(signals: readonly Signal[], received = new Date()): Signal[] {
    const fresh: StoredSignal[] = [];
    for (const s of signals) {
      if (this.byId.has(s.id) || fresh.some((f) => f.signal?.id === s.id)) continue;
      fresh.push(create(StoredSignalSchema, { signal: s, receivedTime: timestampFromDate(received) }));
    }
    if (fresh.length === 0) return [];
    if (this.fd !== undefined) {
      writeSync(this.fd, fresh.map((f) => JSON.stringify(toJson(StoredSignalSchema, f))).join("\n") + "\n");
      fdatasyncSync(this.fd);
    }
    for (const f of fresh) this.remember(f);
    return fresh.map((f) => f.signal!);
  }

  private remember(s: StoredSignal): void {
    const id = s.signal?.id;
    if (id === undefined || this.byId.has(id)) return;
    this.byId.set(id, s);
    this.order.push(s);
    if (this.order.length > this.maxInMemory) {
      const old = this.order.shift();
      // ids stay known for de-duplication only while in memory; the file keeps everything
      if (old?.signal) this.byId.delete(old.signal.id);
    }
  }

  query(q: SignalQuery): StoredSignal[] {
    const out: StoredSignal[] = [];
    for (let i = this.order.length - 1; i >= 0; i--) {
      const s = this.order[i];
      const sig = s.signal;
      if (sig === undefined) continue;
      if (q.node && sig.node !== q.node) continue;
      if (q.podUid && sig.pod?.uid !== q.podUid) continue;
      if (q.namespace && sig.pod?.namespace !== q.namespace) continue;
      if (q.detectionId && sig.detection?.id !== q.detectionId) continue;
      if (q.since && sig.eventTime && timestampDate(sig.eventTime) < q.since) continue;
      out.push(s);
      if (q.limit && out.length >= q.limit) break;
    }
    return out.reverse();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
