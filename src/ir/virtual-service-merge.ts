// VirtualServices as route translation reads them (istiod's MergedVirtualServices): short host
// names resolved against the VirtualService's namespace (ResolveVirtualServiceShortnames), gateway
// names made `namespace/name`, and delegate VirtualServices merged into their roots (MergeHTTPRoutes):
// a delegate's routes inherit what the root route sets and they do not, and their matches are
// merged with the root's; a delegate match that conflicts with every root match drops the route.
import { isIP } from "node:net";
import { MeshGateway, virtualServices, type DestinationSpec, type HttpMatchSpec, type HttpRouteSpec, type StringMatchSpec, type VirtualService, type VirtualServiceSpec } from "../model/virtual-service.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { httpMatchSpec } from "../model/virtual-service-http.js";

/** A root VirtualService with its names resolved and its delegates merged. */
export interface ResolvedVirtualService extends VirtualService {
  /** The gateways it binds to, `mesh` or `namespace/name` (default: `mesh`). */
  readonly gateways: readonly string[];
}

/** istiod's ResolveShortnameToFQDN: `reviews` in namespace `default` is `reviews.default.svc.<domain>`. */
export function resolveShortName(host: string, namespace: string, clusterDomain: string): string {
  if (host === "*" || isIP(host) !== 0 || host.includes(".")) return host;
  return clusterDomain === "" ? `${host}.${namespace}` : `${host}.${namespace}.svc.${clusterDomain}`;
}

/** istiod's resolveGatewayName: `name` is in the VirtualService's namespace; legacy `name.namespace[.svc...]` is `namespace/name`. */
function resolveGateway(g: string, namespace: string): string {
  if (g === MeshGateway || g.includes("/")) return g;
  const [name, ns] = g.split(".");
  return ns !== undefined ? `${ns}/${name}` : `${namespace}/${g}`;
}

function resolveDestination(d: DestinationSpec, namespace: string, domain: string): DestinationSpec {
  return { ...d, host: resolveShortName(d.host, namespace, domain) };
}

function resolveHttp(h: HttpRouteSpec, namespace: string, domain: string): HttpRouteSpec {
  return {
    ...h,
    match: h.match.map((m) => ({ ...m, gateways: m.gateways.map((g) => resolveGateway(g, namespace)) })),
    route: h.route.map((r) => ({ ...r, destination: resolveDestination(r.destination, namespace, domain) })),
    mirrors: h.mirrors.map((m) => ({ ...m, destination: resolveDestination(m.destination, namespace, domain) })),
  };
}

function resolveSpec(spec: VirtualServiceSpec, namespace: string, domain: string): VirtualServiceSpec {
  const l4 = (routes: VirtualServiceSpec["tcp"]): VirtualServiceSpec["tcp"] =>
    routes.map((r) => ({ match: r.match.map((m) => ({ ...m, gateways: m.gateways.map((g) => resolveGateway(g, namespace)) })), route: r.route.map((d) => ({ ...d, destination: resolveDestination(d.destination, namespace, domain) })) }));
  return {
    ...spec,
    hosts: spec.hosts.map((h) => resolveShortName(h, namespace, domain)),
    gateways: spec.gateways.map((g) => resolveGateway(g, namespace)),
    http: spec.http.map((h) => resolveHttp(h, namespace, domain)),
    tcp: l4(spec.tcp),
    tls: l4(spec.tls),
  };
}

/** istiod's stringMatchConflict: whether a delegate's match cannot be a refinement of the root's. */
function stringMatchConflict(root: StringMatchSpec | undefined, leaf: StringMatchSpec | undefined): boolean {
  if (root === undefined || leaf === undefined || "present" in root || "present" in leaf) return false;
  if ("regex" in root || "regex" in leaf) return true;
  if ("exact" in root) return !("exact" in leaf) || leaf.exact !== root.exact;
  return "exact" in leaf ? !leaf.exact.startsWith(root.prefix) : !leaf.prefix.startsWith(root.prefix);
}

function hasConflict(root: HttpMatchSpec, leaf: HttpMatchSpec): boolean {
  const pairs: [StringMatchSpec | undefined, StringMatchSpec | undefined][] = [
    [root.uri, leaf.uri],
    [root.scheme, leaf.scheme],
    [root.method, leaf.method],
    [root.authority, leaf.authority],
    ...Object.entries(leaf.headers).map(([k, v]): [StringMatchSpec | undefined, StringMatchSpec] => [root.headers[k], v]),
    ...Object.entries(leaf.withoutHeaders).map(([k, v]): [StringMatchSpec | undefined, StringMatchSpec] => [root.withoutHeaders[k], v]),
    ...Object.entries(leaf.queryParams).map(([k, v]): [StringMatchSpec | undefined, StringMatchSpec] => [root.queryParams[k], v]),
  ];
  if (pairs.some(([r, l]) => stringMatchConflict(r, l))) return true;
  if (root.ignoreUriCase !== leaf.ignoreUriCase) return true;
  if (root.port !== undefined && leaf.port !== undefined && root.port !== leaf.port) return true;
  if (root.sourceNamespace !== undefined && leaf.sourceNamespace !== root.sourceNamespace) return true;
  if (Object.entries(leaf.sourceLabels).some(([k, v]) => root.sourceLabels[k] !== undefined && root.sourceLabels[k] !== v)) return true;
  if (root.gateways.length > 0 && leaf.gateways.length > 0 && leaf.gateways.some((g) => !root.gateways.includes(g))) return true;
  return false;
}

