// VirtualService -> route IR, as istiod's route package does it (BuildHTTPRoutesForVirtualService,
// TranslateRoute, applyHTTPRouteDestination): which VirtualServices a proxy sees for a gateway
// (`mesh` for sidecars and proxyless clients, `ns/name` for routers), their short names resolved and
// delegates merged (virtual-service-merge.ts), and each http route turned into IR routes, one per
// match that applies to this proxy and port.
import { effectiveTrafficPolicy } from "../model/destination-rule.js";
import { destinationRuleFor, labelsMatch, visibleServices } from "../model/lookup.js";
import { grpcStatusCodes } from "../model/virtual-service-http.js";
import { MeshGateway, type DestinationSpec, type HeadersSpec, type HttpMatchSpec, type HttpRouteSpec, type StringMatchSpec } from "../model/virtual-service.js";
import type { MeshSnapshot, Service } from "../model/snapshot.js";
import { hashPolicyOf } from "./routes-hash.js";
import { outboundClusterName, type TranslationScope } from "./scope.js";
import { resolvedVirtualServices, type ResolvedVirtualService } from "./virtual-service-merge.js";
import type { FaultInjection, FractionalPercent, HashPolicy, HeaderCondition, HeaderOperations, HeaderValue, HttpRoute, Mirror, QueryParamCondition, RetryPolicy, RouteAction, RouteMatch, StringMatch, WeightedDestination } from "./types.js";

export type { ResolvedVirtualService } from "./virtual-service-merge.js";

/**
 * The VirtualServices bound to `gateway` that a proxy in `namespace` sees, in istiod's order
 * (VirtualServicesForGateway): its own namespace's private ones, those exported to its namespace,
 * then public ones; oldest first within each.
 */
export function virtualServicesForGateway(snapshot: MeshSnapshot, namespace: string, gateway: string, clusterDomain: string): ResolvedVirtualService[] {
  const all = resolvedVirtualServices(snapshot, clusterDomain).filter((vs) => vs.gateways.includes(gateway));
  const exportSet = (vs: ResolvedVirtualService): string[] => vs.spec.exportTo.map((e) => (e === "." ? vs.namespace : e));
  const isPublic = (vs: ResolvedVirtualService): boolean => exportSet(vs).includes("*");
  const privateOnes = all.filter((vs) => !isPublic(vs) && vs.namespace === namespace && exportSet(vs).includes(namespace));
  const exported = all.filter((vs) => !isPublic(vs) && vs.namespace !== namespace && exportSet(vs).includes(namespace));
  return [...privateOnes, ...exported, ...all.filter(isPublic)];
}

/** Proxy labels that VirtualService sourceLabels read (they make routes depend on the proxy), memoised per snapshot. */
const sourceLabelKeys = new WeakMap<MeshSnapshot, readonly string[]>();

/** The part of a proxy's identity its routes depend on beyond its namespace: the labels sourceLabels match on. */
export function routingLabelsKey(snapshot: MeshSnapshot, labels: Readonly<Record<string, string>>): string {
  let keys = sourceLabelKeys.get(snapshot);
  if (keys === undefined) {
    const set = new Set<string>();
    for (const vs of resolvedVirtualServices(snapshot, "")) {
      const matches = [...vs.spec.http.flatMap((h) => h.match), ...vs.spec.tcp.flatMap((r) => r.match), ...vs.spec.tls.flatMap((r) => r.match)];
      for (const m of matches) for (const k of Object.keys(m.sourceLabels)) set.add(k);
    }
    keys = [...set].sort();
    sourceLabelKeys.set(snapshot, keys);
  }
  return keys.map((k) => `${k}=${labels[k] ?? "\u0000"}`).join(",");
}

/** istiod's sourceMatchHTTP: a match applies to this proxy when its gateways name ours, else by source labels and namespace. */
function sourceMatches(m: HttpMatchSpec, scope: TranslationScope, gateways: ReadonlySet<string>): boolean {
  if (m.gateways.length > 0) return m.gateways.some((g) => gateways.has(g));
  return labelsMatch(m.sourceLabels, scope.proxy.labels) && (m.sourceNamespace === undefined || m.sourceNamespace === scope.proxy.namespace);
}

