// HTTPRoute and GRPCRoute rules as Istio VirtualService `http` routes, the way istiod converts them
// (pilot/pkg/config/kube/gateway conversion.go): one Istio route per match, named after the rule
// (`<ns>.<route>.<rule index>` unless the rule has a name), filters as headers / redirect / rewrite
// / mirrors / corsPolicy, backendRefs as weighted destinations, timeouts and retries. Backends a
// route may not use (no ReferenceGrant), that do not exist or are of an unknown kind are reported
// for the route's ResolvedRefs condition.
import type { FieldProblems, Fields } from "../model/fields.js";
import { GATEWAY_API_GROUP, Reader, readRef, referenceAllowed, type ObjectRef, type ReferenceGrantSpec } from "./objects.js";

export type RouteKind = "HTTPRoute" | "GRPCRoute";
type Json = Record<string, unknown>;

export interface RouteSpec {
  readonly parentRefs: readonly ObjectRef[];
  readonly hostnames: readonly string[];
  /** The raw rules; converted per attachment (they do not depend on the parent). */
  readonly rules: readonly Fields[];
}

export function readRoute(spec: unknown, p: FieldProblems): RouteSpec | undefined {
  const r = new Reader(p);
  const s = r.map(spec, "spec") ?? {};
  const parentRefs = r.list(s["parentRefs"], "spec.parentRefs").flatMap((v, i) => readRef(v, `spec.parentRefs[${i}]`, r, { group: GATEWAY_API_GROUP, kind: "Gateway" }) ?? []);
  const hostnames = r.list(s["hostnames"], "spec.hostnames").flatMap((h, i) => r.string(h, `spec.hostnames[${i}]`) ?? []);
  const rules = r.list(s["rules"], "spec.rules").flatMap((v, i): Fields[] => { const m = r.map(v, `spec.rules[${i}]`); return m === undefined ? [] : [m]; });
  return p.hasErrors ? undefined : { parentRefs, hostnames, rules };
}

/** Why a route's references do not all resolve (Gateway API reasons, istiod's messages). */
export interface RefProblem {
  readonly reason: "RefNotPermitted" | "BackendNotFound" | "InvalidKind";
  readonly message: string;
}

/** Why a rule cannot be converted at all (the route is not accepted). */
export interface RuleProblem {
  readonly reason: "UnsupportedValue";
  readonly message: string;
}

export interface RouteContext {
  readonly kind: RouteKind;
  readonly namespace: string;
  readonly name: string;
  readonly domain: string;
  readonly grants: readonly { readonly namespace: string; readonly spec: ReferenceGrantSpec }[];
  /** Whether a Service `namespace/name` exists. */
  serviceExists(namespace: string, name: string): boolean;
}

export interface ConvertedRule {
  /** One per match (a rule without matches gives one route without `match`). */
  readonly routes: readonly Json[];
  /** The first match's precedence keys, per route. */
  readonly order: readonly RouteOrder[];
}

/** What istiod sorts routes by (sortHTTPRoutes): path kind, path length, method, header and query counts. */
export interface RouteOrder {
  readonly hasMatch: boolean;
  readonly uriRank: number;
  readonly uriLength: number;
  readonly method: boolean;
  readonly headers: number;
  readonly queryParams: number;
}

/** The backend as an Istio destination, or the reason it cannot be used. */
function destination(ctx: RouteContext, ref: ObjectRef): { dest?: Json; problem?: RefProblem } {
  const ns = ref.namespace ?? ctx.namespace;
  if (!referenceAllowed(ctx.grants, { group: GATEWAY_API_GROUP, kind: ctx.kind, namespace: ctx.namespace }, { group: ref.group, kind: ref.kind, name: ref.name, namespace: ns })) {
    return { problem: { reason: "RefNotPermitted", message: `backendRef ${ref.name}/${ns} not accessible to a ${ctx.kind} in namespace "${ctx.namespace}" (missing a ReferenceGrant?)` } };
  }
  if (!(ref.group === "" && ref.kind === "Service")) {
    return { problem: { reason: "InvalidKind", message: `referencing unsupported backendRef: group "${ref.group}" kind "${ref.kind}"` } };
  }
  const host = `${ref.name}.${ns}.svc.${ctx.domain}`;
  if (!ctx.serviceExists(ns, ref.name)) return { problem: { reason: "BackendNotFound", message: `backend(${host}) not found` } };
  return { dest: { host, ...(ref.port !== undefined ? { port: { number: ref.port } } : {}) } };
}

