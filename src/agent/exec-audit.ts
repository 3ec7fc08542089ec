// Exec audit: every command run in a container inside an interactive session (a process with a
// terminal, e.g. `kubectl exec -it`), with argv, uid, tty, parent chain, pod and container.
// SQLite in the agent's data directory, so it is searchable after the fact. Bounded by age and
// row count (oldest first), so a busy interactive session cannot fill the node's disk.
import { openPrivateDatabase, type Database, type Statement } from "../risk/sqlite.js";

export interface ExecAuditRecord {
  readonly time: string;
  readonly node: string;
  readonly podUid: string;
  readonly podNamespace: string;
  readonly podName: string;
  readonly containerId: string;
  readonly containerName: string;
  readonly execId: string;
  readonly parentExecId: string;
  readonly sessionExecId: string;
  readonly pid: number;
  readonly uid: number;
  readonly tty: string;
  readonly binary: string;
  readonly argv: string[];
  readonly ancestors: string[];
}

export interface ExecAuditQuery {
  readonly pod?: string;          // pod name or UID
  readonly namespace?: string;
  readonly container?: string;    // container name or id prefix
  readonly session?: string;
  readonly text?: string;         // substring of the command line
  readonly since?: string;        // ISO time
  readonly limit?: number;
}

export interface ExecAuditRetention {
  /** Records older than this are deleted; default 14 days. */
  readonly maxAgeMs?: number;
  /** At most this many records are kept, the oldest go first; default 250,000 (about 125 MB). */
  readonly maxRows?: number;
}

export const DEFAULT_AUDIT_MAX_AGE_MS = 14 * 24 * 3600 * 1000;
export const DEFAULT_AUDIT_MAX_ROWS = 250_000;
/** Retention is enforced every this many inserts (and by the agent at start and hourly). */
const PRUNE_EVERY = 1000;

export class ExecAudit {
  private readonly db: Database;
  private readonly insert: Statement;
  private readonly maxAgeMs: number;
  private readonly maxRows: number;
  private sincePrune = 0;

  constructor(file: string, retention: ExecAuditRetention = {}) {
    this.maxAgeMs = retention.maxAgeMs ?? DEFAULT_AUDIT_MAX_AGE_MS;
    this.maxRows = retention.maxRows ?? DEFAULT_AUDIT_MAX_ROWS;
    this.db = openPrivateDatabase(file); // argv can carry secrets
    this.db.exec(`CREATE TABLE IF NOT EXISTS exec_audit (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, node TEXT NOT NULL,
      pod_uid TEXT, pod_namespace TEXT, pod_name TEXT, container_id TEXT, container_name TEXT,
      exec_id TEXT NOT NULL, parent_exec_id TEXT, session_exec_id TEXT, pid INTEGER, uid INTEGER, tty TEXT,
      binary TEXT, argv TEXT, cmdline TEXT, ancestors TEXT);
      CREATE INDEX IF NOT EXISTS exec_audit_pod ON exec_audit(pod_uid, time);
      CREATE INDEX IF NOT EXISTS exec_audit_session ON exec_audit(session_exec_id);
      CREATE INDEX IF NOT EXISTS exec_audit_time ON exec_audit(time);`);
    this.insert = this.db.prepare(`INSERT INTO exec_audit (time, node, pod_uid, pod_namespace, pod_name, container_id, container_name,
      exec_id, parent_exec_id, session_exec_id, pid, uid, tty, binary, argv, cmdline, ancestors)
      VALUES (@time, @node, @podUid, @podNamespace, @podName, @containerId, @containerName, @execId, @parentExecId,
      @sessionExecId, @pid, @uid, @tty, @binary, @argv, @cmdline, @ancestors)`);
  }

  record(r: ExecAuditRecord): void {
    this.insert.run({ ...r, argv: JSON.stringify(r.argv), cmdline: r.argv.join(" "), ancestors: JSON.stringify(r.ancestors) });
    if (++this.sincePrune >= PRUNE_EVERY) this.prune();
  }

  /** Deletes records past the age bound, then the oldest past the row bound; returns how many. */
  prune(nowMs = Date.now()): number {
    this.sincePrune = 0;
    const cutoff = new Date(nowMs - this.maxAgeMs).toISOString();
    let deleted = this.db.prepare("DELETE FROM exec_audit WHERE time < ?").run(cutoff).changes;
    const row = this.db.prepare("SELECT seq FROM exec_audit ORDER BY seq DESC LIMIT 1 OFFSET ?").get(this.maxRows - 1) as { seq: number } | undefined;
    if (row !== undefined) deleted += this.db.prepare("DELETE FROM exec_audit WHERE seq < ?").run(row.seq).changes;
    return deleted;
  }

  count(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM exec_audit").get() as { n: number }).n;
  }

  search(q: ExecAuditQuery): ExecAuditRecord[] {
    // Each query field: the clause it adds and the parameters it binds.
    const filters: Array<[string | undefined, string, (v: string) => Record<string, string>]> = [
      [q.pod, "(pod_uid = @pod OR pod_name = @pod)", (v) => ({ pod: v })],
      [q.namespace, "pod_namespace = @namespace", (v) => ({ namespace: v })],
      [q.container, "(container_name = @container OR container_id LIKE @containerPrefix)", (v) => ({ container: v, containerPrefix: `${v}%` })],
      [q.session, "session_exec_id = @session", (v) => ({ session: v })],
      [q.text, "instr(cmdline, @text) > 0", (v) => ({ text: v })],
      [q.since, "time >= @since", (v) => ({ since: v })],
    ];
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    for (const [value, clause, bind] of filters) {
      if (!value) continue;
      where.push(clause);
      Object.assign(params, bind(value));
    }
    params.limit = q.limit ?? 1000;
    const sql = `SELECT * FROM exec_audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq LIMIT @limit`;
    return (this.db.prepare(sql).all(params) as Array<Record<string, string | number>>).map((row) => ({
      time: String(row.time), node: String(row.node), podUid: String(row.pod_uid ?? ""), podNamespace: String(row.pod_namespace ?? ""),
      podName: String(row.pod_name ?? ""), containerId: String(row.container_id ?? ""), containerName: String(row.container_name ?? ""),
      execId: String(row.exec_id), parentExecId: String(row.parent_exec_id ?? ""), sessionExecId: String(row.session_exec_id ?? ""),
      pid: Number(row.pid), uid: Number(row.uid), tty: String(row.tty ?? ""), binary: String(row.binary ?? ""),
      argv: JSON.parse(String(row.argv ?? "[]")) as string[], ancestors: JSON.parse(String(row.ancestors ?? "[]")) as string[],
    }));
  }

  close(): void {
    this.db.close();
  }
}