function stringMatch(m: StringMatchSpec): StringMatch | undefined {
  return "present" in m ? undefined : m;
}

function headerCondition(name: string, m: StringMatchSpec, invert: boolean): HeaderCondition {
  const match = stringMatch(m);
  return { name, ...(match ? { match } : {}), ...(invert ? { invert: true, ...(match ? { treatMissingAsEmpty: true } : {}) } : {}) };
}

/** istiod's TranslateRouteMatch: headers and withoutHeaders sorted by name, then :method, :authority, :scheme. */
function routeMatch(m: HttpMatchSpec | undefined): RouteMatch {
  if (m === undefined) return { path: { kind: "prefix", value: "/" } };
  const headers: HeaderCondition[] = [
    ...Object.entries(m.headers).map(([n, v]) => headerCondition(n, v, false)),
    ...Object.entries(m.withoutHeaders).map(([n, v]) => headerCondition(n, v, true)),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (m.method) headers.push(headerCondition(":method", m.method, false));
  if (m.authority) headers.push(headerCondition(":authority", m.authority, false));
  if (m.scheme) headers.push(headerCondition(":scheme", m.scheme, false));
  // Go's map order is random in istiod; meshward sorts query parameters by name.
  const queryParams: QueryParamCondition[] = Object.entries(m.queryParams)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, v]) => {
      const match = stringMatch(v);
      return { name, ...(match ? { match } : {}) };
    });
  const uri = m.uri && !("present" in m.uri) ? m.uri : undefined;
  const path: RouteMatch["path"] = uri === undefined ? { kind: "prefix", value: "/" } : "exact" in uri ? { kind: "exact", value: uri.exact } : "prefix" in uri ? { kind: "prefix", value: uri.prefix } : { kind: "regex", value: uri.regex };
  return { path, caseSensitive: !m.ignoreUriCase, ...(headers.length ? { headers } : {}), ...(queryParams.length ? { queryParams } : {}) };
}

export function isCatchAll(m: RouteMatch): boolean {
  const all = (m.path.kind === "prefix" && m.path.value === "/") || (m.path.kind === "regex" && m.path.value === ".*");
  return all && (m.headers?.length ?? 0) === 0 && (m.queryParams?.length ?? 0) === 0;
}

const isInternalHeader = (k: string): boolean => k.startsWith(":") || k.toLowerCase() === "host";
const isAuthorityHeader = (k: string): boolean => k.toLowerCase() === ":authority" || k.toLowerCase() === "host";

/** istiod's TranslateHeadersOperations: set (overwrite) then add (append), each sorted by name; `:authority`/`host` become the authority. */
function headerOperations(h: HeadersSpec | undefined): { ops?: HeaderOperations; authority?: string } {
  if (h === undefined) return {};
  let authority: string | undefined;
  const values = (m: Readonly<Record<string, string>>, append: boolean, takeAuthority: boolean): HeaderValue[] =>
    Object.keys(m)
      .sort()
      .flatMap((key) => {
        if (takeAuthority && isAuthorityHeader(key) && (append ? authority === undefined : true)) authority = m[key];
        return isInternalHeader(key) ? [] : [{ key, value: m[key]!, append }];
      });
  const requestSet = values(h.request?.set ?? {}, false, true);
  const requestAdd = values(h.request?.add ?? {}, true, true);
  const requestAddAll = [...requestSet, ...requestAdd];
  const responseAdd = [...values(h.response?.set ?? {}, false, false), ...values(h.response?.add ?? {}, true, false)];
  const requestRemove = (h.request?.remove ?? []).filter((k) => !isInternalHeader(k));
  const responseRemove = (h.response?.remove ?? []).filter((k) => !isInternalHeader(k));
  const ops: HeaderOperations = {
    ...(requestAddAll.length ? { requestAdd: requestAddAll } : {}),
    ...(requestRemove.length ? { requestRemove } : {}),
    ...(responseAdd.length ? { responseAdd } : {}),
    ...(responseRemove.length ? { responseRemove } : {}),
  };
  return { ...(Object.keys(ops).length ? { ops } : {}), ...(authority !== undefined ? { authority } : {}) };
}

