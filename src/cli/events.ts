// `meshward events`: the audit trail (signals, verdicts, enforcement actions and each signal's
// syscall -> last ACK chain) from the data dir's audit database, filtered by pod, namespace,
// detection and time. The audit database is the system of record for signals; `--server` asks a
// running control plane's signal API instead (for a node's token, or `--agents`: its node agents'
// hooks and health, which only the running control plane holds).
import { printAgents, printApiSignals } from "./signal-api-output.js";
import { AuditQuery, type AuditTimeline, type EventFilter } from "../risk/audit-query.js";
import { CONSOLE_FLAGS, CONSOLE_USAGE, ConsoleClient } from "./console-client.js";
import { checkAuditDbUrl, loadSharedTrail } from "../risk/audit-postgres.js";
import { systemClock } from "../risk/clock.js";
import { parseGoDuration } from "../risk/duration.js";
import type { Command } from "./main.js";
import { formatTable, isoTime, openCliAudit } from "./risk-output.js";
import { DATA_DIR_OPTION, FlagError, parseFlags, runCommand } from "./flags.js";

const USAGE = `usage: meshward events [--pod P] [--namespace N] [--detection D] [--signal ID] [--since T] [--until T] [--limit N] [--data-dir DIR [--console ADDR] | --audit-db URL] [--json]
       meshward events --server HOST:PORT [--agents] [--node N] [--pod UID] [--namespace N] [--detection D] [--since T] [--limit N] [--token-file F] [--tls-ca F] [--json]
  --server     ask a running control plane's signal API (token from --token-file or $MESHWARD_TOKEN)
  --audit-db   read the trail every replica shares in PostgreSQL (postgres://..., as serve --audit-db)
  --agents     each node agent's hooks, unavailable hooks and what it could not deliver (drops)
  --pod        pod name, namespace/name or UID
  --detection  detection id, or a prefix ending in * (quote it)
  --signal     one signal, with every push of its enforcement and each proxy's ACK
  --since/--until  an RFC 3339 time, or a Go duration meaning that long ago (30m, 2h)
A reader token for --server:
  meshward token create --namespace meshward-system --service-account <reader> --audience meshward-signals
(a node's own token lists only that node's signals).
With a control plane running on this data dir (and neither --server nor --audit-db), the timeline
comes from its read API; --token-file and --tls-ca then apply to it.
${CONSOLE_USAGE.split("\n").slice(0, 2).join("\n")}`;

/** An RFC 3339 time or a duration before `nowMs`. */
export function parseTimeFlag(flag: string, value: string, nowMs: number): number {
  const d = parseGoDuration(value);
  if (!("error" in d)) return nowMs - d.ms;
  const t = Date.parse(value);
  if (Number.isNaN(t) || !/^\d{4}-\d\d-\d\d/.test(value)) throw new Error(`--${flag} "${value}": want an RFC 3339 time or a duration such as 30m`);
  return t;
}

function filterFrom(values: Record<string, string | boolean | undefined>, nowMs: number): EventFilter {
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const limit = str("limit");
  if (limit !== undefined && !/^[1-9]\d*$/.test(limit)) throw new Error(`--limit "${limit}": want a positive integer`);
  const since = str("since");
  const until = str("until");
  return {
    ...(str("pod") !== undefined ? { pod: str("pod") as string } : {}),
    ...(str("namespace") !== undefined ? { namespace: str("namespace") as string } : {}),
    ...(str("detection") !== undefined ? { detection: str("detection") as string } : {}),
    ...(str("signal") !== undefined ? { signal: str("signal") as string } : {}),
    ...(since !== undefined ? { sinceMs: parseTimeFlag("since", since, nowMs) } : {}),
    ...(until !== undefined ? { untilMs: parseTimeFlag("until", until, nowMs) } : {}),
    ...(limit !== undefined ? { limit: Number(limit) } : {}),
  };
}

function ms(us: number | undefined, fromUs: number): string {
  if (us === undefined) return "-";
  const d = (us - fromUs) / 1000;
  // Negative when the agent's clock runs ahead of the node's kernel-derived event time.
  return `${d >= 0 ? "+" : ""}${d.toFixed(1)}ms`;
}

/** The read API's query for a filter (its row limit is the same as the data dir's default). */
function timelineQuery(f: EventFilter): string {
  const q = new URLSearchParams();
  for (const k of ["pod", "namespace", "detection", "signal"] as const) if (f[k] !== undefined) q.set(k, f[k]);
  if (f.sinceMs !== undefined) q.set("sinceMs", String(Math.floor(f.sinceMs)));
  if (f.untilMs !== undefined) q.set("untilMs", String(Math.ceil(f.untilMs)));
  q.set("limit", String(f.limit ?? 1000));
  return q.toString();
}

