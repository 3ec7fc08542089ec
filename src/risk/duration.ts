// Go's time.Duration text form (`30m`, `1h30m`, `1.5h`, `500ms`), as Istio and Kubernetes users
// write durations in YAML.

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/** Parses a Go duration into milliseconds; returns an error message instead of throwing. */
export function parseGoDuration(text: string): { ms: number } | { error: string } {
  let rest = text.trim();
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest.startsWith("-")) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return { ms: 0 };
  if (rest === "") return { error: `invalid duration "${text}"` };
  let ms = 0;
  while (rest !== "") {
    const m = PART.exec(rest);
    if (m === null) {
      return { error: `invalid duration "${text}": want a number and a unit (ns, us, ms, s, m, h), e.g. 30m or 1h30m` };
    }
    ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return { ms: sign * ms };
}

/** Formats milliseconds the way Go prints a Duration, truncated to seconds (`1h30m0s`). */
export function formatGoDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return (h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m` : "") + `${s}s`;
}
