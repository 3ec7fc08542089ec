// The audit trail shared by every replica in PostgreSQL (`--audit-db postgres://...`), so
// `meshward events --audit-db` shows one trail however many replicas took part.
//
// Each replica keeps writing its local audit database first (SQLite, synchronous and durable before
// a signal is acknowledged to its agent: the contract the risk stage relies on), and ships every row
// from there to PostgreSQL within moments (SHIP_EVERY_MS). PostgreSQL holds the rows verbatim,
// keyed so a row lands once even when a replica restarts mid-shipment: the cursor of what was shipped
// is committed in the same transaction as the rows. Readers load the rows they ask for (by time)
// into an in-memory copy of the audit schema and run the same queries as on a local database
// (audit-query.ts), so the two stores answer alike.
import pg from "pg";
import { AUDIT_DDL } from "./audit-schema.js";
import { DEFAULT_AUDIT_RETENTION_MS } from "./audit.js";
import { openDatabase, type Database, type SqlValue } from "./sqlite.js";

/** How often a replica ships new rows. */
export const SHIP_EVERY_MS = 200;
/** How often a replica prunes the shared trail to the local retention (DEFAULT_AUDIT_RETENTION_MS). */
const PRUNE_EVERY_MS = 3_600_000;
const BATCH_ROWS = 500;
/** Chains are updated until they complete or time out (60 s): rows this recent are shipped again. */
const CHAIN_RESHIP_US = 130 * 1_000_000;

const PG_DDL = `
CREATE TABLE IF NOT EXISTS meshward_audit_rows (
  tbl TEXT NOT NULL,
  key TEXT NOT NULL,
  replica TEXT NOT NULL,
  at_us BIGINT NOT NULL,
  row JSONB NOT NULL,
  PRIMARY KEY (tbl, key)
);
CREATE INDEX IF NOT EXISTS meshward_audit_rows_by_time ON meshward_audit_rows (at_us);
CREATE TABLE IF NOT EXISTS meshward_audit_cursors (
  replica TEXT NOT NULL,
  tbl TEXT NOT NULL,
  last BIGINT NOT NULL,
  PRIMARY KEY (replica, tbl)
);`;

interface TableSpec {
  /** The local table. */
  readonly name: string;
  /** Monotonic local position: rowid or an AUTOINCREMENT seq. */
  readonly position: "rowid" | "seq";
  /** The row's identity across replicas. */
  readonly key: (row: Record<string, unknown>, replica: string) => string;
  /** Its time, for readers' windows. */
  readonly at: string;
}

const TABLES: readonly TableSpec[] = [
  { name: "signals", position: "rowid", key: (r) => String(r["id"]), at: "received_us" },
  { name: "verdicts", position: "rowid", key: (r) => String(r["id"]), at: "decided_us" },
  { name: "actions", position: "seq", key: (r, replica) => `${replica}:${String(r["seq"])}`, at: "at_us" },
  { name: "chains", position: "rowid", key: (r) => String(r["signal_id"]), at: "received_us" },
  { name: "pushes", position: "seq", key: (r, replica) => `${replica}:${String(r["seq"])}`, at: "pushed_us" },
  { name: "acks", position: "seq", key: (r, replica) => `${replica}:${String(r["seq"])}`, at: "acked_us" },
];

/** `postgres://` or `postgresql://`; anything else is a usage error naming the flag. */
export function checkAuditDbUrl(url: string, flag = "--audit-db"): string {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error(`${flag} "${url.replace(/:[^:@/]*@/, ":***@")}": want a postgres:// URL`);
  return url;
}

export interface AuditShipperOptions {
  readonly url: string;
  /** This replica's name in the shared trail (its rows' `replica`). */
  readonly replica: string;
  /** The replica's local audit database (AuditStore.db). */
  readonly local: Database;
  readonly log?: (line: string) => void;
  /** Rows older than this are pruned from the shared trail (default DEFAULT_AUDIT_RETENTION_MS, 30 days). */
  readonly retentionMs?: number;
}

