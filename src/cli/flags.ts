// The one way a meshward command reads its flags: node:util parseArgs (`--name value`,
// `--name=value`, booleans), strict, with `-h`/`--help` on every command, and `runCommand` turning
// the outcome into the same behaviour everywhere: help -> usage on stdout, exit 0; a bad flag ->
// the problem and the usage on stderr, exit 2; any other failure -> `meshward <cmd>: ...`, exit 1.
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseGoDuration } from "../risk/duration.js";

/**
 * mesh-config/ of this checkout or package (dist/src/cli/ -> ../../../mesh-config): what serve
 * serves by default.
 */
export const EMBEDDED_CONFIG_DIR = fileURLToPath(new URL("../../../mesh-config", import.meta.url));

/** Every command's state directory flag (git-ignored `.meshward/` in the working directory). */
export const DATA_DIR_OPTION = { "data-dir": { type: "string", default: ".meshward" } } as const;

/**
 * Istio's ports: istiod's plaintext gRPC 15010 (loopback), TLS gRPC 15012 and monitoring HTTP 15014;
 * meshward's read API and web console on 15080 (loopback).
 */
export const DEFAULT_ADDRESSES = {
  xds: "127.0.0.1:15010",
  tls: "0.0.0.0:15012",
  monitoring: "127.0.0.1:15014",
  console: "127.0.0.1:15080",
} as const;

/** A command line the command cannot run with; printed with the usage, exit code 2. */
export class FlagError extends Error {}

/** `--help` / `-h` was given. */
class HelpRequested extends Error {}

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;

interface FlagsConfig<O extends OptionsConfig, P extends boolean> {
  readonly options: O;
  readonly allowPositionals: P;
  readonly strict: true;
}

/** The values (and positionals, where the command takes them) of `args`; throws FlagError. */
export function parseFlags<O extends OptionsConfig, P extends boolean = false>(
  args: readonly string[],
  options: O,
  allowPositionals?: P,
) {
  const config: FlagsConfig<O & typeof HELP_OPTION, P> & { args: string[] } = {
    args: [...args],
    options: { ...options, ...HELP_OPTION },
    allowPositionals: (allowPositionals ?? false) as P,
    strict: true,
  };
  let parsed;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    throw new FlagError(flagProblem(e as Error & { code?: string }));
  }
  if ((parsed.values as Record<string, unknown>).help === true) throw new HelpRequested();
  return parsed;
}

/** parseArgs's messages, shortened to name the flag and what is wrong with it. */
function flagProblem(e: Error & { code?: string }): string {
  const flag = /'(-[^' ]*)/.exec(e.message)?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag ?? e.message}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return flag !== undefined && /argument missing/.test(e.message) ? `${flag} needs a value` : e.message;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? e.message}`;
    default:
      return e.message;
  }
}

/** Runs a command's body with the shared help, flag-error and failure handling (see the top). */
export async function runCommand(command: string, usage: string, body: () => number | Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(usage);
      return 0;
    }
    if (e instanceof FlagError) {
      console.error(`meshward ${command}: ${e.message}\n\n${usage}`);
      return 2;
    }
    console.error(`meshward ${command}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new FlagError(`--${flag} is required`);
  return value;
}

/** `--labels app=a,version=v1` as a label map. */
export function parseLabels(text: string | undefined, flag = "labels"): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of (text ?? "").split(",")) {
    if (pair.trim() === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new FlagError(`--${flag} entry "${pair}" is not key=value`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

const DAY_MS = 86_400_000;

/**
 * A lifetime flag as whole seconds: plain seconds (`3600`), or a Go duration (`90s`, `15m`,
 * `1h30m`) optionally led by days (`90d`, `1d12h`), which certificate lifetimes want.
 */
export function parseDurationSeconds(text: string, flag: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const days = /^(\d+)d/.exec(text);
  const rest = days === null ? text : text.slice(days[0].length);
  const d = rest === "" ? { ms: 0 } : parseGoDuration(rest);
  const ms = "error" in d ? Number.NaN : Number(days?.[1] ?? 0) * DAY_MS + d.ms;
  if (!(ms >= 0 && ms % 1000 === 0) || text.trim() !== text) {
    throw new FlagError(`--${flag} "${text}" is not a duration like 24h, 90m or 90d (whole seconds)`);
  }
  return ms / 1000;
}
