// Which VirtualService routes which host on a port, for sidecars and proxyless clients (istiod's
// selectVirtualServices, separateVSHostsAndServices and the most-specific-wildcard index): a
// VirtualService claims the services its hosts name (a wildcard host only the services for which
// it is the most specific wildcard), in istiod's order, the first claim winning; its hosts that
// are no service get virtual hosts of their own. Plus the cache key of everything this reads.
import { digestOf } from "../model/digest.js";
import { destinationRuleFor, visibleServices } from "../model/lookup.js";
import { scopeImportsHost, sidecarScope } from "../model/sidecar-scope.js";
import { hostMatches, MeshGateway, virtualServicesDigest } from "../model/virtual-service.js";
import type { MeshSnapshot, Service } from "../model/snapshot.js";
import { isHttpProtocol, isSniffedProtocol } from "../model/service-entry.js";
import { clusterDomain, type TranslationScope } from "./scope.js";
import type { HttpRoute } from "./types.js";
import { httpRoutesForVirtualService, meshGateways, routingLabelsKey, virtualServicesForGateway, type ResolvedVirtualService } from "./virtual-service-routes.js";

/** One VirtualService's routes on a port and what they answer for. */
export interface VirtualServiceClaim {
  readonly virtualService: ResolvedVirtualService;
  readonly routes: HttpRoute[];
  readonly services: readonly Service[];
  /** Hosts that name no service (an external name, say), routed only by this VirtualService. */
  readonly hosts: readonly string[];
}

const isWildcard = (h: string): boolean => h.startsWith("*");

/** For each service host, the VirtualService with the most specific wildcard host matching it (istiod's MostSpecificWildcardVirtualServiceIndex). */
function wildcardIndex(list: readonly ResolvedVirtualService[], hostnames: readonly string[]): Map<string, ResolvedVirtualService> {
  const out = new Map<string, ResolvedVirtualService>();
  for (const h of hostnames) {
    let best: { vs: ResolvedVirtualService; len: number } | undefined;
    for (const vs of list) {
      for (const vh of vs.spec.hosts) {
        if (!isWildcard(vh) || !hostMatches(vh, h)) continue;
        if (best === undefined || vh.length > best.len) best = { vs, len: vh.length };
      }
    }
    if (best) out.set(h, best.vs);
  }
  return out;
}

/**
 * The VirtualService claims on `port` among `services` (the visible services with that port),
 * in istiod's order. Only HTTP (or detected) service ports are claimed; a VirtualService whose
 * hosts are no service applies on port 80 only, as istiod's.
 */
export function virtualServiceClaims(scope: TranslationScope, services: readonly Service[], port: number): VirtualServiceClaim[] {
  let list = virtualServicesForGateway(scope.snapshot, scope.proxy.namespace, MeshGateway, clusterDomain(scope.proxy));
  // A Sidecar imports only the VirtualServices one of its egress hosts names (istiod's SidecarScope).
  const sidecar = sidecarScope(scope.snapshot, scope.proxy);
  if (sidecar.hosts !== undefined) list = list.filter((vs) => vs.spec.hosts.some((h) => scopeImportsHost(sidecar, h, vs.namespace, scope.proxy.namespace)));
  if (list.length === 0) return [];
  const byName = new Map(services.map((s) => [s.hostname.toLowerCase(), s]));
  const names = [...byName.keys()];
  // istiod's selectVirtualServices (not on port 80): a VirtualService needs a host naming a service on the port.
  if (port !== 80) list = list.filter((vs) => vs.spec.hosts.some((h) => byName.has(h.toLowerCase()) || names.some((n) => hostMatches(h, n) || hostMatches(n, h))));
  const wildcards = wildcardIndex(list, names);
  const out: VirtualServiceClaim[] = [];
  for (const vs of list) {
    const routes = httpRoutesForVirtualService(scope, vs, port, meshGateways);
    if (routes.length === 0) continue;
    const hosts: string[] = [];
    const claimed: Service[] = [];
    for (const h of vs.spec.hosts.filter((x) => !isWildcard(x))) {
      const svc = byName.get(h.toLowerCase());
      if (svc) claimed.push(svc);
      else hosts.push(h);
    }
    for (const h of vs.spec.hosts.filter(isWildcard)) {
      const matching = names.filter((n) => hostMatches(h, n));
      for (const n of matching) if (wildcards.get(n) === vs) claimed.push(byName.get(n)!);
      if (matching.length === 0) hosts.push(h.toLowerCase());
    }
    const http = claimed.filter((s) => s.ports.some((p) => p.number === port && (isHttpProtocol(p.protocol) || isSniffedProtocol(p.protocol))));
    if (http.length === 0 && !(port === 80 && hosts.length > 0)) continue;
    out.push({ virtualService: vs, routes, services: http, hosts });
  }
  return out;
}

const inputsDigest = new WeakMap<MeshSnapshot, Map<string, string>>();

/**
 * What VirtualService routes read besides the services on the port: the VirtualServices, the
 * proxy's labels their sourceLabels match on, and every visible service and DestinationRule
 * (destination ports and consistent hashing). Empty without VirtualServices, so route keys
 * stay as they were.
 */
export function virtualServiceRoutesKey(scope: TranslationScope): string {
  const vs = virtualServicesDigest(scope.snapshot);
  if (vs === "") return "";
  let byNs = inputsDigest.get(scope.snapshot);
  if (byNs === undefined) inputsDigest.set(scope.snapshot, (byNs = new Map()));
  // The visible services depend on the proxy's namespace and the Sidecar that applies to it.
  const sidecar = sidecarScope(scope.snapshot, scope.proxy);
  const scopeKey = `${scope.proxy.namespace}|${sidecar.key}`;
  let d = byNs.get(scopeKey);
  if (d === undefined) {
    const services = visibleServices(scope.snapshot, scope.proxy);
    d = digestOf(services.map((s) => `${s.digest}:${destinationRuleFor(scope.snapshot, scope.proxy.namespace, s)?.digest ?? ""}`));
    byNs.set(scopeKey, d);
  }
  // A Sidecar with egress hosts also decides which VirtualServices route (virtualServiceClaims).
  return `|vs:${vs}:${d}:${routingLabelsKey(scope.snapshot, scope.proxy.labels)}${sidecar.hosts === undefined ? "" : `:${sidecar.key}`}`;
}
