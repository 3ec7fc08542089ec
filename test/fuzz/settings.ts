// One place for the fuzzers' fast-check settings: a fixed seed (so `npm test` is repeatable and a
// failure reproduces), bounded runs and a time cap per property so the suite's time stays bounded
// on a busy machine. MESHWARD_FUZZ_SEED / MESHWARD_FUZZ_RUNS explore further by hand.
import type { Parameters as FcParameters } from "fast-check";

const seed = Number(process.env["MESHWARD_FUZZ_SEED"] ?? 20261204);
const runsScale = Number(process.env["MESHWARD_FUZZ_RUNS"] ?? 1);

/** Settings for one property: `runs` at scale 1, stopped (not failed) after `seconds`. */
export function fuzzParameters<T>(runs: number, seconds: number): FcParameters<T> {
  return { seed, numRuns: Math.max(1, Math.round(runs * runsScale)), interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false };
}

/** Rejects when `p` has not settled within `ms`: a hang is a failure, not a stuck test run. */
export function settlesWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
