// Reading the audit trail: by pod, namespace, detection and time, for `meshward events`,
// `meshward risk` and the control plane's debug endpoints. Works on a read-only connection.
import { msToUs, usToMs } from "./audit-schema.js";
import type { WorkloadRiskState } from "./engine.js";
import type { Severity } from "./signal.js";
import type { Database, SqlValue } from "./sqlite.js";

export interface EventFilter {
  /** Pod UID, `namespace/name`, or name. */
  readonly pod?: string;
  readonly namespace?: string;
  /** Detection id, or a prefix ending in `*`. */
  readonly detection?: string;
  /** One signal id: the signal and the verdicts and actions it caused. */
  readonly signal?: string;
  /** Inclusive bounds on the control plane's time of the record, ms since the epoch. */
  readonly sinceMs?: number;
  readonly untilMs?: number;
  /** Most recent first when limited; default 1000. */
  readonly limit?: number;
}

export interface SignalRecord {
  readonly id: string;
  readonly node: string;
  readonly podUid: string;
  readonly namespace: string;
  readonly podName: string;
  readonly serviceAccount: string;
  readonly podIp: string;
  readonly container: string;
  readonly pid: number;
  readonly binary: string;
  readonly args: readonly string[];
  readonly procUid: number;
  readonly detection: string;
  readonly severity: Severity;
  readonly technique: string;
  readonly eventMs: number;
  readonly receivedMs: number;
  /** The pod's cluster, when the control plane knew it. */
  readonly cluster?: string;
}

export interface VerdictRecord {
  readonly id: string;
  readonly signalId: string;
  readonly policy: string;
  readonly rule: string;
  readonly action: string;
  readonly scope: string;
  readonly namespace: string;
  readonly podName: string;
  readonly riskScore: number;
  readonly reason: string;
  readonly decidedMs: number;
}

export interface ActionRecord {
  readonly seq: number;
  readonly enforcementId: string;
  /** created | extended | released | expired */
  readonly event: string;
  readonly action: string;
  readonly scope: string;
  readonly namespace: string;
  readonly podName: string;
  readonly podIp: string;
  readonly identity: string;
  readonly reason: string;
  readonly signalId: string;
  readonly by: string;
  readonly atMs: number;
  readonly expiresMs?: number;
  /** The enforced pod's cluster, when known. */
  readonly cluster?: string;
}

/** The stage timestamps of one signal's chain, µs since the epoch; absent stages did not happen. */
export interface ChainRecord {
  readonly signalId: string;
  readonly eventUs: number;
  readonly agentSentUs?: number;
  readonly receivedUs: number;
  readonly verdictUs?: number;
  readonly translatedUs?: number;
  readonly firstPushUs?: number;
  readonly lastAckUs?: number;
  /**
   * When the last affected proxy ACKed the resources that cut the pod off (the first phase of the
   * round); equal to lastAckUs when the round was not phased.
   */
  readonly cutOffUs?: number;
  readonly proxies?: number;
  readonly acked?: number;
  readonly nacked?: number;
  /** syscall -> last affected proxy's ACK. */
  readonly latencyUs?: number;
}

export interface Delivery {
  readonly proxyId: string;
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly pushedMs: number;
  /** Absent while unanswered. */
  readonly answeredMs?: number;
  readonly nack?: boolean;
}

/** The audit trail for a filter: what `meshward events --json` prints and the read API serves. */
export interface AuditTimeline {
  readonly signals: readonly SignalRecord[];
  readonly verdicts: readonly VerdictRecord[];
  readonly actions: readonly ActionRecord[];
  /** Each listed signal's syscall -> last ACK chain, where one was recorded. */
  readonly chains: readonly ChainRecord[];
  /** With `filter.signal`: each push of its enforcement and its answer. */
  readonly deliveries?: readonly Delivery[];
}

/** Drops SQL NULLs so optional fields are absent rather than null. */
function defined<T extends object>(row: Record<string, unknown>, map: Record<string, keyof T>): T {
  const out: Record<string, unknown> = {};
  for (const [col, key] of Object.entries(map)) if (row[col] !== null && row[col] !== undefined) out[key as string] = row[col];
  return out as T;
}

