// The server's view of whether a proxy holds what it was sent, per xDS type: the states
// `istioctl proxy-status` shows (SYNCED, NOT SENT, STALE, NACKED), computed from a stream's type
// status. Kept apart from the CSDS service so the CLI and the console read the same rule.
import type { TypeStatus } from "../xds/events.js";

export type SyncState = "SYNCED" | "NOT SENT" | "STALE" | "NACKED";

/** Worst first: a proxy's state for a type is the worst over its streams. */
const severity: Readonly<Record<SyncState, number>> = { NACKED: 3, STALE: 2, "NOT SENT": 1, SYNCED: 0 };

export function syncState(t: TypeStatus | undefined): SyncState {
  if (t === undefined || t.sentNonce === "") return "NOT SENT";
  if (!t.pending && t.lastNack !== undefined && t.lastNack.nonce === t.sentNonce) return "NACKED";
  if (t.pending || t.ackedVersion !== t.sentVersion) return "STALE";
  return "SYNCED";
}

/** A proxy's state for a type over the streams that carry it; no such stream: NOT SENT. */
export function worstSyncState(states: readonly SyncState[]): SyncState {
  let worst: SyncState | undefined;
  for (const s of states) if (worst === undefined || severity[s] > severity[worst]) worst = s;
  return worst ?? "NOT SENT";
}
