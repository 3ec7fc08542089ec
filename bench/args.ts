// The benchmarks' `--name N` integer options, read from process.argv (unknown flags are ignored so
// that an npm script can pass its own).

/** The integer after `--name`, `fallback` when absent; at least `min`. */
export function intFlag(name: string, fallback: number, min = 1): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name}: want an integer >= ${min}, got "${process.argv[i + 1]}"`);
  return v;
}