function headerOps(v: unknown, r: Reader, at: string): Json | undefined {
  const m = r.map(v, at);
  if (m === undefined) return undefined;
  const toMap = (list: unknown, where: string): Record<string, string> | undefined => {
    const out: Record<string, string> = {};
    for (const [i, h] of r.list(list, where).entries()) {
      const e = r.map(h, `${where}[${i}]`) ?? {};
      const name = r.string(e["name"], `${where}[${i}].name`)?.toLowerCase();
      // "Subsequent entries with an equivalent header name MUST be ignored."
      if (name !== undefined && !(name in out)) out[name] = r.string(e["value"], `${where}[${i}].value`) ?? "";
    }
    return Object.keys(out).length > 0 ? out : undefined;
  };
  const add = toMap(m["add"], `${at}.add`);
  const set = toMap(m["set"], `${at}.set`);
  const remove = r.list(m["remove"], `${at}.remove`).flatMap((x, i) => r.string(x, `${at}.remove[${i}]`) ?? []);
  return { ...(add ? { add } : {}), ...(set ? { set } : {}), ...(remove.length > 0 ? { remove } : {}) };
}

function redirect(v: unknown, r: Reader, at: string): Json | undefined {
  const m = r.map(v, at);
  if (m === undefined) return undefined;
  const out: Json = {};
  const scheme = r.string(m["scheme"], `${at}.scheme`);
  const hostname = r.string(m["hostname"], `${at}.hostname`);
  const port = r.int(m["port"], `${at}.port`, 1, 65535);
  const code = r.int(m["statusCode"], `${at}.statusCode`, 300, 399);
  if (hostname !== undefined) out["authority"] = hostname;
  // "When empty, port (if specified) of the request is used" (differs from Istio's default).
  if (port !== undefined) out["port"] = port;
  else out["derivePort"] = scheme !== undefined ? "FROM_PROTOCOL_DEFAULT" : "FROM_REQUEST_PORT";
  if (code !== undefined) out["redirectCode"] = code;
  if (scheme !== undefined) out["scheme"] = scheme;
  const path = r.map(m["path"], `${at}.path`);
  if (path?.["type"] === "ReplaceFullPath") out["uri"] = r.string(path["replaceFullPath"], `${at}.path.replaceFullPath`) ?? "";
  else if (path?.["type"] === "ReplacePrefixMatch") out["uri"] = `%PREFIX()%${r.string(path["replacePrefixMatch"], `${at}.path.replacePrefixMatch`) ?? ""}`;
  return out;
}

function rewrite(v: unknown, r: Reader, at: string): Json | undefined {
  const m = r.map(v, at);
  if (m === undefined) return undefined;
  const out: Json = {};
  const hostname = r.string(m["hostname"], `${at}.hostname`);
  const path = r.map(m["path"], `${at}.path`);
  if (path?.["type"] === "ReplacePrefixMatch") {
    // A trailing `/` is dropped; an empty replacement removes the prefix (`/`).
    const uri = (r.string(path["replacePrefixMatch"], `${at}.path.replacePrefixMatch`) ?? "").replace(/\/$/, "");
    out["uri"] = uri === "" ? "/" : uri;
  } else if (path?.["type"] === "ReplaceFullPath") {
    out["uriRegexRewrite"] = { match: "/.*", rewrite: r.string(path["replaceFullPath"], `${at}.path.replaceFullPath`) ?? "" };
  }
  if (hostname !== undefined) out["authority"] = hostname;
  return Object.keys(out).length > 0 ? out : undefined;
}

function durationText(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const m = /^(\d+)(h|m|s|ms)$/.exec(v);
  if (m === null) return undefined;
  const seconds = Number(m[1]) * { h: 3600, m: 60, s: 1, ms: 0.001 }[m[2] as "h" | "m" | "s" | "ms"];
  return seconds === 0 ? undefined : `${Number(seconds.toFixed(3))}s`;
}

/** The Gateway API retry stanza as Istio retries (istiod: the default retryOn plus the codes). */
function retries(v: unknown, r: Reader, at: string): Json | undefined {
  const m = r.map(v, at);
  if (m === undefined) return undefined;
  const attempts = r.int(m["attempts"], `${at}.attempts`, 0, 1000);
  if (attempts === 0) return {};
  const codes = r.list(m["codes"], `${at}.codes`).flatMap((c, i) => r.int(c, `${at}.codes[${i}]`, 400, 599) ?? []);
  const backoff = durationText(m["backoff"]);
  return { attempts: attempts ?? 2, ...(backoff !== undefined ? { backoff } : {}), retryOn: ["connect-failure", "refused-stream", "unavailable", "cancelled", ...codes.map(String)].join(",") };
}

