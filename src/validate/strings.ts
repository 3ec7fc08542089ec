// String and bytes rules. Lengths: `len`/`min_len`/`max_len` count code points (PGV's "runes"),
// `*_bytes` count UTF-8 bytes.
import { StringRulesSchema, BytesRulesSchema, KnownRegex, type StringRules, type BytesRules } from "../gen/validate/validate_pb.js";
import {
  httpHeaderLoose,
  httpHeaderName,
  httpHeaderValue,
  isAbsoluteUri,
  isEmail,
  isHostname,
  isIpAddress,
  isIpv4Address,
  isIpv6Address,
  isUriReference,
  isUuid,
  re2ToRegExp,
} from "./formats.js";
import { setRuleValues } from "./rule-values.js";
import { allOf, type ValueCheck } from "./violation.js";

function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8");

type Test<T> = (v: T) => boolean;

/** A check that reports `rule` when `fails` holds for the (string or bytes) value. */
function failing<T>(rule: string, message: string, fails: Test<T>): ValueCheck {
  return (value, walk) => {
    if (fails(value as T)) walk.report(rule, message);
  };
}

function lengthChecks<T>(kind: string, set: ReadonlyMap<string, unknown>, names: readonly string[], unit: string, measure: (v: T) => number): ValueCheck[] {
  const [exact, min, max] = names as [string, string, string];
  const checks: ValueCheck[] = [];
  const n = (k: string): number | undefined => (set.has(k) ? Number(set.get(k) as bigint) : undefined);
  const e = n(exact);
  if (e !== undefined) checks.push(failing<T>(`${kind}.${exact}`, `value length must be ${e} ${unit}`, (v) => measure(v) !== e));
  const lo = n(min);
  if (lo !== undefined) checks.push(failing<T>(`${kind}.${min}`, `value length must be at least ${lo} ${unit}`, (v) => measure(v) < lo));
  const hi = n(max);
  if (hi !== undefined) checks.push(failing<T>(`${kind}.${max}`, `value length must be at most ${hi} ${unit}`, (v) => measure(v) > hi));
  return checks;
}

export function stringCheck(rules: StringRules): ValueCheck | undefined {
  const set = setRuleValues(StringRulesSchema, rules);
  const q = JSON.stringify;
  const checks: ValueCheck[] = [];
  const add = (rule: string, message: string, fails: Test<string>): void => {
    checks.push(failing<string>(`string.${rule}`, message, fails));
  };
  const str = (k: string): string | undefined => set.get(k) as string | undefined;
  const list = (k: string): readonly string[] | undefined => set.get(k) as string[] | undefined;

  const c = str("const");
  if (c !== undefined) add("const", `value must equal ${q(c)}`, (v) => v !== c);
  checks.push(...lengthChecks<string>("string", set, ["len", "min_len", "max_len"], "runes", codePoints));
  checks.push(...lengthChecks<string>("string", set, ["len_bytes", "min_bytes", "max_bytes"], "bytes", utf8Length));
  const pattern = str("pattern");
  if (pattern !== undefined) {
    const re = re2ToRegExp(pattern);
    add("pattern", `value does not match regex pattern ${q(pattern)}`, (v) => !re.test(v));
  }
  const prefix = str("prefix");
  if (prefix !== undefined) add("prefix", `value does not have prefix ${q(prefix)}`, (v) => !v.startsWith(prefix));
  const suffix = str("suffix");
  if (suffix !== undefined) add("suffix", `value does not have suffix ${q(suffix)}`, (v) => !v.endsWith(suffix));
  const contains = str("contains");
  if (contains !== undefined) add("contains", `value does not contain substring ${q(contains)}`, (v) => !v.includes(contains));
  const notContains = str("not_contains");
  if (notContains !== undefined) add("not_contains", `value contains substring ${q(notContains)}`, (v) => v.includes(notContains));
  const allowed = list("in");
  if (allowed !== undefined) {
    const s = new Set(allowed);
    add("in", `value must be in list ${q(allowed)}`, (v) => !s.has(v));
  }
  const denied = list("not_in");
  if (denied !== undefined) {
    const s = new Set(denied);
    add("not_in", `value must not be in list ${q(denied)}`, (v) => s.has(v));
  }
  const wk = wellKnownString(rules);
  if (wk) add(wk.rule, wk.message, (v) => !wk.ok(v));

  const check = allOf(checks);
  if (check && set.get("ignore_empty") === true) {
    return (value, walk) => {
      if (value !== "") check(value, walk);
    };
  }
  return check;
}

interface Format {
  readonly rule: string;
  readonly message: string;
  ok(v: string): boolean;
}