function concatOps(a: HeaderOperations | undefined, b: HeaderOperations | undefined): HeaderOperations | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const cat = <T>(x: readonly T[] | undefined, y: readonly T[] | undefined): readonly T[] | undefined => (x || y ? [...(x ?? []), ...(y ?? [])] : undefined);
  const out = { requestAdd: cat(a.requestAdd, b.requestAdd), requestRemove: cat(a.requestRemove, b.requestRemove), responseAdd: cat(a.responseAdd, b.responseAdd), responseRemove: cat(a.responseRemove, b.responseRemove) };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as HeaderOperations;
}

/** istiod's GetDestinationCluster: the destination's port, else the service's only port, else the port being routed. */
export function destinationCluster(d: DestinationSpec, services: ReadonlyMap<string, Service>, listenPort: number): string {
  const svc = services.get(d.host);
  const port = d.port ?? (svc !== undefined && svc.ports.length === 1 ? svc.ports[0]!.number : listenPort);
  return outboundClusterName(port, d.subset ?? "", d.host);
}

/** istiod's HashForHTTPDestination: the destination's DestinationRule consistent hash (subset, then port level). */
function destinationHash(scope: TranslationScope, d: DestinationSpec, services: ReadonlyMap<string, Service>): HashPolicy | undefined {
  const svc = services.get(d.host);
  if (svc === undefined) return undefined;
  const rule = destinationRuleFor(scope.snapshot, scope.proxy.namespace, svc);
  if (rule === undefined) return undefined;
  const key = effectiveTrafficPolicy(rule.spec, d.port ?? -1, d.subset).loadBalancer?.consistentHash?.key;
  return key === undefined ? undefined : hashPolicyOf(key, scope.proxy.flavour);
}

/** istiod's retry.ConvertPolicy: the default without a policy, none with 0 attempts; no other-host predicate with consistent hashing. */
function retryPolicy(r: HttpRouteSpec["retries"], consistentHash: boolean): RetryPolicy | undefined {
  const retryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
  if (r === undefined) return { retryOn, numRetries: 2, otherHost: !consistentHash };
  if (r.attempts <= 0) return undefined;
  let on = retryOn;
  let codes: number[] = [];
  if (r.retryOn !== undefined) {
    const parts = r.retryOn.split(",").map((x) => x.trim()).filter((x) => x !== "");
    codes = parts.filter((x) => /^\d+$/.test(x) && Number(x) >= 100 && Number(x) <= 599).map(Number);
    on = parts.filter((x) => !codes.includes(Number(x)) || !/^\d+$/.test(x)).join(",");
    if (codes.length > 0 && !on.includes("retriable-status-codes")) on += ",retriable-status-codes";
  }
  const otherHost = r.retryIgnorePreviousHosts ?? !consistentHash;
  return {
    retryOn: on,
    numRetries: r.attempts,
    ...(r.perTryTimeout !== undefined ? { perTryTimeoutSeconds: r.perTryTimeout } : {}),
    otherHost,
    ...(codes.length ? { retriableStatusCodes: codes } : {}),
    ...(r.backoff !== undefined ? { backoffSeconds: r.backoff } : {}),
  };
}

const perMillion = (percent: number): FractionalPercent => ({ numerator: Math.round(percent * 10000), denominator: "MILLION" });

