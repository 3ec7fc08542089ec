// `meshward quarantine list|release <pod-or-id>`: the active enforcement actions in the data dir's
// audit database. A release here is picked up by a running control plane (EnforcementSet.reload).
import { userInfo } from "node:os";
import { systemClock } from "../risk/clock.js";
import { formatGoDuration } from "../risk/duration.js";
import { SqliteEnforcementStore } from "../risk/enforcement-store.js";
import { EnforcementSet, type Enforcement } from "../risk/quarantine.js";
import { podRef } from "../risk/signal.js";
import { spiffeId } from "../security/identity.js";
import type { Command } from "./main.js";
import { formatTable, isoTime, openCliAudit } from "./risk-output.js";
import { DATA_DIR_OPTION, FlagError, parseFlags, runCommand } from "./flags.js";

const USAGE = `usage: meshward quarantine list [--data-dir DIR] [--json]
       meshward quarantine release <enforcement-id | pod-uid | pod-ip | namespace/pod | pod> [--data-dir DIR] [--by NAME]`;

function expiresIn(e: Enforcement, now: number): string {
  if (e.expiresAtMs === undefined) return "never";
  return e.expiresAtMs <= now ? "due" : formatGoDuration(e.expiresAtMs - now);
}

function list(set: EnforcementSet, json: boolean): number {
  const now = systemClock.nowMs();
  const active = set.active();
  if (json) {
    console.log(JSON.stringify(active, null, 2));
    return 0;
  }
  if (active.length === 0) {
    console.log("no active enforcement");
    return 0;
  }
  const rows = active.map((e) => [
    e.id, e.action, e.scope, podRef(e.pod), e.pod.ip, e.scope === "identity" ? spiffeId(e.identity) : e.pod.serviceAccount,
    isoTime(e.createdAtMs), expiresIn(e, now), e.reason,
  ]);
  console.log(formatTable(["ID", "ACTION", "SCOPE", "POD", "IP", "IDENTITY", "CREATED", "EXPIRES IN", "REASON"], rows));
  return 0;
}

export const quarantineCommand: Command = {
  summary: "list or release active quarantines (and isolate-egress / revoke actions)",
  run: (args) =>
    runCommand("quarantine", USAGE, () => {
      const { values, positionals } = parseFlags(args, { ...DATA_DIR_OPTION, json: { type: "boolean", default: false }, by: { type: "string" } }, true);
      const [verb, target, ...extra] = positionals;
      if (verb !== "list" && verb !== "release") throw new FlagError(verb === undefined ? "missing subcommand (list or release)" : `unknown subcommand "${verb}"`);
      if (verb === "release" && target === undefined) throw new FlagError("release needs an enforcement id or a pod");
      const unexpected = verb === "list" ? target : extra[0];
      if (unexpected !== undefined) throw new FlagError(`unexpected argument "${unexpected}"`);
      const db = openCliAudit(values["data-dir"], verb === "list");
      try {
        const set = new EnforcementSet(new SqliteEnforcementStore(db), systemClock);
        if (verb === "list") return list(set, values.json);
        const released = set.release(target as string, values.by ?? `cli:${userInfo().username}`);
        if (released.length === 0) {
          console.error(`meshward quarantine: nothing active matches "${target}"`);
          return 1;
        }
        for (const e of released) console.log(`released ${e.id} (${e.action} ${e.scope} ${podRef(e.pod)} ${e.pod.ip})`);
        return 0;
      } finally {
        db.close();
      }
    }),
};
