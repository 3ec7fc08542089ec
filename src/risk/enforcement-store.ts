// The active enforcement set kept in the audit database: the control plane and
// `meshward quarantine release` (another process) share it, SQLite serialises their writes, and
// `PRAGMA data_version` tells the control plane that the CLI changed something.
import { msToUs } from "./audit-schema.js";
import type { Enforcement, EnforcementAlert, EnforcementStore } from "./quarantine.js";
import { spiffeId } from "../security/identity.js";
import type { Database, Statement } from "./sqlite.js";

export class SqliteEnforcementStore implements EnforcementStore {
  private seenVersion: number;
  private readonly upsert: Statement;
  private readonly remove: Statement;
  private readonly action: Statement;

  constructor(private readonly db: Database) {
    this.upsert = db.prepare(`INSERT OR REPLACE INTO enforcements (id, record) VALUES (?, ?)`);
    this.remove = db.prepare(`DELETE FROM enforcements WHERE id = ?`);
    this.action = db.prepare(
      `INSERT INTO actions (enforcement_id, event, action, scope, pod_uid, namespace, pod_name, pod_ip, identity, reason,
         signal_id, verdict_id, by, at_us, expires_us, cluster) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.seenVersion = this.dataVersion();
  }

  /** Changes whenever another connection commits to the file (not on our own commits). */
  private dataVersion(): number {
    return Number(this.db.pragma("data_version", { simple: true }));
  }

  loadActive(): Enforcement[] {
    this.seenVersion = this.dataVersion();
    const rows = this.db.prepare(`SELECT record FROM enforcements ORDER BY id`).all() as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as Enforcement);
  }

  private recordAction(e: Enforcement, event: string, atMs: number, by: string, reason = e.reason): void {
    this.action.run(
      e.id, event, e.action, e.scope, e.pod.uid, e.pod.namespace, e.pod.name, e.pod.ip, spiffeId(e.identity), reason,
      e.signalId, e.verdictId, by, msToUs(atMs), e.expiresAtMs === undefined ? null : msToUs(e.expiresAtMs), e.pod.cluster ?? "",
    );
  }

  put(e: Enforcement, event: "created" | "extended", atMs: number): void {
    this.db.transaction(() => {
      this.upsert.run(e.id, JSON.stringify(e));
      this.recordAction(e, event, atMs, e.policy);
    })();
  }

  end(e: Enforcement, event: "released" | "expired", atMs: number, by: string): void {
    this.db.transaction(() => {
      // Another process may have ended it first; record the action only once.
      if (this.remove.run(e.id).changes > 0) this.recordAction(e, event, atMs, by);
    })();
  }

  alert(e: Enforcement, event: EnforcementAlert, reason: string, atMs: number): void {
    this.recordAction(e, event, atMs, "control-plane", reason);
  }

  changedElsewhere(): boolean {
    return this.dataVersion() !== this.seenVersion;
  }
}
