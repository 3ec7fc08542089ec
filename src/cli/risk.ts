// `meshward risk`: per-workload risk scores as the control plane last persisted them, decayed to
// now with the same half-life the engine uses.
import { AuditQuery } from "../risk/audit-query.js";
import { systemClock } from "../risk/clock.js";
import { parseGoDuration } from "../risk/duration.js";
import { RiskEngine, type WorkloadRisk } from "../risk/engine.js";
import { CONSOLE_FLAGS, CONSOLE_USAGE, ConsoleClient } from "./console-client.js";
import { DEFAULT_RISK_HALF_LIFE_MS } from "../risk/scoring.js";
import type { Command } from "./main.js";
import { formatTable, isoTime, openCliAudit } from "./risk-output.js";
import { DATA_DIR_OPTION, parseFlags, runCommand } from "./flags.js";

const USAGE = `usage: meshward risk [--data-dir DIR] [--half-life D] [--console ADDR] [--json]
  --half-life  how fast detection points decay, a Go duration (default: the engine's); given, the
               scores are computed here from the data dir rather than asked of a running server
With a control plane running on this data dir, the scores are its live ones (read API).
${CONSOLE_USAGE}`;

function print(risks: readonly WorkloadRisk[], json: boolean): number {
  if (json) {
    console.log(JSON.stringify(risks, null, 2));
    return 0;
  }
  if (risks.length === 0) {
    console.log("no workload has reported a signal");
    return 0;
  }
  const rows = risks.map((r) => [
    `${r.namespace}/${r.podName}`, r.serviceAccount, r.score.toFixed(1), String(r.staticScore), r.staticFactors.join(",") || "-",
    String(r.signals), r.lastDetection ?? "-", isoTime(r.asOfMs),
  ]);
  console.log(formatTable(["POD", "SERVICE ACCOUNT", "SCORE", "STATIC", "FACTORS", "SIGNALS", "LAST DETECTION", "LAST SIGNAL"], rows));
  return 0;
}

export const riskCommand: Command = {
  summary: "show per-workload risk scores (static pod-spec risk plus decaying detection points)",
  run: (args) =>
    runCommand("risk", USAGE, async () => {
      const { values } = parseFlags(args, { ...DATA_DIR_OPTION, ...CONSOLE_FLAGS, json: { type: "boolean", default: false }, "half-life": { type: "string" } });
      let halfLifeMs = DEFAULT_RISK_HALF_LIFE_MS;
      if (values["half-life"] !== undefined) {
        const d = parseGoDuration(values["half-life"]);
        if ("error" in d || d.ms <= 0) throw new Error(`--half-life: ${"error" in d ? d.error : "must be positive"}`);
        halfLifeMs = d.ms;
      } else {
        const server = await ConsoleClient.forCommand(values, values["data-dir"]);
        if (server !== undefined) return print(await server.get<WorkloadRisk[]>("/api/v1/risk"), values.json);
      }
      const db = openCliAudit(values["data-dir"], true);
      try {
        const engine = new RiskEngine({ clock: systemClock, halfLifeMs });
        engine.restore(new AuditQuery(db).riskStates());
        return print(engine.risks(), values.json);
      } finally {
        db.close();
      }
    }),
};
