// How every stage logs: a function of the message and optional structured fields (level, stage,
// and the object, field path, proxy or pod the line is about). Tests pass a plain collector; serve
// passes pinoLog(), which writes one JSON record per line through pino, so a log pipeline can
// filter on `stage`, `object` or `proxy` instead of parsing prose.
import { pino, type Logger } from "pino";

export type LogLevel = "debug" | "info" | "warn" | "error";

export function isLogLevel(s: string): s is LogLevel {
  return s === "debug" || s === "info" || s === "warn" || s === "error";
}

export interface LogFields {
  /** Default `info`. */
  readonly level?: LogLevel;
  /** The pipeline stage: source, model, xds, sds, ca, risk, signals, serve, ... */
  readonly stage?: string;
  /** `Kind namespace/name` of the config object concerned. */
  readonly object?: string;
  /** Field path inside it (`spec.rules[0].from[0]`). */
  readonly path?: string;
  /** File or apiserver resource it came from. */
  readonly file?: string;
  /** xDS node id of the proxy concerned. */
  readonly proxy?: string;
  readonly [field: string]: string | number | boolean | undefined;
}

export type Log = (message: string, fields?: LogFields) => void;

/** A pino logger writing JSON lines to stderr (stdout stays for command output). */
export function createLogger(level: LogLevel = "info"): Logger {
  return pino(
    { level, base: { service: "meshward" }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    pino.destination({ dest: 2, sync: true }),
  );
}

/** The Log function over a pino logger. */
export function pinoLog(logger: Logger): Log {
  return (message, fields = {}) => {
    const { level = "info", ...rest } = fields;
    logger[level](rest, message);
  };
}

/** For a config problem: `error` or `warning` as a level. */
export function levelOf(severity: "error" | "warning"): LogLevel {
  return severity === "error" ? "error" : "warn";
}

/**
 * Logs each config problem once: those not already reported since the last time the set was
 * logged; returns the set to pass next time. A rebuild re-reads every object, so without this an
 * unchanged broken object would be logged again on every unrelated change.
 */
export function logNewProblems(
  log: Log,
  stage: string,
  problems: readonly { readonly file: string; readonly object?: string; readonly path: string; readonly message: string; readonly severity: "error" | "warning" }[],
  reported: ReadonlySet<string>,
): Set<string> {
  const now = new Set<string>();
  for (const p of problems) {
    const key = `${p.severity}\0${p.file}\0${p.object ?? ""}\0${p.path}\0${p.message}`;
    now.add(key);
    if (reported.has(key)) continue;
    const where = [p.file, p.object, p.path].filter((s) => s !== undefined && s !== "").join(": ");
    log(`meshward config: ${p.severity}: ${where}: ${p.message}`, {
      level: levelOf(p.severity),
      stage,
      file: p.file,
      ...(p.object !== undefined ? { object: p.object } : {}),
      ...(p.path !== "" ? { path: p.path } : {}),
    });
  }
  return now;
}
