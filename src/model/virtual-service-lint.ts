// Warnings for http rules that can never apply (istiod's analyzeUnreachableHTTPRules): a rule after
// one without matches, a match equal to an earlier one, and a uri-prefix match covered by an
// earlier, shorter prefix with the same other conditions. The object is still accepted.
import { stableJson } from "./digest.js";
import type { FieldProblems } from "./fields.js";
import type { HttpMatchSpec, HttpRouteSpec, StringMatchSpec } from "./virtual-service-http.js";

const ruleName = (r: HttpRouteSpec, i: number): string => (r.name ? `"${r.name}"` : `#${i}`);
const matchName = (m: HttpMatchSpec, i: number): string => (m.name ? `"${m.name}"` : `#${i}`);

/** `exact:x` / `prefix:x` for exact and prefix matches (the only ones istiod compares), else "". */
function exactOrPrefix(m: StringMatchSpec | undefined): string {
  if (m === undefined) return "";
  if ("exact" in m) return `exact:${m.exact}`;
  if ("prefix" in m) return `prefix:${m.prefix}`;
  return "";
}

interface PrefixMatch {
  readonly prefix: string;
  readonly port: number;
  readonly method: string;
  readonly authority: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly queryParams: ReadonlyMap<string, string>;
  readonly rule: string;
  readonly match: string;
}

function asPrefixMatch(m: HttpMatchSpec, rule: string, match: string): PrefixMatch | undefined {
  if (m.uri === undefined || !("prefix" in m.uri) || m.uri.prefix === "") return undefined;
  const map = (o: Readonly<Record<string, StringMatchSpec>>): Map<string, string> => new Map(Object.entries(o).map(([k, v]) => [k, exactOrPrefix(v)]));
  return { prefix: m.uri.prefix, port: m.port ?? 0, method: exactOrPrefix(m.method) || "exact:GET", authority: exactOrPrefix(m.authority), headers: map(m.headers), queryParams: map(m.queryParams), rule, match };
}

/** istiod's coveredValidation: `a` (earlier) takes every request `b` would. */
function covers(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix) || a.port !== b.port) return false;
  if (a.method !== b.method && !a.method.startsWith(b.method)) return false;
  if (a.authority !== b.authority && !a.authority.startsWith(b.authority)) return false;
  const sameKeys = (x: ReadonlyMap<string, string>, y: ReadonlyMap<string, string>): boolean =>
    x.size === y.size && [...x].every(([k, v]) => y.has(k) && (v === y.get(k) || v.startsWith(y.get(k)!)));
  return sameKeys(a.headers, b.headers) && sameKeys(a.queryParams, b.queryParams);
}

export function warnUnreachableRules(http: readonly HttpRouteSpec[], p: FieldProblems): void {
  const seen = new Map<string, number>();
  const prefixes: PrefixMatch[] = [];
  let catchAllAt = -1;
  http.forEach((r, i) => {
    const at = `spec.http[${i}]`;
    if (r.match.length === 0) {
      if (catchAllAt >= 0) p.warn(at, `virtualService rule ${ruleName(r, i)} not used (only the last rule can have no matches)`);
      catchAllAt = i;
      return;
    }
    let duplicates = 0;
    r.match.forEach((m, j) => {
      if (catchAllAt >= 0) {
        p.warn(at, `virtualService rule ${ruleName(r, i)} not used (route without matches defined before)`);
        return;
      }
      const { name: _name, ...conditions } = m;
      const key = stableJson(conditions);
      const dup = seen.get(key);
      if (dup !== undefined) {
        p.warn(`${at}.match[${j}]`, `virtualService rule ${ruleName(r, i)} match ${matchName(m, j)} is not used (duplicate/overlapping match in rule ${ruleName(http[dup]!, dup)})`);
        duplicates++;
        return;
      }
      seen.set(key, i);
      const pm = asPrefixMatch(m, ruleName(r, i), matchName(m, j));
      if (pm === undefined) return;
      const earlier = prefixes.find((e) => e.prefix !== pm.prefix && covers(e, pm));
      if (earlier) p.warn(`${at}.match[${j}]`, `virtualService rule ${pm.rule} match ${pm.match} of prefix ${pm.prefix} is not used (duplicate/overlapping match in rule ${earlier.match} of prefix ${earlier.prefix} on ${earlier.rule})`);
      prefixes.push(pm);
    });
    if (duplicates === r.match.length) p.warn(at, `virtualService rule ${ruleName(r, i)} not used (all matches used by prior rules)`);
  });
}
