// The audit trail: every signal, verdict, enforcement action, push and ACK, in the SQLite file
// opened by audit-schema.ts. Writes that anything outside depends on (a signal acknowledged to an
// agent, a verdict, an action) commit with synchronous=FULL before the call returns; pushes and
// ACKs, which are many and acknowledged to no one, are batched. Reads are in audit-query.ts.
import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import { ChainTracker, LatencyHistogram, type CompletedChain, type ResolvedPush } from "./chain-latency.js";
import { msToUs, openAuditDatabase } from "./audit-schema.js";
import { AuditQuery } from "./audit-query.js";
import type { Evaluation } from "./engine.js";
import { SqliteEnforcementStore } from "./enforcement-store.js";
import type { RuntimeSignal } from "./signal.js";
import type { Database, Statement } from "./sqlite.js";

/** Audit records older than this are pruned; active enforcements never are. */
export const DEFAULT_AUDIT_RETENTION_MS = 30 * 24 * 3_600_000;
/** Rows kept per audit table at most (the newest), whatever their age: a flood cannot fill the disk. */
export const DEFAULT_AUDIT_MAX_ROWS = 1_000_000;
/** A chain still waiting for ACKs after this long is closed as timed out. */
export const DEFAULT_CHAIN_TIMEOUT_MS = 60_000;
/** Pushes and ACKs are written at most this long after they happen (outside an in-flight chain: see scheduleBatch). */
const BATCH_DELAY_MS = 50;
const BATCH_MAX_ROWS = 2000;
/** Rows held while a chain is in flight (see scheduleBatch): two pushes and two ACKs per proxy at 10,000 proxies, and more. */
const IN_FLIGHT_MAX_ROWS = 100_000;

export interface AuditStoreOptions {
  readonly clock?: Clock;
  readonly retentionMs?: number;
  /** Rows kept per table at most; DEFAULT_AUDIT_MAX_ROWS when absent. */
  readonly maxRows?: number;
  /** Called for every chain that completes, after its row is written (for metrics and logs). */
  readonly onChainComplete?: (c: CompletedChain & { readonly latencyMs?: number }) => void;
}

export interface PushRecord {
  /** The signals whose enforcement this push carries. */
  readonly signalIds: readonly string[];
  readonly proxyId: string;
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly atMs: number;
  /** Sent in the round's first phase: one of the resources that cut the pod off. */
  readonly first?: boolean;
}

export interface AckRecord {
  readonly proxyId: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly atMs: number;
  /** True for a NACK (the request carried error_detail). */
  readonly nack?: boolean;
}

/** JSON with bigint as decimal strings, so the raw signal round-trips. */
function signalJson(s: RuntimeSignal): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