/** Ships one replica's local audit rows to the shared PostgreSQL trail. */
export class PostgresAuditShipper {
  private readonly pool: pg.Pool;
  private timer: NodeJS.Timeout | undefined;
  private shipping: Promise<void> | undefined;
  private stopped = false;
  private lastError = "";
  private lastPruneMs = 0;
  private tablesReady = false;
  /** Rows shipped since start, for tests and /metrics. */
  shipped = 0;

  constructor(private readonly opts: AuditShipperOptions) {
    // One connection: shipping is sequential, and the pool bounds what a replica holds open.
    this.pool = new pg.Pool({ connectionString: checkAuditDbUrl(opts.url), max: 1 });
    this.pool.on("error", (e) => this.report(e));
  }

  /**
   * Starts shipping (creating the shared tables if needed). A PostgreSQL that cannot be reached is
   * reported and tried again: the control plane serves without it, its rows wait locally.
   */
  async start(): Promise<void> {
    try {
      await this.ensureTables();
    } catch (e) {
      this.report(e);
    }
    this.schedule(0);
  }

  private async ensureTables(): Promise<void> {
    if (this.tablesReady) return;
    await this.pool.query(PG_DDL);
    this.tablesReady = true;
  }

  /** Ships everything committed locally so far (tests, and stop()). */
  async flush(): Promise<void> {
    while (this.shipping) await this.shipping;
    await this.shipOnce();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    try {
      await this.flush();
    } catch (e) {
      this.report(e);
    }
    await this.pool.end();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.shipping = this.shipOnce()
        .catch((e: unknown) => this.report(e))
        .finally(() => {
          this.shipping = undefined;
          this.schedule(SHIP_EVERY_MS);
        });
    }, ms);
    this.timer.unref();
  }

  private report(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    // Once per distinct problem: an unreachable server must not flood the log every 200 ms.
    if (message !== this.lastError) this.opts.log?.(`meshward audit: shipping to PostgreSQL failed (rows stay in the local audit database and follow): ${message}`);
    this.lastError = message;
  }

  private async shipOnce(): Promise<void> {
    await this.ensureTables();
    const client = await this.pool.connect();
    // A connection that breaks while checked out reports on the client too: never uncaught (the
    // query in flight rejects with it, and that is what is reported).
    const onError = (): void => undefined;
    client.on("error", onError);
    let failure: Error | undefined;
    try {
      for (const t of TABLES) {
        for (;;) {
          const n = await this.shipTable(client, t);
          if (n < BATCH_ROWS) break;
        }
      }
      await this.reshipRecentChains(client);
      if (Date.now() - this.lastPruneMs >= PRUNE_EVERY_MS) {
        this.lastPruneMs = Date.now();
        await client.query(`DELETE FROM meshward_audit_rows WHERE at_us < $1`, [(Date.now() - (this.opts.retentionMs ?? DEFAULT_AUDIT_RETENTION_MS)) * 1000]);
      }
      this.lastError = "";
    } catch (e) {
      failure = e instanceof Error ? e : new Error(String(e));
      throw e;
    } finally {
      client.off("error", onError);
      // A failed connection is closed, not handed out again.
      client.release(failure);
    }
  }

  private async shipTable(client: pg.PoolClient, t: TableSpec): Promise<number> {
    const { replica } = this.opts;
    const cursor = await client.query<{ last: string }>(`SELECT last FROM meshward_audit_cursors WHERE replica = $1 AND tbl = $2`, [replica, t.name]);
    const last = Number(cursor.rows[0]?.last ?? 0);
    const rows = this.opts.local.prepare(`SELECT ${t.position} AS _pos, * FROM ${t.name} WHERE ${t.position} > ? ORDER BY ${t.position} LIMIT ${BATCH_ROWS}`).all(last) as Record<string, unknown>[];
    if (rows.length === 0) return 0;
    const upsert = t.name === "chains" ? "DO UPDATE SET row = EXCLUDED.row, at_us = EXCLUDED.at_us" : "DO NOTHING";
    await client.query("BEGIN");
    try {
      for (const r of rows) {
        const { _pos: _ignored, ...row } = r;
        await client.query(`INSERT INTO meshward_audit_rows (tbl, key, replica, at_us, row) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tbl, key) ${upsert}`, [
          t.name, t.key(row, replica), replica, Number(row[t.at] ?? 0), JSON.stringify(row),
        ]);
      }
      const pos = Number(rows[rows.length - 1]!["_pos"]);
      await client.query(
        `INSERT INTO meshward_audit_cursors (replica, tbl, last) VALUES ($1, $2, $3) ON CONFLICT (replica, tbl) DO UPDATE SET last = EXCLUDED.last`,
        [replica, t.name, pos],
      );
      await client.query("COMMIT");
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw e;
    }
    this.shipped += rows.length;
    return rows.length;
  }

  /** Chains gain stages (pushes, ACKs) after their row was first shipped. */
  private async reshipRecentChains(client: pg.PoolClient): Promise<void> {
    const since = Date.now() * 1000 - CHAIN_RESHIP_US;
    const rows = this.opts.local.prepare(`SELECT * FROM chains WHERE received_us >= ?`).all(since) as Record<string, unknown>[];
    for (const row of rows) {
      await client.query(
        `UPDATE meshward_audit_rows SET row = $3 WHERE tbl = 'chains' AND key = $1 AND replica = $2 AND row IS DISTINCT FROM $3::jsonb`,
        [String(row["signal_id"]), this.opts.replica, JSON.stringify(row)],
      );
    }
  }
}

