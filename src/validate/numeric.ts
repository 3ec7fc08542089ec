// Numeric, bool and enum rules. Ranges follow PGV's generated code: when both bounds are given
// and the upper one is below the lower one, the range is exclusive (the value must lie outside).
// Rule ids for two-bound ranges are protovalidate's (`uint32.gte_lte`, `..._exclusive`).
import type { DescEnum } from "@bufbuild/protobuf";
import { allOf, type ValueCheck } from "./violation.js";

export type Num = number | bigint;

/** Bounds and sets of one numeric kind, already in the value's own representation. */
export interface NumericBounds {
  readonly const?: Num;
  readonly lt?: Num;
  readonly lte?: Num;
  readonly gt?: Num;
  readonly gte?: Num;
  readonly in?: readonly Num[];
  readonly notIn?: readonly Num[];
}

/** Builds the checks for `kind` (`uint32`, `duration`, ...) over values mapped by `toNum`. */
export function boundsCheck(
  kind: string,
  b: NumericBounds,
  toNum: (value: unknown) => Num,
  show: (n: Num) => string = String,
): ValueCheck | undefined {
  const checks: ValueCheck[] = [];
  const on = (test: (n: Num) => boolean, rule: string, message: string): void => {
    checks.push((value, walk) => {
      if (test(toNum(value))) walk.report(`${kind}.${rule}`, message);
    });
  };
  if (b.const !== undefined) {
    const c = b.const;
    on((n) => n != c, "const", `value must equal ${show(c)}`);
  }
  const range = rangeTest(b, show);
  if (range) on(range.fails, range.rule, range.message);
  if (b.in !== undefined) {
    const allowed = new Set(b.in);
    on((n) => !allowed.has(n), "in", `value must be in list [${b.in.map(show).join(", ")}]`);
  }
  if (b.notIn !== undefined) {
    const denied = new Set(b.notIn);
    on((n) => denied.has(n), "not_in", `value must not be in list [${b.notIn.map(show).join(", ")}]`);
  }
  return allOf(checks);
}

interface RangeTest {
  readonly rule: string;
  readonly message: string;
  fails(n: Num): boolean;
}

function rangeTest(b: NumericBounds, show: (n: Num) => string): RangeTest | undefined {
  const { lt, lte, gt, gte } = b;
  const upper = lt !== undefined ? { v: lt, incl: false, name: "lt" } : lte !== undefined ? { v: lte, incl: true, name: "lte" } : undefined;
  const lower = gt !== undefined ? { v: gt, incl: false, name: "gt" } : gte !== undefined ? { v: gte, incl: true, name: "gte" } : undefined;
  const below = (n: Num, u: { v: Num; incl: boolean }): boolean => (u.incl ? n <= u.v : n < u.v);
  const above = (n: Num, l: { v: Num; incl: boolean }): boolean => (l.incl ? n >= l.v : n > l.v);
  if (upper && lower) {
    const open = lower.incl ? "[" : "(";
    const close = upper.incl ? "]" : ")";
    if (upper.v > lower.v) {
      return {
        rule: `${lower.name}_${upper.name}`,
        message: `value must be inside range ${open}${show(lower.v)}, ${show(upper.v)}${close}`,
        fails: (n) => !(above(n, lower) && below(n, upper)),
      };
    }
    // Exclusive: the value must be beyond either bound; the bounds' inclusiveness is kept.
    return {
      rule: `${lower.name}_${upper.name}_exclusive`,
      message: `value must be outside range ${upper.incl ? "(" : "["}${show(upper.v)}, ${show(lower.v)}${lower.incl ? ")" : "]"}`,
      fails: (n) => !(above(n, lower) || below(n, upper)),
    };
  }
  if (upper) {
    return {
      rule: upper.name,
      message: `value must be less than ${upper.incl ? "or equal to " : ""}${show(upper.v)}`,
      fails: (n) => !below(n, upper),
    };
  }
  if (lower) {
    return {
      rule: lower.name,
      message: `value must be greater than ${lower.incl ? "or equal to " : ""}${show(lower.v)}`,
      fails: (n) => !above(n, lower),
    };
  }
  return undefined;
}

/** Numeric field values are numbers, or bigints for 64-bit kinds (strings under jstype=JS_STRING). */
export function numericValue(value: unknown): Num {
  if (typeof value === "number" || typeof value === "bigint") return value;
  return BigInt(value as string);
}

/** Bounds from a validate.<Kind>Rules message's set fields. */
export function boundsFrom(set: ReadonlyMap<string, unknown>): NumericBounds {
  return {
    const: set.get("const") as Num | undefined,
    lt: set.get("lt") as Num | undefined,
    lte: set.get("lte") as Num | undefined,
    gt: set.get("gt") as Num | undefined,
    gte: set.get("gte") as Num | undefined,
    in: set.get("in") as Num[] | undefined,
    notIn: set.get("not_in") as Num[] | undefined,
  };
}

export function boolCheck(set: ReadonlyMap<string, unknown>): ValueCheck | undefined {
  const c = set.get("const");
  if (typeof c !== "boolean") return undefined;
  return (value, walk) => {
    if (value !== c) walk.report("bool.const", `value must equal ${c}`);
  };
}

export function enumCheck(set: ReadonlyMap<string, unknown>, desc: DescEnum): ValueCheck | undefined {
  const name = (n: Num): string => {
    const v = desc.values.find((e) => e.number === Number(n));
    return v ? `${v.name} (${n})` : String(n);
  };
  const checks: ValueCheck[] = [];
  const bounds = boundsCheck("enum", boundsFrom(set), numericValue, name);
  if (bounds) checks.push(bounds);
  if (set.get("defined_only") === true) {
    const defined = new Set(desc.values.map((v) => v.number));
    checks.push((value, walk) => {
      if (!defined.has(value as number)) walk.report("enum.defined_only", `value ${String(value)} must be one of the defined enum values of ${desc.typeName}`);
    });
  }
  return allOf(checks);
}
