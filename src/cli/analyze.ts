// `meshward analyze [-f FILE|DIR]...` (istioctl analyze): cross-object findings with stable codes
// over the config as meshward would serve it (istioctl's IST codes where istioctl has the same
// finding, MW codes for meshward's own), plus the quarantines in force in the data dir. Offline on
// files, or against a running control plane: the config it serves and its live quarantines, through
// its read API (as istioctl analyze reads the live cluster when no file is named).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DATA_DIR_OPTION, EMBEDDED_CONFIG_DIR, FlagError, parseFlags, runCommand } from "./flags.js";
import type { Command } from "./main.js";
import { configFilesUnder } from "./validate.js";
import { CONSOLE_FLAGS, CONSOLE_USAGE, ConsoleClient } from "./console-client.js";
import { buildSnapshot } from "../mesh/model.js";
import { meshConfigFile, readConfigFiles } from "../sources/file.js";
import { analyzeSnapshot } from "../analysis/analyzers.js";
import { atLeast, findingFromJson, findingToJson, type FindingJson, type Finding, type FindingLevel, formatFinding, sortFindings } from "../analysis/findings.js";
import { AUDIT_DB_FILE, openAuditDatabase } from "../risk/audit-schema.js";
import { SqliteEnforcementStore } from "../risk/enforcement-store.js";
import { EnforcementSet } from "../risk/quarantine.js";
import { systemClock } from "../risk/clock.js";
import { quarantineFindingsOf } from "../analysis/quarantines.js";

const USAGE = `usage: meshward analyze [-f <file|dir>]... [--data-dir DIR] [--console ADDR] [--failure-threshold Error|Warning|Info] [-o text|json]

Reports problems across objects (istioctl analyze) in the config meshward would serve: policies
selecting no workload (IST0127), DestinationRule TLS against PeerAuthentication (IST0113),
ServiceEntries with conflicting protocols (IST0177), DestinationRules matching no service (IST0174), unknown extension providers (IST0101), Gateway servers another Gateway of the same workloads shuts out (IST0145),
workloads no request can reach (MW0001), objects admission rejects (IST0106/IST0133), and the
quarantines in force (MW0002). Without -f, a control plane running on the data dir is asked
(its config and live quarantines, through its read API); with -f, or with no server, files and
the data dir only.
  -f, --filename        a file or directory (repeatable; default: the running control plane's
                        config, else the embedded mesh-config/); a file named ${meshConfigFile} is read as MeshConfig
  --data-dir            where the audit database is (default .meshward; skipped when absent)
  --failure-threshold   the lowest level that makes the exit status 1 (default Error)
  -o, --output          text (default) or json
${CONSOLE_USAGE}`;


const LEVELS: readonly FindingLevel[] = ["Error", "Warning", "Info"];

/** MW0002 for each enforcement in force; none when the data dir has no audit database. */
export function quarantineFindings(dataDir: string, nowMs = systemClock.nowMs()): Finding[] {
  const file = join(dataDir, AUDIT_DB_FILE);
  if (!existsSync(file)) return [];
  const db = openAuditDatabase(dataDir, { readonly: true });
  try {
    return quarantineFindingsOf(new EnforcementSet(new SqliteEnforcementStore(db), systemClock).active(), file, nowMs);
  } finally {
    db.close();
  }
}

/** Findings for these files (mesh.yaml among them is the MeshConfig), sorted as printed. */
export function analyzeFiles(files: readonly string[], dataDir?: string): Finding[] {
  const mesh = files.find((f) => f === meshConfigFile || f.endsWith(`/${meshConfigFile}`));
  const snapshot = buildSnapshot(readConfigFiles(files.filter((f) => f !== mesh), mesh));
  return sortFindings([...analyzeSnapshot(snapshot), ...(dataDir !== undefined ? quarantineFindings(dataDir) : [])]);
}

export const analyzeCommand: Command = {
  summary: "report cross-object config problems with istioctl's codes, and quarantines in force (istioctl analyze)",
  run: (args) =>
    runCommand("analyze", USAGE, async () => {
      const { values, positionals } = parseFlags(args, {
        filename: { type: "string", short: "f", multiple: true },
        ...DATA_DIR_OPTION,
        "failure-threshold": { type: "string", default: "Error" },
        output: { type: "string", short: "o", default: "text" },
        ...CONSOLE_FLAGS,
      }, true);
      if (positionals.length > 0) throw new FlagError(`unexpected argument "${positionals[0]}" (name files with -f)`);
      const threshold = values["failure-threshold"] as FindingLevel;
      if (!LEVELS.includes(threshold)) throw new FlagError(`--failure-threshold must be Error, Warning or Info, found "${threshold}"`);
      if (values.output !== "text" && values.output !== "json") throw new FlagError(`-o must be text or json, found "${values.output}"`);
      if (values.filename !== undefined && values.console !== undefined && values.console !== "none") {
        throw new FlagError("-f analyzes files, --console a running control plane: give one of them");
      }
      const server = values.filename === undefined ? await ConsoleClient.forCommand(values, values["data-dir"]) : undefined;
      let findings: Finding[];
      if (server !== undefined) {
        findings = (await server.get<FindingJson[]>("/api/v1/analysis")).map(findingFromJson);
      } else {
        let files: string[];
        try {
          files = configFilesUnder(values.filename ?? [EMBEDDED_CONFIG_DIR]);
        } catch (e) {
          throw new FlagError(`cannot read ${(e as Error).message.replace(/^[A-Z]+: /, "")}`);
        }
        findings = analyzeFiles(files, values["data-dir"]);
      }
      if (values.output === "json") {
        console.log(JSON.stringify(findings.map(findingToJson), null, 2));
      } else if (findings.length === 0) {
        console.log(`✔ No validation issues found when analyzing ${server !== undefined ? `the config served by ${server.base.host}` : "the given files"}.`);
      } else {
        console.log(findings.map(formatFinding).join("\n"));
      }
      return findings.some((f) => atLeast(f.type.level, threshold)) ? 1 : 0;
    }),
};