function wellKnownString(rules: StringRules): Format | undefined {
  const wk = rules.wellKnown;
  if (wk.case === undefined || wk.value === false) return undefined;
  switch (wk.case) {
    case "email":
      return { rule: "email", message: "value must be a valid email address", ok: isEmail };
    case "hostname":
      return { rule: "hostname", message: "value must be a valid hostname", ok: isHostname };
    case "ip":
      return { rule: "ip", message: "value must be a valid IP address", ok: isIpAddress };
    case "ipv4":
      return { rule: "ipv4", message: "value must be a valid IPv4 address", ok: isIpv4Address };
    case "ipv6":
      return { rule: "ipv6", message: "value must be a valid IPv6 address", ok: isIpv6Address };
    case "uri":
      return { rule: "uri", message: "value must be a valid absolute URI", ok: isAbsoluteUri };
    case "uriRef":
      return { rule: "uri_ref", message: "value must be a valid URI reference", ok: isUriReference };
    case "address":
      return { rule: "address", message: "value must be a valid hostname or IP address", ok: (v) => isHostname(v) || isIpAddress(v) };
    case "uuid":
      return { rule: "uuid", message: "value must be a valid UUID", ok: isUuid };
    case "wellKnownRegex": {
      // strict is proto2 `[default = true]`, so an unset strict reads as true here.
      const loose = rules.strict === false;
      if (wk.value === KnownRegex.HTTP_HEADER_NAME) {
        const re = loose ? httpHeaderLoose : httpHeaderName;
        return { rule: "well_known_regex", message: "value must be a valid HTTP header name", ok: (v) => re.test(v) };
      }
      if (wk.value === KnownRegex.HTTP_HEADER_VALUE) {
        const re = loose ? httpHeaderLoose : httpHeaderValue;
        return { rule: "well_known_regex", message: "value must be a valid HTTP header value", ok: (v) => re.test(v) };
      }
      return undefined;
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function hasBytesAt(v: Uint8Array, part: Uint8Array, at: number): boolean {
  return at >= 0 && at + part.length <= v.length && Buffer.compare(v.subarray(at, at + part.length), part) === 0;
}

const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString("hex")}`;

export function bytesCheck(rules: BytesRules): ValueCheck | undefined {
  const set = setRuleValues(BytesRulesSchema, rules);
  const checks: ValueCheck[] = [];
  const add = (rule: string, message: string, fails: Test<Uint8Array>): void => {
    checks.push(failing<Uint8Array>(`bytes.${rule}`, message, fails));
  };
  const bytes = (k: string): Uint8Array | undefined => set.get(k) as Uint8Array | undefined;
  const c = bytes("const");
  if (c !== undefined) add("const", `value must equal ${hex(c)}`, (v) => !sameBytes(v, c));
  checks.push(...lengthChecks<Uint8Array>("bytes", set, ["len", "min_len", "max_len"], "bytes", (v) => v.length));
  const pattern = set.get("pattern") as string | undefined;
  if (pattern !== undefined) {
    const re = re2ToRegExp(pattern);
    const text = new TextDecoder("utf-8", { fatal: false });
    add("pattern", `value does not match regex pattern ${JSON.stringify(pattern)}`, (v) => !re.test(text.decode(v)));
  }
  const prefix = bytes("prefix");
  if (prefix !== undefined) add("prefix", `value does not have prefix ${hex(prefix)}`, (v) => !hasBytesAt(v, prefix, 0));
  const suffix = bytes("suffix");
  if (suffix !== undefined) add("suffix", `value does not have suffix ${hex(suffix)}`, (v) => !hasBytesAt(v, suffix, v.length - suffix.length));
  const contains = bytes("contains");
  if (contains !== undefined) add("contains", `value does not contain ${hex(contains)}`, (v) => Buffer.from(v).indexOf(contains) < 0);
  const allowed = set.get("in") as Uint8Array[] | undefined;
  if (allowed !== undefined) add("in", `value must be in list [${allowed.map(hex).join(", ")}]`, (v) => !allowed.some((a) => sameBytes(a, v)));
  const denied = set.get("not_in") as Uint8Array[] | undefined;
  if (denied !== undefined) add("not_in", `value must not be in list [${denied.map(hex).join(", ")}]`, (v) => denied.some((a) => sameBytes(a, v)));
  const wk = rules.wellKnown;
  if (wk.case !== undefined && wk.value) {
    const sizes = wk.case === "ip" ? [4, 16] : wk.case === "ipv4" ? [4] : [16];
    add(wk.case, `value must be a valid ${wk.case === "ip" ? "IP" : wk.case === "ipv4" ? "IPv4" : "IPv6"} address`, (v) => !sizes.includes(v.length));
  }
  return allOf(checks);
}

