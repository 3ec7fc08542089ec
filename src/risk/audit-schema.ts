// The audit database's tables and how a connection to it is opened. One SQLite file in the data
// dir holds the audit trail (signals, verdicts, actions, pushes, ACKs, chains), the active
// enforcement set and the persisted risk scores, so the CLI and the control plane share it.
// Times are integer microseconds since the Unix epoch (`*_us`).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openDatabase, openPrivateDatabase, type Database } from "./sqlite.js";

export const AUDIT_DB_FILE = "audit.db";

const SCHEMA_VERSION = 1;

/** The audit tables (also built in memory for the shared PostgreSQL trail: audit-postgres.ts). */
export const AUDIT_DDL = `
CREATE TABLE IF NOT EXISTS signals (
  id TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  pod_uid TEXT NOT NULL,
  namespace TEXT NOT NULL,
  pod_name TEXT NOT NULL,
  service_account TEXT NOT NULL,
  pod_ip TEXT NOT NULL,
  container TEXT NOT NULL,
  pid INTEGER NOT NULL,
  binary TEXT NOT NULL,
  args TEXT NOT NULL,
  proc_uid INTEGER NOT NULL,
  detection TEXT NOT NULL,
  severity TEXT NOT NULL,
  technique TEXT NOT NULL,
  event_us INTEGER NOT NULL,
  monotonic_ns TEXT,
  agent_sent_us INTEGER,
  received_us INTEGER NOT NULL,
  raw TEXT NOT NULL,
  cluster TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS signals_by_pod ON signals(namespace, pod_name, received_us);
CREATE INDEX IF NOT EXISTS signals_by_pod_uid ON signals(pod_uid, received_us);
CREATE INDEX IF NOT EXISTS signals_by_detection ON signals(detection, received_us);
CREATE INDEX IF NOT EXISTS signals_by_time ON signals(received_us);

CREATE TABLE IF NOT EXISTS verdicts (
  id TEXT PRIMARY KEY,
  signal_id TEXT NOT NULL,
  policy TEXT NOT NULL,
  rule TEXT NOT NULL,
  action TEXT NOT NULL,
  scope TEXT NOT NULL,
  duration_ms INTEGER,
  pod_uid TEXT NOT NULL,
  namespace TEXT NOT NULL,
  pod_name TEXT NOT NULL,
  risk_score REAL NOT NULL,
  reason TEXT NOT NULL,
  decided_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_by_signal ON verdicts(signal_id);
CREATE INDEX IF NOT EXISTS verdicts_by_pod ON verdicts(namespace, pod_name, decided_us);
CREATE INDEX IF NOT EXISTS verdicts_by_time ON verdicts(decided_us);

CREATE TABLE IF NOT EXISTS actions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  enforcement_id TEXT NOT NULL,
  event TEXT NOT NULL,
  action TEXT NOT NULL,
  scope TEXT NOT NULL,
  pod_uid TEXT NOT NULL,
  namespace TEXT NOT NULL,
  pod_name TEXT NOT NULL,
  pod_ip TEXT NOT NULL,
  identity TEXT NOT NULL,
  reason TEXT NOT NULL,
  signal_id TEXT NOT NULL,
  verdict_id TEXT NOT NULL,
  by TEXT NOT NULL,
  at_us INTEGER NOT NULL,
  expires_us INTEGER,
  cluster TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS actions_by_enforcement ON actions(enforcement_id);
CREATE INDEX IF NOT EXISTS actions_by_signal ON actions(signal_id);
CREATE INDEX IF NOT EXISTS actions_by_pod ON actions(namespace, pod_name, at_us);
CREATE INDEX IF NOT EXISTS actions_by_time ON actions(at_us);

CREATE TABLE IF NOT EXISTS enforcements (
  id TEXT PRIMARY KEY,
  record TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS pushes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  signal_id TEXT NOT NULL,
  proxy_id TEXT NOT NULL,
  type_url TEXT NOT NULL,
  version TEXT NOT NULL,
  nonce TEXT NOT NULL,
  pushed_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pushes_by_signal ON pushes(signal_id);
CREATE INDEX IF NOT EXISTS pushes_by_time ON pushes(pushed_us);

CREATE TABLE IF NOT EXISTS acks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  signal_id TEXT NOT NULL,
  proxy_id TEXT NOT NULL,
  type_url TEXT NOT NULL,
  version TEXT NOT NULL,
  nonce TEXT NOT NULL,
  nack INTEGER NOT NULL,
  acked_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS acks_by_signal ON acks(signal_id);
CREATE INDEX IF NOT EXISTS acks_by_time ON acks(acked_us);

CREATE TABLE IF NOT EXISTS chains (
  signal_id TEXT PRIMARY KEY,
  event_us INTEGER NOT NULL,
  agent_sent_us INTEGER,
  received_us INTEGER NOT NULL,
  verdict_us INTEGER,
  translated_us INTEGER,
  first_push_us INTEGER,
  last_ack_us INTEGER,
  cut_off_us INTEGER,
  proxies INTEGER,
  acked INTEGER,
  nacked INTEGER,
  latency_us INTEGER
);
CREATE INDEX IF NOT EXISTS chains_by_time ON chains(received_us);

CREATE TABLE IF NOT EXISTS risk_scores (
  pod_uid TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  as_of_us INTEGER NOT NULL
);
`;

/**
 * Opens (creating if needed, unless `mustExist`) the audit database in `dataDir`: WAL, so readers (the CLI) never
 * block the control plane, and synchronous=FULL, so a committed transaction survives power loss,
 * not only a process crash; records acknowledged to an agent depend on that.
 */
export function openAuditDatabase(dataDir: string, opts: { readonly?: boolean; mustExist?: boolean } = {}): Database {
  const file = join(dataDir, AUDIT_DB_FILE);
  if ((opts.readonly || opts.mustExist) && !existsSync(file)) throw new Error(`no audit database at ${file} (is --data-dir right?)`);
  if (opts.readonly) return openDatabase(file, { readonly: true, fileMustExist: true, timeout: 5000 });
  // The trail names pods and processes; keep it private like the CA's keys.
  const db = openPrivateDatabase(file, { timeout: 5000 });
  db.pragma("synchronous = FULL", { simple: true });
  db.pragma("foreign_keys = ON", { simple: true });
  const version = Number(db.pragma("user_version", { simple: true }));
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new Error(`${file}: schema version ${version} is newer than this meshward understands (${SCHEMA_VERSION})`);
  }
  db.exec(AUDIT_DDL);
  addMissingColumns(db);
  db.pragma(`user_version = ${SCHEMA_VERSION}`, { simple: true });
  return db;
}

/**
 * Columns added after a table was first created in some data dir (CREATE TABLE IF NOT EXISTS
 * leaves an existing table as it was). Older meshwards read such a database unchanged.
 */
const ADDED_COLUMNS: readonly { table: string; column: string; type: string }[] = [
  // Issue 18: when the resources that cut the pod off were ACKed by the last affected proxy.
  { table: "chains", column: "cut_off_us", type: "INTEGER" },
  // Issue 12: the cluster of the pod a signal or an action is about ("" when not known).
  { table: "signals", column: "cluster", type: "TEXT NOT NULL DEFAULT ''" },
  { table: "actions", column: "cluster", type: "TEXT NOT NULL DEFAULT ''" },
];

function addMissingColumns(db: Database): void {
  for (const { table, column, type } of ADDED_COLUMNS) {
    const have = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
    if (!have) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
}

export function msToUs(ms: number): number {
  return Math.round(ms * 1000);
}

export function usToMs(us: number): number {
  return us / 1000;
}