interface Where {
  readonly sql: string;
  readonly params: SqlValue[];
}

/** The row's cluster column, left out when empty (single-cluster meshes, older rows). */
const clusterOf = (r: Record<string, unknown>): { cluster?: string } => (typeof r["cluster"] === "string" && r["cluster"] !== "" ? { cluster: r["cluster"] } : {});

/** WHERE clause for a table with namespace/pod_name/pod_uid, a time column and a signal link. */
function where(f: EventFilter, timeCol: string, detectionCol: string): Where {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  if (f.pod !== undefined) {
    parts.push(`(pod_uid = ? OR pod_name = ? OR namespace || '/' || pod_name = ?)`);
    params.push(f.pod, f.pod, f.pod);
  }
  if (f.namespace !== undefined) {
    parts.push(`namespace = ?`);
    params.push(f.namespace);
  }
  if (f.detection !== undefined) {
    const exact = !f.detection.endsWith("*");
    const value = exact ? f.detection : f.detection.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`) + "%";
    const test = exact ? `= ?` : `LIKE ? ESCAPE '\\'`;
    parts.push(detectionCol === "detection" ? `detection ${test}` : `${detectionCol} IN (SELECT id FROM signals WHERE detection ${test})`);
    params.push(value);
  }
  if (f.signal !== undefined) {
    parts.push(detectionCol === "detection" ? `id = ?` : `${detectionCol} = ?`);
    params.push(f.signal);
  }
  if (f.sinceMs !== undefined) {
    parts.push(`${timeCol} >= ?`);
    params.push(msToUs(f.sinceMs));
  }
  if (f.untilMs !== undefined) {
    parts.push(`${timeCol} <= ?`);
    params.push(msToUs(f.untilMs));
  }
  return { sql: parts.length > 0 ? `WHERE ${parts.join(" AND ")}` : "", params };
}

export class AuditQuery {
  constructor(private readonly db: Database) {}

  private select(table: string, f: EventFilter, timeCol: string, detectionCol: string): Record<string, unknown>[] {
    const w = where(f, timeCol, detectionCol);
    const limit = f.limit ?? 1000;
    // Newest `limit` rows, returned oldest first so output reads as a timeline.
    // rowid breaks ties between records of the same microsecond in insertion order.
    const sql = `SELECT * FROM (SELECT rowid AS row_order, * FROM ${table} ${w.sql} ORDER BY ${timeCol} DESC, rowid DESC LIMIT ?)
      ORDER BY ${timeCol} ASC, row_order ASC`;
    return this.db.prepare(sql).all(...w.params, limit) as Record<string, unknown>[];
  }

  signals(f: EventFilter = {}): SignalRecord[] {
    return this.select("signals", f, "received_us", "detection").map((r) => ({
      id: r["id"] as string,
      node: r["node"] as string,
      podUid: r["pod_uid"] as string,
      namespace: r["namespace"] as string,
      podName: r["pod_name"] as string,
      serviceAccount: r["service_account"] as string,
      podIp: r["pod_ip"] as string,
      container: r["container"] as string,
      pid: r["pid"] as number,
      binary: r["binary"] as string,
      args: JSON.parse(r["args"] as string) as string[],
      procUid: r["proc_uid"] as number,
      detection: r["detection"] as string,
      severity: r["severity"] as Severity,
      technique: r["technique"] as string,
      eventMs: usToMs(r["event_us"] as number),
      receivedMs: usToMs(r["received_us"] as number),
      ...clusterOf(r),
    }));
  }

  verdicts(f: EventFilter = {}): VerdictRecord[] {
    return this.select("verdicts", f, "decided_us", "signal_id").map((r) => ({
      id: r["id"] as string,
      signalId: r["signal_id"] as string,
      policy: r["policy"] as string,
      rule: r["rule"] as string,
      action: r["action"] as string,
      scope: r["scope"] as string,
      namespace: r["namespace"] as string,
      podName: r["pod_name"] as string,
      riskScore: r["risk_score"] as number,
      reason: r["reason"] as string,
      decidedMs: usToMs(r["decided_us"] as number),
    }));
  }

  actions(f: EventFilter = {}): ActionRecord[] {
    return this.select("actions", f, "at_us", "signal_id").map((r) => ({
      ...(r["expires_us"] !== null ? { expiresMs: usToMs(r["expires_us"] as number) } : {}),
      seq: r["seq"] as number,
      enforcementId: r["enforcement_id"] as string,
      event: r["event"] as string,
      action: r["action"] as string,
      scope: r["scope"] as string,
      namespace: r["namespace"] as string,
      podName: r["pod_name"] as string,
      podIp: r["pod_ip"] as string,
      identity: r["identity"] as string,
      reason: r["reason"] as string,
      signalId: r["signal_id"] as string,
      by: r["by"] as string,
      atMs: usToMs(r["at_us"] as number),
      ...clusterOf(r),
    }));
  }

  chain(signalId: string): ChainRecord | undefined {
    const r = this.db.prepare(`SELECT * FROM chains WHERE signal_id = ?`).get(signalId) as Record<string, unknown> | undefined;
    return r && defined<ChainRecord>(r, {
      signal_id: "signalId",
      event_us: "eventUs",
      agent_sent_us: "agentSentUs",
      received_us: "receivedUs",
      verdict_us: "verdictUs",
      translated_us: "translatedUs",
      first_push_us: "firstPushUs",
      last_ack_us: "lastAckUs",
      cut_off_us: "cutOffUs",
      proxies: "proxies",
      acked: "acked",
      nacked: "nacked",
      latency_us: "latencyUs",
    });
  }

  /** Each push that carried a signal's enforcement, with the ACK or NACK that answered it. */
  deliveries(signalId: string): Delivery[] {
    const rows = this.db
      .prepare(
        `SELECT p.proxy_id, p.type_url, p.version, p.nonce, p.pushed_us, a.acked_us, a.nack
         FROM pushes p LEFT JOIN acks a
           ON a.signal_id = p.signal_id AND a.proxy_id = p.proxy_id AND a.type_url = p.type_url AND a.nonce = p.nonce
         WHERE p.signal_id = ? ORDER BY p.pushed_us, p.seq`,
      )
      .all(signalId) as Record<string, unknown>[];
    return rows.map((r) => ({
      proxyId: r["proxy_id"] as string,
      typeUrl: r["type_url"] as string,
      version: r["version"] as string,
      nonce: r["nonce"] as string,
      pushedMs: usToMs(r["pushed_us"] as number),
      ...(r["acked_us"] !== null ? { answeredMs: usToMs(r["acked_us"] as number), nack: r["nack"] === 1 } : {}),
    }));
  }

  /** How many pushes and ACKs were recorded for one signal (proxies reached). */
  pushCounts(signalId: string): { pushes: number; acks: number; nacks: number } {
    const p = this.db.prepare(`SELECT COUNT(*) AS n FROM pushes WHERE signal_id = ?`).get(signalId) as { n: number };
    const a = this.db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(nack), 0) AS k FROM acks WHERE signal_id = ?`).get(signalId) as { n: number; k: number };
    return { pushes: p.n, acks: a.n - a.k, nacks: a.k };
  }

  /** Signals, verdicts, actions and chains for one filter (deliveries too for one signal). */
  timeline(f: EventFilter = {}): AuditTimeline {
    const signals = this.signals(f);
    return {
      signals,
      verdicts: this.verdicts(f),
      actions: this.actions(f),
      chains: signals.map((s) => this.chain(s.id)).filter((c) => c !== undefined),
      ...(f.signal !== undefined ? { deliveries: this.deliveries(f.signal) } : {}),
    };
  }

  /** Persisted per-pod risk states, as the engine last wrote them (decay them to now to show). */
  riskStates(): WorkloadRiskState[] {
    const rows = this.db.prepare(`SELECT state FROM risk_scores`).all() as { state: string }[];
    return rows.map((r) => JSON.parse(r.state) as WorkloadRiskState);
  }
}