function pathMatch(kind: RouteKind, m: Fields, r: Reader, at: string): { uri?: Json; rank: number; length: number } {
  if (kind === "GRPCRoute") {
    const method = r.map(m["method"], `${at}.method`);
    if (method === undefined) return { rank: 0, length: 0 };
    const service = r.string(method["service"], `${at}.method.service`);
    const name = r.string(method["method"], `${at}.method.method`);
    if (method["type"] === "RegularExpression") {
      const regex = `/${service ?? "[^/]+"}/${name ?? ".+"}`;
      return { uri: { regex }, rank: 1, length: regex.length };
    }
    if (service !== undefined && name !== undefined) return { uri: { exact: `/${service}/${name}` }, rank: 3, length: service.length + name.length + 2 };
    if (service !== undefined) return { uri: { prefix: `/${service}/` }, rank: 2, length: service.length + 2 };
    if (name !== undefined) return { uri: { regex: `/[^/]+/${name}` }, rank: 1, length: name.length + 7 };
    return { rank: 0, length: 0 };
  }
  const path = r.map(m["path"], `${at}.path`);
  if (path === undefined) return { rank: 0, length: 0 };
  const value = r.string(path["value"], `${at}.path.value`) ?? "/";
  switch (path["type"] ?? "PathPrefix") {
    case "Exact":
      return { uri: { exact: value }, rank: 3, length: value.length };
    case "RegularExpression":
      return { uri: { regex: value }, rank: 1, length: value.length };
    default: {
      const prefix = value !== "/" ? value.replace(/\/$/, "") : value;
      return { uri: { prefix }, rank: 2, length: prefix.length };
    }
  }
}

