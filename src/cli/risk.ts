// `meshward risk`: per-workload risk scores as the control plane last persisted them, decayed to
// now with the same half-life the engine uses.
import { AuditQuery } from "../risk/audit-query.js";
import { systemClock } from "../risk/clock.js";
import { parseGoDuration } from "../risk/duration.js";
import { RiskEngine } from "../risk/engine.js";
import { DEFAULT_RISK_HALF_LIFE_MS } from "../risk/scoring.js";
import type { Command } from "./main.js";
import { formatTable, isoTime, openCliAudit } from "./risk-output.js";
import { DATA_DIR_OPTION, parseFlags, runCommand } from "./flags.js";

const USAGE = `usage: meshward risk [--data-dir DIR] [--half-life D] [--json]
  --half-life  how fast detection points decay, a Go duration (default: the engine's)`;

export const riskCommand: Command = {
  summary: "show per-workload risk scores (static pod-spec risk plus decaying detection points)",
  run: (args) =>
    runCommand("risk", USAGE, () => {
      const { values } = parseFlags(args, { ...DATA_DIR_OPTION, json: { type: "boolean", default: false }, "half-life": { type: "string" } });
      let halfLifeMs = DEFAULT_RISK_HALF_LIFE_MS;
      if (values["half-life"] !== undefined) {
        const d = parseGoDuration(values["half-life"]);
        if ("error" in d || d.ms <= 0) throw new Error(`--half-life: ${"error" in d ? d.error : "must be positive"}`);
        halfLifeMs = d.ms;
      }
      const db = openCliAudit(values["data-dir"], true);
      try {
        const engine = new RiskEngine({ clock: systemClock, halfLifeMs });
        engine.restore(new AuditQuery(db).riskStates());
        const risks = engine.risks();
        if (values.json) {
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
      } finally {
        db.close();
      }
    }),
};