/** istiod's TranslateFault: a delay without percentage is 0 per hundred (its deprecated integer percent), an abort without one unset. */
function fault(f: HttpRouteSpec["fault"]): FaultInjection | undefined {
  if (f === undefined) return undefined;
  const delay = f.delay ? { fixedDelaySeconds: f.delay.fixedDelay, percentage: f.delay.percentage !== undefined ? perMillion(f.delay.percentage) : { numerator: f.delay.percent ?? 0, denominator: "HUNDRED" as const } } : undefined;
  const abort = f.abort
    ? {
        ...(f.abort.grpcStatus !== undefined ? { grpcStatus: grpcStatusCodes[f.abort.grpcStatus] ?? 2 } : { httpStatus: f.abort.httpStatus ?? 500 }),
        ...(f.abort.percentage !== undefined ? { percentage: perMillion(f.abort.percentage) } : {}),
      }
    : undefined;
  return { ...(delay ? { delay } : {}), ...(abort ? { abort } : {}) };
}

function forwardAction(scope: TranslationScope, http: HttpRouteSpec, services: ReadonlyMap<string, Service>, listenPort: number, authorityFromHeaders: string | undefined): { action: RouteAction; headers?: HeaderOperations } {
  const timeout = http.timeout ?? 0;
  const grpc = scope.proxy.flavour === "grpc";
  const mirrors: Mirror[] = http.mirrors.map((m) => ({ cluster: destinationCluster(m.destination, services, listenPort), fraction: m.percentage !== undefined ? perMillion(m.percentage) : { numerator: 100, denominator: "HUNDRED" } }));
  const hashes: HashPolicy[] = [];
  let routeHeaders: HeaderOperations | undefined;
  let authority = http.rewrite?.authority ?? authorityFromHeaders;
  let destinations: WeightedDestination[];
  let consistentHash = false;
  if (http.route.length === 1) {
    const d = http.route[0]!;
    const { ops, authority: dstAuthority } = headerOperations(d.headers);
    routeHeaders = ops;
    if (authority === undefined && dstAuthority !== undefined) authority = dstAuthority;
    const hash = destinationHash(scope, d.destination, services);
    if (hash) hashes.push(hash);
    consistentHash = hash !== undefined;
    destinations = [{ cluster: destinationCluster(d.destination, services, listenPort), weight: d.weight }];
  } else {
    destinations = http.route
      .filter((d) => d.weight !== 0)
      .map((d) => {
        const { ops, authority: a } = headerOperations(d.headers);
        const hash = destinationHash(scope, d.destination, services);
        if (hash) hashes.push(hash);
        return { cluster: destinationCluster(d.destination, services, listenPort), weight: d.weight, ...(ops ? { headers: ops } : {}), ...(a !== undefined ? { authority: a } : {}) };
      });
  }
  const retry = retryPolicy(http.retries, consistentHash);
  const rw = http.rewrite;
  const rewrite = rw?.uriRegexRewrite ? { regex: { pattern: rw.uriRegexRewrite.match, substitution: rw.uriRegexRewrite.rewrite } } : rw?.uri ? { prefix: rw.uri } : undefined;
  return {
    action: {
      kind: "forward",
      destinations,
      timeoutSeconds: timeout,
      ...(grpc ? { maxStreamDurationSeconds: timeout } : { maxGrpcTimeoutSeconds: timeout }),
      ...(retry ? { retry } : {}),
      ...(hashes.length ? { hashPolicies: hashes } : {}),
      ...(mirrors.length ? { mirrors } : {}),
      ...(rewrite ? { rewrite } : {}),
      ...(authority !== undefined ? { authority } : {}),
    },
    ...(routeHeaders ? { headers: routeHeaders } : {}),
  };
}

/** istiod's ApplyRedirect: a port derived from the request is the port being routed; default ports are left out. */
function redirectAction(r: NonNullable<HttpRouteSpec["redirect"]>, listenPort: number): RouteAction {
  let port = r.port ?? (r.derivePort === "FROM_REQUEST_PORT" ? listenPort : undefined);
  const scheme = r.scheme ?? "http";
  if ((port === 80 && scheme === "http") || (port === 443 && scheme === "https")) port = undefined;
  return { kind: "redirect", path: r.uri ?? "", ...(r.authority ? { authority: r.authority } : {}), ...(port !== undefined ? { port } : {}), ...(r.scheme ? { scheme: r.scheme } : {}), ...(r.redirectCode ? { code: r.redirectCode } : {}) };
}

