// What the risk commands (quarantine, risk, events) share: opening the audit database in the data
// directory, and printing aligned columns.
import { openAuditDatabase } from "../risk/audit-schema.js";
import type { Database } from "../risk/sqlite.js";

/**
 * Opens `<data-dir>/audit.db`, which must exist (a wrong --data-dir must not create an empty one);
 * read-only unless the command changes state.
 */
export function openCliAudit(dataDir: string, readonly: boolean): Database {
  return openAuditDatabase(dataDir, { readonly, mustExist: true });
}

/** Left-aligned columns separated by two spaces, header first, like kubectl get. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** UTC, millisecond precision: chain stages are milliseconds apart. */
export function isoTime(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}
