// google.protobuf.Duration and Timestamp rules, compared as exact nanosecond counts.
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { DurationRulesSchema, TimestampRulesSchema, type DurationRules, type TimestampRules } from "../gen/validate/validate_pb.js";
import { boundsCheck, type Num } from "./numeric.js";
import { setRuleValues } from "./rule-values.js";
import { allOf, type ValueCheck } from "./violation.js";

const NANOS = 1_000_000_000n;

export function nanosOf(t: Duration | Timestamp): bigint {
  return t.seconds * NANOS + BigInt(t.nanos);
}

function showDuration(n: Num): string {
  const ns = BigInt(n);
  const sign = ns < 0n ? "-" : "";
  const abs = ns < 0n ? -ns : ns;
  const frac = abs % NANOS;
  return `${sign}${abs / NANOS}${frac === 0n ? "" : "." + frac.toString().padStart(9, "0").replace(/0+$/, "")}s`;
}

function showTimestamp(n: Num): string {
  return new Date(Number(BigInt(n) / 1_000_000n)).toISOString();
}

type TimeMessage = Duration | Timestamp;
const toNanos = (value: unknown): Num => nanosOf(value as TimeMessage);

function timeBounds(kind: string, set: ReadonlyMap<string, unknown>, show: (n: Num) => string): ValueCheck | undefined {
  const one = (k: string): bigint | undefined => {
    const v = set.get(k) as TimeMessage | undefined;
    return v === undefined ? undefined : nanosOf(v);
  };
  const many = (k: string): bigint[] | undefined => (set.get(k) as TimeMessage[] | undefined)?.map(nanosOf);
  return boundsCheck(
    kind,
    { const: one("const"), lt: one("lt"), lte: one("lte"), gt: one("gt"), gte: one("gte"), in: many("in"), notIn: many("not_in") },
    toNanos,
    show,
  );
}

/** Checks a present Duration; `duration.required` is the caller's (it concerns absence). */
export function durationCheck(rules: DurationRules): ValueCheck | undefined {
  return timeBounds("duration", setRuleValues(DurationRulesSchema, rules), showDuration);
}

export function timestampCheck(rules: TimestampRules): ValueCheck | undefined {
  const set = setRuleValues(TimestampRulesSchema, rules);
  const checks: ValueCheck[] = [];
  const bounds = timeBounds("timestamp", set, showTimestamp);
  if (bounds) checks.push(bounds);
  const now = (): bigint => BigInt(Date.now()) * 1_000_000n;
  if (set.get("lt_now") === true) {
    checks.push((v, walk) => {
      if (toNanos(v) >= now()) walk.report("timestamp.lt_now", "value must be less than now");
    });
  }
  if (set.get("gt_now") === true) {
    checks.push((v, walk) => {
      if (toNanos(v) <= now()) walk.report("timestamp.gt_now", "value must be greater than now");
    });
  }
  const within = set.get("within") as Duration | undefined;
  if (within !== undefined) {
    const w = nanosOf(within);
    checks.push((v, walk) => {
      const d = BigInt(toNanos(v)) - now();
      if (d > w || d < -w) walk.report("timestamp.within", `value must be within ${showDuration(w)} of now`);
    });
  }
  return allOf(checks);
}