/** istiod's TranslateRoute for one match (undefined = the route has none): undefined when it does not apply here. */
function translateRoute(scope: TranslationScope, vs: ResolvedVirtualService, http: HttpRouteSpec, m: HttpMatchSpec | undefined, listenPort: number, gateways: ReadonlySet<string>, services: ReadonlyMap<string, Service>): HttpRoute | undefined {
  if (m?.port !== undefined && m.port !== listenPort) return undefined;
  if (m !== undefined && !sourceMatches(m, scope, gateways)) return undefined;
  const name = m?.name ? `${http.name ?? ""}.${m.name}` : http.name;
  const { ops, authority } = headerOperations(http.headers);
  let action: RouteAction;
  let headers = ops;
  if (http.redirect) action = redirectAction(http.redirect, listenPort);
  else if (http.directResponse) {
    const { status, body, bodyBase64 } = http.directResponse;
    action = { kind: "directResponse", status, ...(body !== undefined ? { body } : {}), ...(bodyBase64 !== undefined ? { bodyBase64 } : {}) };
  }
  else {
    const f = forwardAction(scope, http, services, listenPort, authority);
    action = f.action;
    headers = concatOps(headers, f.headers);
  }
  const faultIr = fault(http.fault);
  const c = http.corsPolicy;
  return {
    ...(name ? { name } : {}),
    match: routeMatch(m),
    action,
    ...(headers ? { headers } : {}),
    ...(faultIr && (faultIr.delay || faultIr.abort) ? { fault: faultIr } : {}),
    ...(c
      ? { cors: { allowOrigins: c.allowOrigins.flatMap((o) => (stringMatch(o) ? [stringMatch(o)!] : [])), allowMethods: c.allowMethods, allowHeaders: c.allowHeaders, exposeHeaders: c.exposeHeaders, ...(c.maxAge !== undefined ? { maxAgeSeconds: c.maxAge } : {}), ...(c.allowCredentials !== undefined ? { allowCredentials: c.allowCredentials } : {}), forwardNotMatchingPreflights: c.unmatchedPreflights !== "IGNORE" } }
      : {}),
    ...(m?.statPrefix ? { statPrefix: m.statPrefix } : {}),
    origin: vs.configPath,
  };
}

/**
 * istiod's BuildHTTPRoutesForVirtualService: the routes of one VirtualService on `listenPort` for a
 * proxy acting as one of `gateways`; a catch-all route ends the list. Empty: the VirtualService
 * does not apply on this port (the service keeps its default route).
 */
export function httpRoutesForVirtualService(scope: TranslationScope, vs: ResolvedVirtualService, listenPort: number, gateways: ReadonlySet<string>): HttpRoute[] {
  const services = new Map(visibleServices(scope.snapshot, scope.proxy.namespace).map((s) => [s.hostname, s]));
  const out: HttpRoute[] = [];
  for (const http of vs.spec.http) {
    let catchAll = http.match.length === 0;
    for (const m of http.match.length === 0 ? [undefined] : http.match) {
      const r = translateRoute(scope, vs, http, m, listenPort, gateways, services);
      if (r === undefined) continue;
      out.push(r);
      if (isCatchAll(r.match)) {
        catchAll = true;
        break;
      }
    }
    if (catchAll) break;
  }
  return out;
}

/** The routes a VirtualService bound to a router gives `port` there (gateway: `ns/name`); for router translation. */
export function gatewayHttpRoutes(scope: TranslationScope, vs: ResolvedVirtualService, gateway: string, port: number): HttpRoute[] {
  return httpRoutesForVirtualService(scope, vs, port, new Set([gateway]));
}

export const meshGateways: ReadonlySet<string> = new Set([MeshGateway]);