export class AuditStore {
  readonly query: AuditQuery;
  /** syscall -> last ACK, seconds; exported by the metrics endpoint as CHAIN_LATENCY_METRIC. */
  readonly chainLatency = new LatencyHistogram();
  private readonly clock: Clock;
  private readonly tracker = new ChainTracker();
  private readonly pushRows: PushRecord[] = [];
  private readonly ackRows: (ResolvedPush & { nack: boolean; atMs: number })[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly stmt: Record<"signal" | "chain" | "verdict" | "verdictStage" | "risk" | "translated" | "push" | "ack" | "chainDone", Statement>;

  static open(dataDir: string, opts: AuditStoreOptions = {}): AuditStore {
    return new AuditStore(openAuditDatabase(dataDir), opts);
  }

  constructor(
    readonly db: Database,
    private readonly opts: AuditStoreOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.query = new AuditQuery(db);
    this.stmt = {
      signal: db.prepare(
        `INSERT OR IGNORE INTO signals (id, node, pod_uid, namespace, pod_name, service_account, pod_ip, container, pid, binary,
           args, proc_uid, detection, severity, technique, event_us, monotonic_ns, agent_sent_us, received_us, raw, cluster)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      chain: db.prepare(`INSERT OR IGNORE INTO chains (signal_id, event_us, agent_sent_us, received_us) VALUES (?, ?, ?, ?)`),
      verdict: db.prepare(
        `INSERT OR IGNORE INTO verdicts (id, signal_id, policy, rule, action, scope, duration_ms, pod_uid, namespace, pod_name,
           risk_score, reason, decided_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      verdictStage: db.prepare(`UPDATE chains SET verdict_us = ? WHERE signal_id = ?`),
      risk: db.prepare(`INSERT OR REPLACE INTO risk_scores (pod_uid, state, as_of_us) VALUES (?, ?, ?)`),
      translated: db.prepare(`UPDATE chains SET translated_us = ?, proxies = ? WHERE signal_id = ?`),
      push: db.prepare(`INSERT INTO pushes (signal_id, proxy_id, type_url, version, nonce, pushed_us) VALUES (?, ?, ?, ?, ?, ?)`),
      ack: db.prepare(`INSERT INTO acks (signal_id, proxy_id, type_url, version, nonce, nack, acked_us) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      chainDone: db.prepare(
        `UPDATE chains SET first_push_us = ?, last_ack_us = ?, cut_off_us = ?, proxies = ?, acked = ?, nacked = ?,
           latency_us = CASE WHEN ? IS NULL THEN NULL ELSE ? - event_us END WHERE signal_id = ?`,
      ),
    };
  }

  /**
   * Records a signal; returns only after the transaction is durably committed, so the caller may
   * then acknowledge it to the agent. `duplicate` is true if this id was recorded before (the
   * agent redelivered it): the caller acknowledges again and does not evaluate it again.
   */
  recordSignal(s: RuntimeSignal): { duplicate: boolean } {
    const eventUs = Number(s.eventTimeNs / 1000n);
    const sentUs = s.agentSentAtMs === undefined ? null : msToUs(s.agentSentAtMs);
    const receivedUs = msToUs(s.receivedAtMs);
    const write = this.db.transaction(() => {
      const r = this.stmt.signal.run(
        s.id, s.node, s.pod.uid, s.pod.namespace, s.pod.name, s.pod.serviceAccount, s.pod.ip, s.container.name || s.container.id,
        s.process.pid, s.process.binary, JSON.stringify(s.process.args), s.process.uid, s.detection.id, s.detection.severity,
        s.detection.technique, eventUs, s.monotonicNs === undefined ? null : s.monotonicNs.toString(), sentUs, receivedUs, signalJson(s),
        s.pod.cluster ?? "",
      );
      if (r.changes === 0) return true;
      this.stmt.chain.run(s.id, eventUs, sentUs, receivedUs);
      return false;
    });
    return { duplicate: write() };
  }

  /** Records the verdicts of one evaluation and the workload's new risk state, durably. */
  recordEvaluation(ev: Evaluation): void {
    const decidedUs = msToUs(ev.evaluatedAtMs);
    this.db.transaction(() => {
      for (const v of ev.verdicts) {
        this.stmt.verdict.run(
          v.id, v.signalId, v.policy, v.rule, v.action, v.scope, v.durationMs ?? null, v.pod.uid, v.pod.namespace, v.pod.name,
          v.riskScore, v.reason, msToUs(v.decidedAtMs),
        );
      }
      this.stmt.verdictStage.run(decidedUs, ev.signal.id);
      this.stmt.risk.run(ev.risk.podUid, JSON.stringify(ev.risk), msToUs(ev.risk.asOfMs));
    })();
  }

  /**
   * The overlay for these signals went into a new snapshot and was translated; `affectedProxyIds`
   * are the connected proxies it changes (ProxyChange.affects over the connected set). From here
   * the chain waits for each of them to ACK a push that carries it.
   */
  recordTranslation(signalIds: readonly string[], affectedProxyIds: readonly string[], atMs: number): void {
    const atUs = msToUs(atMs);
    // On the enforcement's hot path, between the push and its ACKs: not fsync'd (see relaxed()).
    this.relaxed(() => {
      for (const id of signalIds) this.stmt.translated.run(atUs, affectedProxyIds.length, id);
    });
    this.finish(this.tracker.expect(signalIds, affectedProxyIds, atUs));
  }

  /**
   * The overlay for these signals went into a new snapshot and was translated; the affected
   * proxies are the ones pushed from now until sealTranslation (see ChainTracker.open).
   */
  openTranslation(signalIds: readonly string[], atMs: number): void {
    const atUs = msToUs(atMs);
    this.relaxed(() => {
      for (const id of signalIds) this.stmt.translated.run(atUs, null, id);
    });
    this.tracker.open(signalIds, atUs);
  }

  /** The affected proxies of an open translation are known (its push round ended). */
  sealTranslation(signalIds: readonly string[]): void {
    this.finish(this.tracker.seal(signalIds));
  }

  /** A response sent on one stream that carries these signals' enforcement. */
  recordPush(p: PushRecord): void {
    const tracked = this.tracker.pushed(p.signalIds, p.proxyId, p.typeUrl, p.version, p.nonce, msToUs(p.atMs), p.first === true);
    if (tracked.length === 0) return;
    this.pushRows.push({ ...p, signalIds: tracked });
    this.scheduleBatch();
  }

  /** An ACK or NACK from one stream; returns the chains it completed. */
  recordAck(a: AckRecord): CompletedChain[] {
    const { resolved, completed } = this.tracker.acked(a.proxyId, a.typeUrl, a.nonce, msToUs(a.atMs), a.nack === true);
    for (const r of resolved) this.ackRows.push({ ...r, nack: a.nack === true, atMs: a.atMs });
    if (resolved.length > 0) this.scheduleBatch();
    this.finish(completed);
    return completed;
  }

  /** Closes chains that waited longer than `timeoutMs` for ACKs. */
  sweepChains(timeoutMs: number = DEFAULT_CHAIN_TIMEOUT_MS): CompletedChain[] {
    const done = this.tracker.sweep(msToUs(this.clock.nowMs() - timeoutMs));
    this.finish(done);
    return done;
  }

  private finish(completed: readonly CompletedChain[]): void {
    if (completed.length === 0) return;
    this.flush();
    this.relaxed(() => {
      for (const c of completed) {
        const last = c.timedOut ? null : (c.lastAckUs ?? null);
        // Unphased rounds cut off with their last ACK; a timed-out one only if its first phase completed.
        const cutOff = c.cutOffUs ?? last;
        this.stmt.chainDone.run(c.firstPushUs ?? null, c.lastAckUs ?? null, cutOff, c.proxies, c.acked, c.nacked, last, last, c.signalId);
      }
    });
    for (const c of completed) {
      const latencyUs = this.query.chain(c.signalId)?.latencyUs;
      if (latencyUs !== undefined && !c.timedOut) this.chainLatency.observe(latencyUs / 1e6);
      this.opts.onChainComplete?.({ ...c, ...(latencyUs !== undefined ? { latencyMs: latencyUs / 1000 } : {}) });
    }
  }

  private scheduleBatch(): void {
    const rows = this.pushRows.length + this.ackRows.length;
    // While a chain is in flight these rows come from its push round and ACKs, which the same
    // thread serves: a 2,000-row write (~10 ms) landed between the round and its sockets, or in
    // the middle of the ACKs, and delayed the chain it records. finish() writes them when the
    // chain completes or times out; the cap bounds memory.
    if (this.tracker.inFlight() > 0) {
      if (rows >= IN_FLIGHT_MAX_ROWS) this.flush();
      return;
    }
    if (rows >= BATCH_MAX_ROWS) {
      this.flush();
      return;
    }
    if (this.batchTimer) return;
    this.batchTimer = setTimeout(() => this.flush(), BATCH_DELAY_MS);
    this.batchTimer.unref();
  }

  /** Writes batched pushes and ACKs now. */
  flush(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.pushRows.length === 0 && this.ackRows.length === 0) return;
    const pushes = this.pushRows.splice(0);
    const acks = this.ackRows.splice(0);
    const write = (): void => {
      for (const p of pushes) for (const id of p.signalIds) this.stmt.push.run(id, p.proxyId, p.typeUrl, p.version, p.nonce, msToUs(p.atMs));
      for (const a of acks) this.stmt.ack.run(a.signalId, a.proxyId, a.typeUrl, a.version, a.nonce, a.nack ? 1 : 0, msToUs(a.atMs));
    };
    this.relaxed(() => write());
  }

  /**
   * Runs `body` in a transaction committed without fsync: NORMAL in WAL mode survives a process
   * crash, only power loss may drop it, and no one was promised these rows (pushes, ACKs, chain
   * stages). Inside a caller's transaction the rows commit with it, at its durability.
   */
  private relaxed(body: () => void): void {
    const write = this.db.transaction(body);
    if (this.db.inTransaction) return write();
    this.db.pragma("synchronous = NORMAL", { simple: true });
    try {
      write();
    } finally {
      this.db.pragma("synchronous = FULL", { simple: true });
    }
  }

  /** Deletes audit records older than the retention, then the oldest beyond maxRows per table; returns rows deleted per table. */
  prune(nowMs: number = this.clock.nowMs()): Record<string, number> {
    this.flush();
    const cutoff = msToUs(nowMs - (this.opts.retentionMs ?? DEFAULT_AUDIT_RETENTION_MS));
    const tables: [string, string][] = [
      ["signals", "received_us"], ["verdicts", "decided_us"], ["actions", "at_us"], ["pushes", "pushed_us"],
      ["acks", "acked_us"], ["chains", "received_us"], ["risk_scores", "as_of_us"],
    ];
    const deleted: Record<string, number> = {};
    this.db.transaction(() => {
      const maxRows = this.opts.maxRows ?? DEFAULT_AUDIT_MAX_ROWS;
      for (const [table, col] of tables) {
        deleted[table] = this.db.prepare(`DELETE FROM ${table} WHERE ${col} < ?`).run(cutoff).changes;
        deleted[table] += this.db
          .prepare(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} ORDER BY ${col} DESC, rowid DESC LIMIT -1 OFFSET ?)`)
          .run(maxRows).changes;
      }
    })();
    return deleted;
  }

  /** The persisted enforcement set, sharing this database (see enforcement-store.ts). */
  enforcementStore(): SqliteEnforcementStore {
    return new SqliteEnforcementStore(this.db);
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
