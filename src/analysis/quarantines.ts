// MW0002: the enforcements in force, as analyze reports them, whether they come from the data dir's
// audit database (offline) or from a running control plane's live set (the read API).
import { formatGoDuration } from "../risk/duration.js";
import type { Enforcement } from "../risk/quarantine.js";
import { podRef } from "../risk/signal.js";
import { FINDINGS, type Finding } from "./findings.js";

/** One MW0002 finding per enforcement; `origin` names where they were read. */
export function quarantineFindingsOf(active: readonly Enforcement[], origin: string, nowMs: number): Finding[] {
  return active.map((e) => ({
    type: FINDINGS.quarantineInForce,
    object: `Pod ${podRef(e.pod)}`,
    origin,
    message: `${e.action} (${e.scope}) ${e.id} in force since ${new Date(e.createdAtMs).toISOString()}, ${e.expiresAtMs === undefined ? "no expiry" : e.expiresAtMs <= nowMs ? "due to expire" : `expires in ${formatGoDuration(e.expiresAtMs - nowMs)}`}: ${e.reason}`,
  }));
}