/** The timeline as JSON, or one table row per record, oldest first. */
function printTimeline(t: AuditTimeline, json: boolean): number {
  const { signals, verdicts, actions, chains } = t;
  const deliveries = t.deliveries ?? [];
  if (json) {
    console.log(JSON.stringify(t, null, 2));
    return 0;
  }
  const podOf = new Map(signals.map((s) => [s.id, `${s.namespace}/${s.podName}`]));
  const rows: { at: number; cells: string[] }[] = [];
  for (const s of signals) {
    rows.push({ at: s.receivedMs, cells: [isoTime(s.receivedMs), "signal", `${s.namespace}/${s.podName}`, `${s.detection} ${s.severity} ${s.technique} ${s.binary} pid=${s.pid} uid=${s.procUid} node=${s.node} id=${s.id}`] });
  }
  for (const v of verdicts) {
    rows.push({ at: v.decidedMs, cells: [isoTime(v.decidedMs), "verdict", `${v.namespace}/${v.podName}`, `${v.action} ${v.scope} by ${v.policy} ${v.rule} (risk ${v.riskScore.toFixed(0)}) signal=${v.signalId}`] });
  }
  for (const a of actions) {
    const exp = a.expiresMs !== undefined && (a.event === "created" || a.event === "extended") ? ` until ${isoTime(a.expiresMs)}` : "";
    rows.push({ at: a.atMs, cells: [isoTime(a.atMs), a.event, `${a.namespace}/${a.podName}`, `${a.action} ${a.scope} ${a.enforcementId}${exp} by ${a.by}`] });
  }
  for (const c of chains) {
    if (c.translatedUs === undefined) continue;
    const stages = `agent ${ms(c.agentSentUs, c.eventUs)} received ${ms(c.receivedUs, c.eventUs)} verdict ${ms(c.verdictUs, c.eventUs)} translated ${ms(c.translatedUs, c.eventUs)} first push ${ms(c.firstPushUs, c.eventUs)} last ACK ${ms(c.lastAckUs, c.eventUs)}`;
    const at = (c.lastAckUs ?? c.translatedUs) / 1000;
    const total = c.latencyUs === undefined ? "incomplete" : `${(c.latencyUs / 1000).toFixed(1)}ms`;
    rows.push({ at, cells: [isoTime(at), "chain", podOf.get(c.signalId) ?? "-", `signal=${c.signalId} syscall->last ACK ${total} over ${c.proxies ?? 0} proxies (${c.acked ?? 0} ACK, ${c.nacked ?? 0} NACK): ${stages}`] });
  }
  for (const d of deliveries) {
    const answer = d.answeredMs === undefined ? "no answer" : `${d.nack ? "NACK" : "ACK"} after ${(d.answeredMs - d.pushedMs).toFixed(1)}ms`;
    rows.push({ at: d.pushedMs, cells: [isoTime(d.pushedMs), "push", d.proxyId, `${d.typeUrl} version=${d.version} nonce=${d.nonce}: ${answer}`] });
  }
  if (rows.length === 0) {
    console.log("no events match");
    return 0;
  }
  rows.sort((a, b) => a.at - b.at);
  console.log(formatTable(["TIME", "EVENT", "POD", "DETAIL"], rows.map((r) => r.cells)));
  return 0;
}

export const eventsCommand: Command = {
  summary: "show the audit trail: signals, verdicts, enforcement actions and their latency chain",
  run: (args) =>
    runCommand("events", USAGE, async () => {
      const { values } = parseFlags(args, {
        ...DATA_DIR_OPTION,
        pod: { type: "string" },
        namespace: { type: "string" },
        detection: { type: "string" },
        signal: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        limit: { type: "string" },
        json: { type: "boolean", default: false },
        agents: { type: "boolean", default: false },
        node: { type: "string" },
        server: { type: "string" },
        "token-file": { type: "string" },
        "tls-ca": { type: "string" },
        "audit-db": { type: "string" },
        console: CONSOLE_FLAGS.console,
      });
      if (values.agents && values.server === undefined) {
        throw new FlagError("--agents needs --server <host:port> (agent health lives in the running control plane)");
      }
      if (values.server !== undefined) {
        const target = { server: values.server, ...(values["token-file"] ? { tokenFile: values["token-file"] } : {}), ...(values["tls-ca"] ? { tlsCa: values["tls-ca"] } : {}) };
        if (values.agents) return printAgents(target, values.json);
        const f = filterFrom(values, systemClock.nowMs());
        return printApiSignals(target, { ...f, ...(values.node ? { node: values.node } : {}) }, values.json);
      }
      const filter = filterFrom(values, systemClock.nowMs());
      const auditDb = values["audit-db"];
      if (auditDb === undefined) {
        const server = await ConsoleClient.forCommand(values, values["data-dir"]);
        if (server !== undefined) return printTimeline(await server.get<AuditTimeline>(`/api/v1/events?${timelineQuery(filter)}`), values.json);
      }
      const db = auditDb !== undefined ? await loadSharedTrail(checkAuditDbUrl(auditDb), filter) : openCliAudit(values["data-dir"], true);
      try {
        return printTimeline(new AuditQuery(db).timeline(filter), values.json);
      } finally {
        db.close();
      }
    }),
};
