// `meshward quarantine list|release <pod-or-id>`: the active enforcement actions in the data dir's
// audit database. A release here is picked up by a running control plane (EnforcementSet.reload).
// With --kubeconfig: the WorkloadEnforcement objects every replica shares; a release deletes them,
// which ends the enforcement on every replica.
import { userInfo } from "node:os";
import { systemClock } from "../risk/clock.js";
import { formatGoDuration } from "../risk/duration.js";
import { SqliteEnforcementStore } from "../risk/enforcement-store.js";
import { EnforcementSet, MemoryEnforcementStore, type Enforcement } from "../risk/quarantine.js";
import { loadKubeConfig } from "../kube/client.js";
import { KubeEnforcementSync } from "../kube/enforcement-store.js";
import { podRef } from "../risk/signal.js";
import { spiffeId } from "../security/identity.js";
import type { Command } from "./main.js";
import { formatTable, isoTime, openCliAudit } from "./risk-output.js";
import { DATA_DIR_OPTION, FlagError, parseFlags, runCommand } from "./flags.js";
import { CONSOLE_FLAGS, CONSOLE_USAGE, ConsoleClient } from "./console-client.js";
import type { EnforcementView } from "../console/risk-view.js";

const USAGE = `usage: meshward quarantine list [--data-dir DIR | --kubeconfig FILE] [--console ADDR] [--json]
       meshward quarantine release <enforcement-id | pod-uid | pod-ip | namespace/pod | pod> [--data-dir DIR | --kubeconfig FILE] [--console ADDR] [--by NAME]
  --kubeconfig  the cluster's WorkloadEnforcement objects, which every replica enforces (default: the data dir's)
With a control plane running on this data dir, list and release go through its read API (a release
takes effect at once, recorded as by console:<caller>); otherwise the data dir's audit database.
${CONSOLE_USAGE}`;

function expiresIn(e: Enforcement, now: number): string {
  if (e.expiresAtMs === undefined) return "never";
  return e.expiresAtMs <= now ? "due" : formatGoDuration(e.expiresAtMs - now);
}

function list(active: readonly Enforcement[], json: boolean): number {
  const now = systemClock.nowMs();
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

/** How long a release waits for the apiserver to delete the objects. */
const KUBE_WRITE_WAIT_MS = 30_000;

function release(set: EnforcementSet, target: string, by: string | undefined): number {
  return printReleased(set.release(target, by ?? `cli:${userInfo().username}`), target);
}

function printReleased(released: readonly Enforcement[], target: string): number {
  if (released.length === 0) {
    console.error(`meshward quarantine: nothing active matches "${target}"`);
    return 1;
  }
  for (const e of released) console.log(`released ${e.id} (${e.action} ${e.scope} ${podRef(e.pod)} ${e.pod.ip})`);
  return 0;
}

export const quarantineCommand: Command = {
  summary: "list or release active quarantines (and isolate-egress / revoke actions)",
  run: (args) =>
    runCommand("quarantine", USAGE, async () => {
      const { values, positionals } = parseFlags(args, { ...DATA_DIR_OPTION, ...CONSOLE_FLAGS, json: { type: "boolean", default: false }, by: { type: "string" }, kubeconfig: { type: "string" } }, true);
      const [verb, target, ...extra] = positionals;
      if (verb !== "list" && verb !== "release") throw new FlagError(verb === undefined ? "missing subcommand (list or release)" : `unknown subcommand "${verb}"`);
      if (verb === "release" && target === undefined) throw new FlagError("release needs an enforcement id or a pod");
      const unexpected = verb === "list" ? target : extra[0];
      if (unexpected !== undefined) throw new FlagError(`unexpected argument "${unexpected}"`);
      if (values.kubeconfig !== undefined) {
        const shared = new KubeEnforcementSync(loadKubeConfig({ kubeconfig: values.kubeconfig }), (l) => console.error(l));
        await shared.start();
        try {
          const set = new EnforcementSet(shared.storeOver(new MemoryEnforcementStore()), systemClock);
          if (verb === "list") return list(set.active(), values.json);
          const code = release(set, target as string, values.by);
          await Promise.race([shared.flushed(), new Promise((r) => setTimeout(r, KUBE_WRITE_WAIT_MS).unref())]);
          if (shared.unwritten > 0) throw new Error(`the apiserver did not take the release within ${KUBE_WRITE_WAIT_MS / 1000} s (see the errors above)`);
          return code;
        } finally {
          await shared.stop();
        }
      }
      const server = await ConsoleClient.forCommand(values, values["data-dir"]);
      if (server !== undefined) {
        if (verb === "list") return list(await server.get<EnforcementView[]>("/api/v1/quarantines"), values.json);
        const r = await server.post<{ released: EnforcementView[] }>("/api/v1/quarantines/release", { target, by: values.by ?? `cli:${userInfo().username}` });
        return printReleased(r.released, target as string);
      }
      const db = openCliAudit(values["data-dir"], verb === "list");
      try {
        const set = new EnforcementSet(new SqliteEnforcementStore(db), systemClock);
        if (verb === "list") return list(set.active(), values.json);
        return release(set, target as string, values.by);
      } finally {
        db.close();
      }
    }),
};
