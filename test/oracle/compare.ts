// Per-resource comparison of what istiod and meshward send one proxy, after a written-down
// normalisation:
//  1. Both sides are proto3 JSON (Go's protojson, @bufbuild's toJson): same field names, enums by
//     name, 64-bit integers and durations as strings, default values left out.
//  2. Resources are keyed by type (lds, cds, rds, eds) and name; a name on one side only is a
//     difference.
//  3. Orders Envoy does not act on are sorted: listener filter chains (Envoy picks a chain by the
//     most specific match, not by position), virtual hosts (picked by domain specificity),
//     localities (then their priorities) and the endpoints in them, and the domains of a virtual host.
//  4. A proxyless gRPC client asks for resources by name, following references: listeners, the
//     routes they name, the clusters those route to, the assignments of EDS clusters. meshward's
//     translation lists everything it could answer, so on its side only what is reachable from
//     its listeners is compared (istiod's oracle already follows references the same way).
//  5. Every entry of differences.ts then rewrites what it explains, on the side it names (or omits
//     a resource it explains whole). What is left must be equal.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { differences, isObject, type CompareContext, type Side, type XdsType } from "./differences.js";

export type ResourcesByType = Readonly<Record<XdsType, readonly JsonObject[]>>;

export const xdsTypes: readonly XdsType[] = ["lds", "cds", "rds", "eds"];

function clone<T extends JsonValue>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function key(v: JsonValue): string {
  return JSON.stringify(v);
}

function sortBy<T extends JsonValue>(list: T[], k: (x: T) => string): T[] {
  return list.sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));
}

/** Step 3: orders that carry no meaning for Envoy. */
function sortUnordered(type: XdsType, r: JsonObject): void {
  if (type === "lds" && Array.isArray(r["filterChains"])) {
    sortBy(r["filterChains"] as JsonObject[], (c) => `${String(c["name"] ?? "")}|${key(c["filterChainMatch"] ?? null)}`);
  }
  if (type === "rds" && Array.isArray(r["virtualHosts"])) {
    for (const vh of r["virtualHosts"] as JsonObject[]) if (Array.isArray(vh["domains"])) (vh["domains"] as string[]).sort();
    sortBy(r["virtualHosts"] as JsonObject[], (vh) => String(vh["name"] ?? ""));
  }
  if (type === "eds" && Array.isArray(r["endpoints"])) {
    for (const l of r["endpoints"] as JsonObject[]) {
      if (Array.isArray(l["lbEndpoints"])) sortBy(l["lbEndpoints"] as JsonObject[], (e) => key(e["endpoint"] ?? null));
    }
    // One locality may be split by failover priority labels: then its priority orders the parts.
    sortBy(r["endpoints"] as JsonObject[], (l) => `${key(l["locality"] ?? null)}|${String(l["priority"] ?? 0).padStart(6, "0")}`);
  }
}

/** Steps 3 and 4 on a copy: the resource as compared, and the differences that rewrote it. */
export function normalise(side: Side, type: XdsType, resource: JsonObject, used: Set<string>, ctx: CompareContext): JsonObject {
  const r = clone(resource);
  for (const d of differences) if (d.normalise(side, type, r, ctx)) used.add(d.id);
  sortUnordered(type, r);
  return r;
}

/** JSON paths where `a` and `b` differ, with both values (at most `limit`). */
export function jsonDiff(a: JsonValue | undefined, b: JsonValue | undefined, path = "", out: string[] = [], limit = 40): string[] {
  if (out.length >= limit) return out;
  if (isObject(a) && isObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) jsonDiff(a[k], b[k], `${path}.${k}`, out, limit);
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => jsonDiff(x, b[i], `${path}[${i}]`, out, limit));
    return out;
  }
  if (key(a ?? null) !== key(b ?? null)) out.push(`${path || "."}: istiod ${a === undefined ? "(unset)" : key(a)} | meshward ${b === undefined ? "(unset)" : key(b)}`);
  return out;
}

function resourceName(r: JsonObject): string {
  return String(r["name"] ?? r["clusterName"] ?? "");
}

/** Every string under `field` anywhere in `v`. */
function stringsUnder(v: JsonValue, field: string, out: Set<string>): Set<string> {
  if (Array.isArray(v)) for (const x of v) stringsUnder(x, field, out);
  else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (k === field && typeof x === "string") out.add(x);
      else stringsUnder(x, field, out);
    }
  }
  return out;
}

/** The clusters a gRPC client's routes send to: route and weighted clusters, not mirrors (gRPC does not mirror). */
function routedClusters(rds: readonly JsonObject[]): Set<string> {
  const out = new Set<string>();
  const walk = (v: JsonValue): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (k === "requestMirrorPolicies") continue;
        if (k === "cluster" && typeof x === "string") {
          out.add(x);
        } else if (k === "weightedClusters" && isObject(x) && Array.isArray(x["clusters"])) {
          for (const c of x["clusters"]) if (isObject(c)) out.add(String(c["name"]));
        } else {
          walk(x);
        }
      }
    }
  };
  walk(rds as JsonValue);
  return out;
}

/** Step 4: what a proxyless client would fetch, following names from its listeners. */
export function reachableFromListeners(all: ResourcesByType): ResourcesByType {
  const routes = stringsUnder(all.lds as JsonValue, "routeConfigName", new Set());
  const rds = all.rds.filter((r) => routes.has(resourceName(r)));
  const clusters = routedClusters(rds);
  const cds = all.cds.filter((c) => clusters.has(resourceName(c)));
  const services = stringsUnder(cds as JsonValue, "serviceName", new Set());
  return { lds: all.lds, rds, cds, eds: all.eds.filter((e) => services.has(resourceName(e))) };
}

function compared(side: Side, type: XdsType, list: readonly JsonObject[], used: Set<string>, ctx: CompareContext): Map<string, JsonObject> {
  const out = new Map<string, JsonObject>();
  for (const r of list) {
    const name = resourceName(r);
    const omitting = differences.find((d) => d.omit?.(side, type, name, r, ctx) === true);
    if (omitting) {
      used.add(omitting.id);
      continue;
    }
    out.set(name, normalise(side, type, r, used, ctx));
  }
  return out;
}

/** Every difference left after normalisation, one line each: `<type> <name><path>: ...`. */
export function compareResources(istiod: ResourcesByType, meshward: ResourcesByType, used: Set<string>, ctx: CompareContext): string[] {
  const out: string[] = [];
  for (const type of xdsTypes) {
    const theirs = compared("istiod", type, istiod[type], used, ctx);
    const ours = compared("meshward", type, meshward[type], used, ctx);
    for (const name of [...new Set([...theirs.keys(), ...ours.keys()])].sort()) {
      const a = theirs.get(name);
      const b = ours.get(name);
      if (a === undefined) out.push(`${type} ${name}: only meshward has it`);
      else if (b === undefined) out.push(`${type} ${name}: only istiod has it`);
      else for (const d of jsonDiff(a, b)) out.push(`${type} ${name}${d}`);
    }
  }
  return out;
}
