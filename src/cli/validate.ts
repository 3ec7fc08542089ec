// `meshward validate -f FILE|DIR ...` (istioctl validate): every object checked alone with the
// rules meshward applies when it admits config (istiod's validation for the Istio kinds), without
// the cross-object checks `meshward analyze` makes. Errors and warnings name the file, the object
// and the field path; exit 0 when there is no error, 1 otherwise. Offline: files only.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { FlagError, parseFlags, runCommand } from "./flags.js";
import type { Command } from "./main.js";
import { type ConfigError, formatConfigError, objectRef } from "../model/config.js";
import { FieldProblems } from "../model/fields.js";
import { meshKinds } from "../mesh/model.js";
import { parseMeshConfig } from "../model/mesh-config.js";
import { readObjectSpec } from "../model/snapshot.js";
import { meshConfigFile, readConfigFiles } from "../sources/file.js";

const USAGE = `usage: meshward validate -f <file|dir> [-f <file|dir>]... [--quiet]

Checks each object alone (istioctl validate): the kinds meshward reads (ServiceEntry, WorkloadEntry,
DestinationRule, Gateway, PeerAuthentication, AuthorizationPolicy, RuntimePolicy, WorkloadEnforcement) with
istiod's validation rules, and a directory's mesh.yaml as MeshConfig. Other kinds are reported as
not read. A directory means its *.yaml and *.yml files (not subdirectories), as serve reads it. Exit status: 0 valid, 1 errors, 2 usage.
  -f, --filename  a file or directory (repeatable)
  -q, --quiet     print only errors and warnings, no summary`;

export interface ValidationReport {
  readonly files: number;
  readonly objects: number;
  /** Errors and warnings, in file order. */
  readonly findings: readonly ConfigError[];
}

/**
 * The files named, and the *.yaml / *.yml files directly in a named directory (sorted), as the file
 * source of `meshward serve` reads a config directory (subdirectories are not config).
 */
export function configFilesUnder(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!statSync(p).isDirectory()) out.push(p);
    else for (const e of readdirSync(p).sort()) if (/\.ya?ml$/.test(e) && statSync(join(p, e)).isFile()) out.push(join(p, e));
  }
  return out;
}

/** Validates every object of every file alone; a file named mesh.yaml is read as MeshConfig. */
export function validateFiles(files: readonly string[]): ValidationReport {
  const findings: ConfigError[] = [];
  const kinds = meshKinds();
  let objects = 0;
  for (const file of files) {
    const isMesh = file.endsWith(`/${meshConfigFile}`) || file === meshConfigFile;
    const set = readConfigFiles(isMesh ? [] : [file], isMesh ? file : undefined);
    findings.push(...set.errors);
    if (set.mesh !== undefined) {
      const p = new FieldProblems();
      parseMeshConfig(set.mesh.doc, p);
      findings.push(...p.list.map((x) => ({ file, object: "MeshConfig", path: x.path, message: x.message, severity: x.severity })));
    }
    for (const object of set.objects) {
      objects++;
      const handler = kinds.get(object.kind);
      if (handler === undefined) {
        findings.push({ file, object: objectRef(object), path: "kind", message: `meshward does not read ${object.kind}; not validated`, severity: "warning" });
        continue;
      }
      findings.push(...readObjectSpec(object, handler).problems);
    }
  }
  return { files: files.length, objects, findings };
}

/** The report as printed: one line per finding, then a summary line unless quiet. */
export function formatValidation(r: ValidationReport, quiet: boolean): string {
  const lines = r.findings.map(formatConfigError);
  const errors = r.findings.filter((f) => f.severity === "error").length;
  const warnings = r.findings.length - errors;
  const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? "" : "s"}`;
  if (!quiet) {
    lines.push(`${errors === 0 ? "valid" : "invalid"}: ${plural(r.objects, "object")} in ${plural(r.files, "file")}, ${plural(errors, "error")}, ${plural(warnings, "warning")}`);
  }
  return lines.join("\n");
}

export const validateCommand: Command = {
  summary: "check Istio and meshward config files object by object, as istiod would admit them (istioctl validate)",
  run: (args) =>
    runCommand("validate", USAGE, () => {
      const { values, positionals } = parseFlags(args, { filename: { type: "string", short: "f", multiple: true }, quiet: { type: "boolean", short: "q", default: false } }, true);
      if (positionals.length > 0) throw new FlagError(`unexpected argument "${positionals[0]}" (name files with -f)`);
      const paths = values.filename ?? [];
      if (paths.length === 0) throw new FlagError("-f <file|dir> is required");
      let files: string[];
      try {
        files = configFilesUnder(paths);
      } catch (e) {
        throw new FlagError(`cannot read ${(e as Error).message.replace(/^[A-Z]+: /, "")}`);
      }
      const report = validateFiles(files);
      const out = formatValidation(report, values.quiet);
      if (out !== "") console.log(out);
      return report.findings.some((f) => f.severity === "error") ? 1 : 0;
    }),
};
