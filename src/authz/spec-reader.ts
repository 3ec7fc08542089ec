// Reads untyped YAML/JSON values into typed specs, recording each shape problem with its field
// path instead of stopping at the first one, so one report names everything wrong with an object.
// Unlike model/fields.ts it keeps what istiod distinguishes for AuthorizationPolicy: null list
// entries, absent vs empty lists, and unknown fields as errors (protojson rejects them).

import type { FieldProblem } from "../model/fields.js";

export type { FieldProblem } from "../model/fields.js";

type JsonRecord = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

export class SpecReader {
  readonly problems: FieldProblem[] = [];

  problem(path: string, message: string): void {
    this.problems.push({ path, message, severity: "error" });
  }

  /** An object whose keys are all in `allowed` (unknown fields are rejected, as protojson does). */
  object(v: unknown, path: string, allowed: readonly string[]): JsonRecord | undefined {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      this.problem(path, `must be an object, found ${describe(v)}`);
      return undefined;
    }
    const o = v as JsonRecord;
    let ok = true;
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) {
        this.problem(`${path}.${k}`, `unknown field "${k}" (known: ${allowed.join(", ")})`);
        ok = false;
      }
    }
    return ok ? o : undefined;
  }

  string(v: unknown, path: string): string | undefined {
    if (typeof v === "string") return v;
    this.problem(path, `must be a string, found ${describe(v)}${typeof v === "number" ? " (quote it)" : ""}`);
    return undefined;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (typeof v === "boolean") return v;
    this.problem(path, `must be true or false, found ${describe(v)}`);
    return undefined;
  }

  /** A non-negative integer, also accepted as a decimal string (proto3 JSON allows both). */
  uint(v: unknown, path: string): number | undefined {
    const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n === "number" && Number.isInteger(n) && n >= 0) return n;
    this.problem(path, `must be a non-negative integer, found ${describe(v)}`);
    return undefined;
  }

  enumValue<T extends string>(v: unknown, path: string, values: readonly T[]): T | undefined {
    if (typeof v === "string" && (values as readonly string[]).includes(v)) return v as T;
    this.problem(path, `must be one of ${values.join(", ")}, found ${describe(v)}`);
    return undefined;
  }

  stringList(v: unknown, path: string): string[] | undefined {
    if (!Array.isArray(v)) {
      this.problem(path, `must be a list of strings, found ${describe(v)}`);
      return undefined;
    }
    const out: string[] = [];
    let ok = true;
    v.forEach((e, i) => {
      const s = this.string(e, `${path}[${i}]`);
      if (s === undefined) ok = false;
      else out.push(s);
    });
    return ok ? out : undefined;
  }

  stringMap(v: unknown, path: string): Record<string, string> | undefined {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      this.problem(path, `must be a map of strings, found ${describe(v)}`);
      return undefined;
    }
    const out: Record<string, string> = {};
    let ok = true;
    for (const [k, e] of Object.entries(v as JsonRecord)) {
      const s = this.string(e, `${path}.${k}`);
      if (s === undefined) ok = false;
      else out[k] = s;
    }
    return ok ? out : undefined;
  }

  /** A list whose `null` entries are kept as `null` (validation decides about them). */
  list<T>(v: unknown, path: string, item: (e: unknown, path: string) => T | undefined): (T | null)[] | undefined {
    if (!Array.isArray(v)) {
      this.problem(path, `must be a list, found ${describe(v)}`);
      return undefined;
    }
    const out: (T | null)[] = [];
    let ok = true;
    v.forEach((e, i) => {
      if (e === null) {
        out.push(null);
        return;
      }
      const t = item(e, `${path}[${i}]`);
      if (t === undefined) ok = false;
      else out.push(t);
    });
    return ok ? out : undefined;
  }
}