function stringMatches(list: unknown, r: Reader, at: string): Record<string, Json> | undefined {
  const out: Record<string, Json> = {};
  for (const [i, h] of r.list(list, at).entries()) {
    const e = r.map(h, `${at}[${i}]`) ?? {};
    const name = r.string(e["name"], `${at}[${i}].name`);
    const value = r.string(e["value"], `${at}[${i}].value`) ?? "";
    if (name !== undefined) out[name] = e["type"] === "RegularExpression" ? { regex: value } : { exact: value };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** One rule as Istio routes (one per match), with the backends that did not resolve. */
export function convertRule(ctx: RouteContext, rule: Fields, index: number, p: FieldProblems, refProblems: RefProblem[]): ConvertedRule | RuleProblem {
  const r = new Reader(p);
  const at = `spec.rules[${index}]`;
  const base: Json = { name: r.string(rule["name"], `${at}.name`) ?? `${ctx.namespace}.${ctx.name}.${index}` };
  const headers: Json = {};
  for (const [i, raw] of r.list(rule["filters"], `${at}.filters`).entries()) {
    const f = r.map(raw, `${at}.filters[${i}]`) ?? {};
    const fat = `${at}.filters[${i}]`;
    switch (f["type"]) {
      case "RequestHeaderModifier":
        headers["request"] = headerOps(f["requestHeaderModifier"], r, `${fat}.requestHeaderModifier`);
        break;
      case "ResponseHeaderModifier":
        headers["response"] = headerOps(f["responseHeaderModifier"], r, `${fat}.responseHeaderModifier`);
        break;
      case "RequestRedirect":
        if (ctx.kind === "GRPCRoute") return { reason: "UnsupportedValue", message: `unsupported filter type "RequestRedirect"` };
        base["redirect"] = redirect(f["requestRedirect"], r, `${fat}.requestRedirect`);
        break;
      case "URLRewrite":
        if (ctx.kind === "GRPCRoute") return { reason: "UnsupportedValue", message: `unsupported filter type "URLRewrite"` };
        base["rewrite"] = rewrite(f["urlRewrite"], r, `${fat}.urlRewrite`);
        break;
      case "RequestMirror": {
        const mirror = r.map(f["requestMirror"], `${fat}.requestMirror`) ?? {};
        const ref = readRef(mirror["backendRef"], `${fat}.requestMirror.backendRef`, r, { group: "", kind: "Service" });
        if (ref === undefined) break;
        const { dest, problem } = destination(ctx, ref);
        if (problem !== undefined) refProblems.push(problem);
        if (dest === undefined) break;
        const fraction = r.map(mirror["fraction"], `${fat}.requestMirror.fraction`);
        const percent = fraction !== undefined ? (100 * Number(fraction["numerator"] ?? 0)) / Number(fraction["denominator"] ?? 100) : typeof mirror["percent"] === "number" ? mirror["percent"] : undefined;
        base["mirrors"] = [...((base["mirrors"] as Json[] | undefined) ?? []), { destination: dest, ...(percent !== undefined ? { percentage: { value: percent } } : {}) }];
        break;
      }
      default:
        return { reason: "UnsupportedValue", message: `unsupported filter type "${String(f["type"])}"` };
    }
  }
  if (headers["request"] !== undefined || headers["response"] !== undefined) base["headers"] = headers;
  const timeouts = r.map(rule["timeouts"], `${at}.timeouts`);
  const retry = retries(rule["retry"], r, `${at}.retry`);
  if (retry !== undefined) base["retries"] = retry;
  const requestTimeout = durationText(timeouts?.["request"]);
  const backendTimeout = durationText(timeouts?.["backendRequest"]);
  if (requestTimeout !== undefined) base["timeout"] = requestTimeout;
  if (backendTimeout !== undefined) {
    if (retry !== undefined && Object.keys(retry).length > 0) retry["perTryTimeout"] = backendTimeout;
    else base["timeout"] = backendTimeout;
  }
  // Backends with weight 0 are left out; one backend carries no weight (istiod).
  const refs = r.list(rule["backendRefs"], `${at}.backendRefs`).flatMap((v, i) => readRef(v, `${at}.backendRefs[${i}]`, r, { group: "", kind: "Service" }) ?? []);
  const weighted = refs.filter((ref) => (ref.weight ?? 1) > 0);
  const route: Json[] = [];
  for (const ref of weighted) {
    const { dest, problem } = destination(ctx, ref);
    if (problem !== undefined) refProblems.push(problem);
    // An unusable backend is left out (istiod keeps an empty destination, which Envoy answers with
    // a 500); the rest of the rule keeps its weights.
    if (dest !== undefined) route.push({ destination: dest, ...(weighted.length > 1 ? { weight: ref.weight ?? 1 } : {}) });
  }
  if (base["redirect"] === undefined) {
    // The spec requires a 500 when no backend can take the request.
    if (route.length === 0) base["directResponse"] = { status: 500 };
    else base["route"] = route;
  }
  const matches = r.list(rule["matches"], `${at}.matches`);
  if (matches.length === 0) return { routes: [base], order: [{ hasMatch: false, uriRank: 0, uriLength: 0, method: false, headers: 0, queryParams: 0 }] };
  const routes: Json[] = [];
  const order: RouteOrder[] = [];
  matches.forEach((raw, j) => {
    const mat = `${at}.matches[${j}]`;
    const m = r.map(raw, mat) ?? {};
    const { uri, rank, length } = pathMatch(ctx.kind, m, r, mat);
    const headerMatch = stringMatches(m["headers"], r, `${mat}.headers`);
    const queryParams = ctx.kind === "HTTPRoute" ? stringMatches(m["queryParams"], r, `${mat}.queryParams`) : undefined;
    const method = ctx.kind === "HTTPRoute" ? r.string(m["method"], `${mat}.method`) : undefined;
    const match: Json = { ...(uri ? { uri } : {}), ...(headerMatch ? { headers: headerMatch } : {}), ...(queryParams ? { queryParams } : {}), ...(method ? { method: { exact: method } } : {}) };
    routes.push(Object.keys(match).length > 0 ? { match: [match], ...base } : { ...base });
    order.push({ hasMatch: Object.keys(match).length > 0, uriRank: rank, uriLength: length, method: method !== undefined, headers: Object.keys(headerMatch ?? {}).length, queryParams: Object.keys(queryParams ?? {}).length });
  });
  return { routes, order };
}

/** istiod's sortHTTPRoutes: routes with a match first; exact > prefix > regex, longer first; then method, headers, query params. */
export function compareRouteOrder(a: RouteOrder, b: RouteOrder): number {
  if (a.hasMatch !== b.hasMatch) return a.hasMatch ? -1 : 1;
  if (!a.hasMatch) return 0;
  if (a.uriRank !== b.uriRank) return b.uriRank - a.uriRank;
  if (a.uriLength !== b.uriLength) return b.uriLength - a.uriLength;
  if (a.method !== b.method) return a.method ? -1 : 1;
  if (a.headers !== b.headers) return b.headers - a.headers;
  return b.queryParams - a.queryParams;
}
