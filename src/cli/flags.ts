// `--name value` / `--name=value` / boolean `--name` flags, checked against what a command accepts.
export class FlagError extends Error {}

export interface FlagSpec {
  readonly values: readonly string[];
  readonly booleans?: readonly string[];
}

export type Flags = ReadonlyMap<string, string>;

export function parseFlags(args: readonly string[], spec: FlagSpec): Flags {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new FlagError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (spec.booleans?.includes(name)) {
      out.set(name, eq < 0 ? "true" : arg.slice(eq + 1));
    } else if (spec.values.includes(name)) {
      const v = eq < 0 ? args[++i] : arg.slice(eq + 1);
      if (v === undefined) throw new FlagError(`--${name} needs a value`);
      out.set(name, v);
    } else {
      throw new FlagError(`unknown flag --${name}`);
    }
  }
  return out;
}

export function required(flags: Flags, name: string): string {
  const v = flags.get(name);
  if (v === undefined || v === "") throw new FlagError(`--${name} is required`);
  return v;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `90s`, `15m`, `24h`, `90d`, `1h30m` or plain seconds, as whole seconds. */
export function parseDurationSeconds(text: string, flag: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const re = /(\d+)([smhd])/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * UNIT_SECONDS[m[2]];
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== text.length) throw new FlagError(`--${flag} "${text}" is not a duration like 24h or 90m`);
  return total;
}
