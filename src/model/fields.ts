// Typed reads of untyped YAML with a field path for every complaint. Each reader records a
// problem and returns undefined instead of throwing, so one pass reports every bad field of an
// object at once (the way grpc-js-xds collects per-resource errors).
import { isIP } from "node:net";
import { parseCidr } from "./cidr.js";

export interface FieldProblem {
  readonly path: string;
  readonly message: string;
  readonly severity: "error" | "warning";
}

/** Collects problems found while reading one object. */
export class FieldProblems {
  readonly list: FieldProblem[] = [];
  error(path: string, message: string): void {
    this.list.push({ path, message, severity: "error" });
  }
  warn(path: string, message: string): void {
    this.list.push({ path, message, severity: "warning" });
  }
  get hasErrors(): boolean {
    return this.list.some((p) => p.severity === "error");
  }
}

export type Fields = Readonly<Record<string, unknown>>;

/** `spec` + `hosts` = `spec.hosts`; an empty parent gives the bare key. */
export function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "a map" : `${typeof v} ${JSON.stringify(v)}`;
}

export function isFields(v: unknown): v is Fields {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A map-valued field; absent or null gives undefined. */
export function mapField(obj: Fields, key: string, path: string, p: FieldProblems): Fields | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!isFields(v)) {
    p.error(join(path, key), `must be a map, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

export function stringField(obj: Fields, key: string, path: string, p: FieldProblems): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") {
    p.error(join(path, key), `must be a string, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

export function requiredString(obj: Fields, key: string, path: string, p: FieldProblems): string | undefined {
  const v = stringField(obj, key, path, p);
  // `key: null` (or `key:` with nothing after it) is as absent as a missing key.
  if (v === undefined && (obj[key] === undefined || obj[key] === null)) p.error(join(path, key), "is required");
  else if (v === "") p.error(join(path, key), "must not be empty");
  return v === "" ? undefined : v;
}

export function boolField(obj: Fields, key: string, path: string, p: FieldProblems): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") {
    p.error(join(path, key), `must be true or false, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

/** An integer in [min, max]. */
export function intField(
  obj: Fields,
  key: string,
  path: string,
  p: FieldProblems,
  min: number,
  max: number,
): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    p.error(join(path, key), `must be an integer from ${min} to ${max}, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

export function portField(obj: Fields, key: string, path: string, p: FieldProblems): number | undefined {
  return intField(obj, key, path, p, 1, 65535);
}

/** A list field; each element is handed to `each` with its own path. */
export function listField<T>(
  obj: Fields,
  key: string,
  path: string,
  p: FieldProblems,
  each: (v: unknown, path: string) => T | undefined,
): T[] {
  const v = obj[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.error(join(path, key), `must be a list, got ${describe(v)}`);
    return [];
  }
  const out: T[] = [];
  v.forEach((e, i) => {
    const r = each(e, `${join(path, key)}[${i}]`);
    if (r !== undefined) out.push(r);
  });
  return out;
}

export function stringListField(obj: Fields, key: string, path: string, p: FieldProblems): string[] {
  return listField(obj, key, path, p, (e, at) => {
    if (typeof e === "string" && e !== "") return e;
    p.error(at, `must be a non-empty string, got ${describe(e)}`);
    return undefined;
  });
}

/** A map of string to string (labels, selectors). */
export function stringMapField(obj: Fields, key: string, path: string, p: FieldProblems): Record<string, string> {
  const m = mapField(obj, key, path, p);
  const out: Record<string, string> = {};
  if (m === undefined) return out;
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === "string") out[k] = v;
    else if (typeof v === "number" || typeof v === "boolean") out[k] = String(v);
    else p.error(join(join(path, key), k), `must be a string, got ${describe(v)}`);
  }
  return out;
}

/** One of a closed set of words, compared case-sensitively as Istio's enums are. */
export function enumField<T extends string>(
  obj: Fields,
  key: string,
  path: string,
  p: FieldProblems,
  values: readonly T[],
): T | undefined {
  const v = stringField(obj, key, path, p);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) {
    p.error(join(path, key), `must be one of ${values.join(", ")}, got "${v}"`);
    return undefined;
  }
  return v as T;
}

/** Warns about keys this reader does not know, so a typo is not silently ignored. */
export function unknownKeys(obj: Fields, known: readonly string[], path: string, p: FieldProblems): void {
  for (const k of Object.keys(obj)) if (!known.includes(k)) p.warn(join(path, k), "unknown field, ignored");
}

export function isIpAddress(s: string): boolean {
  return isIP(s) !== 0;
}

/** `10.0.0.1` or `10.0.0.0/8` (IPv4 or IPv6), read as AuthorizationPolicy ipBlocks are. */
export function isCidrOrIp(s: string): boolean {
  return !("error" in parseCidr(s));
}

/** A protobuf-style duration (`1.5s`, `100ms`, `2m`, `1h`), in seconds. */
export function durationField(obj: Fields, key: string, path: string, p: FieldProblems): number | undefined {
  const v = stringField(obj, key, path, p);
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (m === null) {
    p.error(join(path, key), `"${v}" is not a duration (like 10s, 100ms, 5m, 1h)`);
    return undefined;
  }
  const scale = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * scale;
}