function joinNames(root: string | undefined, leaf: string | undefined): string | undefined {
  if (!leaf) return root;
  return root ? `${root}-${leaf}` : leaf;
}

function mergeMatch(root: HttpMatchSpec, leaf: HttpMatchSpec): HttpMatchSpec {
  return httpMatchSpec({
    name: joinNames(root.name, leaf.name),
    uri: leaf.uri ?? root.uri,
    scheme: leaf.scheme ?? root.scheme,
    method: leaf.method ?? root.method,
    authority: leaf.authority ?? root.authority,
    headers: { ...root.headers, ...leaf.headers },
    withoutHeaders: { ...root.withoutHeaders, ...leaf.withoutHeaders },
    queryParams: { ...root.queryParams, ...leaf.queryParams },
    ignoreUriCase: leaf.ignoreUriCase,
    port: leaf.port ?? root.port,
    sourceLabels: { ...root.sourceLabels, ...leaf.sourceLabels },
    gateways: leaf.gateways.length > 0 ? leaf.gateways : root.gateways,
    sourceNamespace: leaf.sourceNamespace ?? root.sourceNamespace,
    statPrefix: leaf.statPrefix ?? root.statPrefix,
  });
}

/** istiod's mergeHTTPMatchRequests: each delegate match must refine some root match; undefined = conflict. */
function mergeMatches(root: readonly HttpMatchSpec[], leaf: readonly HttpMatchSpec[]): HttpMatchSpec[] | undefined {
  if (root.length === 0) return [...leaf];
  if (leaf.length === 0) return [...root];
  const out: HttpMatchSpec[] = [];
  for (const l of leaf) {
    const merged = root.filter((r) => !hasConflict(r, l)).map((r) => mergeMatch(r, l));
    if (merged.length === 0) return undefined;
    out.push(...merged);
  }
  return out;
}

/** istiod's mergeHTTPRoute: the delegate route, with what it leaves unset taken from the root route. */
function mergeRoute(root: HttpRouteSpec, leaf: HttpRouteSpec): HttpRouteSpec | undefined {
  const match = mergeMatches(root.match, leaf.match);
  if (match === undefined) return undefined;
  const name = joinNames(root.name, leaf.name);
  const inherit = <K extends keyof HttpRouteSpec>(k: K): Partial<Pick<HttpRouteSpec, K>> => {
    const v = leaf[k] ?? root[k];
    return v === undefined ? {} : ({ [k]: v } as Partial<Pick<HttpRouteSpec, K>>);
  };
  return {
    ...leaf,
    ...(name ? { name } : {}),
    match,
    ...inherit("rewrite"),
    ...inherit("directResponse"),
    ...inherit("timeout"),
    ...inherit("retries"),
    ...inherit("fault"),
    ...inherit("corsPolicy"),
    ...inherit("headers"),
    mirrors: leaf.mirrors.length > 0 ? leaf.mirrors : root.mirrors,
  };
}

function isVisibleTo(vs: VirtualService, namespace: string): boolean {
  return vs.spec.exportTo.some((e) => e === "*" || e === namespace || (e === "." && vs.namespace === namespace));
}

function merged(all: readonly VirtualService[], domain: string): ResolvedVirtualService[] {
  const delegates = new Map(all.filter((vs) => vs.spec.hosts.length === 0).map((vs) => [`${vs.namespace}/${vs.name}`, vs]));
  return all
    .filter((vs) => vs.spec.hosts.length > 0)
    .map((vs): ResolvedVirtualService => {
      const spec = resolveSpec(vs.spec, vs.namespace, domain);
      const http = spec.http.flatMap((h): HttpRouteSpec[] => {
        if (h.delegate === undefined) return [h];
        const d = delegates.get(`${h.delegate.namespace ?? vs.namespace}/${h.delegate.name}`);
        // A missing delegate, or one not exported to the root's namespace, drops only this route (as istiod).
        if (d === undefined || !isVisibleTo(d, vs.namespace)) return [];
        return resolveSpec(d.spec, d.namespace, domain).http.flatMap((leaf) => mergeRoute(h, leaf) ?? []);
      });
      return { ...vs, spec: { ...spec, http }, gateways: spec.gateways.length > 0 ? spec.gateways : [MeshGateway] };
    });
}

const memo = new WeakMap<MeshSnapshot, Map<string, ResolvedVirtualService[]>>();

/** Every root VirtualService of the snapshot, resolved and merged, oldest first (memoised per snapshot and cluster domain). */
export function resolvedVirtualServices(snapshot: MeshSnapshot, clusterDomain: string): ResolvedVirtualService[] {
  let byDomain = memo.get(snapshot);
  if (byDomain === undefined) memo.set(snapshot, (byDomain = new Map()));
  let out = byDomain.get(clusterDomain);
  if (out === undefined) byDomain.set(clusterDomain, (out = merged(virtualServices(snapshot), clusterDomain)));
  return out;
}