/**
 * The shared trail (rows whose time is in [sinceMs, untilMs], all when absent) as an in-memory
 * audit database: AuditQuery answers on it as on a replica's own file.
 */
export async function loadSharedTrail(url: string, window: { readonly sinceMs?: number; readonly untilMs?: number } = {}): Promise<Database> {
  const client = new pg.Client({ connectionString: checkAuditDbUrl(url) });
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regclass('meshward_audit_rows') IS NOT NULL AS ok`);
    if (exists.rows[0]?.ok !== true) throw new Error(`${url.replace(/:[^:@/]*@/, ":***@")}: no meshward audit trail here (no replica has shipped to it yet)`);
    // Chains and the rows a chain needs (its pushes and ACKs) are read by signal, not by time.
    const since = window.sinceMs === undefined ? null : Math.floor(window.sinceMs * 1000);
    const until = window.untilMs === undefined ? null : Math.ceil(window.untilMs * 1000);
    const r = await client.query<{ tbl: string; row: Record<string, SqlValue> }>(
      `WITH windowed AS (
         SELECT tbl, key, at_us, row FROM meshward_audit_rows
          WHERE ($1::bigint IS NULL OR at_us >= $1) AND ($2::bigint IS NULL OR at_us <= $2))
       SELECT tbl, key, at_us, row FROM windowed WHERE tbl IN ('signals', 'verdicts', 'actions')
       UNION ALL
       SELECT a.tbl, a.key, a.at_us, a.row FROM meshward_audit_rows a
        WHERE a.tbl IN ('chains', 'pushes', 'acks')
          AND a.row->>'signal_id' IN (SELECT key FROM windowed WHERE tbl = 'signals')
       ORDER BY at_us, tbl, key`,
      [since, until],
    );
    const db = openDatabase(":memory:");
    db.exec(AUDIT_DDL);
    const inserts = new Map<string, ReturnType<Database["prepare"]>>();
    // Column names come from the schema, never from the stored rows.
    const columns = new Map(TABLES.map((t) => [t.name, new Set((db.prepare(`PRAGMA table_info(${t.name})`).all() as { name: string }[]).map((c) => c.name))]));
    const insert = (tbl: string, row: Record<string, SqlValue>): void => {
      // Local sequence numbers mean nothing across replicas: the copy numbers rows afresh, in time order.
      const known = columns.get(tbl)!;
      const cols = Object.keys(row).filter((c) => c !== "seq" && known.has(c));
      const sql = `INSERT OR IGNORE INTO ${tbl} (${cols.join(", ")}) VALUES (${cols.map((c) => `@${c}`).join(", ")})`;
      let stmt = inserts.get(sql);
      if (stmt === undefined) inserts.set(sql, (stmt = db.prepare(sql)));
      stmt.run(Object.fromEntries(cols.map((c) => [c, row[c] ?? null])));
    };
    db.transaction(() => {
      for (const { tbl, row } of r.rows) if (TABLES.some((t) => t.name === tbl)) insert(tbl, row);
    })();
    return db;
  } finally {
    await client.end();
  }
}
