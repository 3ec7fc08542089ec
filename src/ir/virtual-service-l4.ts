// VirtualService tcp and tls routes on a sidecar's TCP listeners (istiod's
// buildSidecarOutboundTCPFilterChainOpts and buildSidecarOutboundTLSFilterChainOpts): a TCP
// service port's chain forwards to the first matching tcp route's destinations; a TLS service port
// gets one chain per distinct SNI match of its tls routes. Matches are evaluated for this proxy
// (gateways, sourceLabels, port, sourceNamespace); destinationSubnets become prefix matches.
import { labelsMatch, visibleServices } from "../model/lookup.js";
import type { ServicePortSpec } from "../model/service-entry.js";
import type { Service } from "../model/snapshot.js";
import { hostMatches, MeshGateway, type L4MatchSpec, type RouteDestinationSpec } from "../model/virtual-service.js";
import { clusterDomain, type TranslationScope } from "./scope.js";
import type { TcpChain, TcpRoute } from "./types.js";
import { destinationCluster, virtualServicesForGateway, type ResolvedVirtualService } from "./virtual-service-routes.js";

/** istiod's matchTCP / matchTLS: the predicates that can be decided for this proxy and port. */
function appliesHere(m: L4MatchSpec, scope: TranslationScope, port: number): boolean {
  return (
    (m.gateways.length === 0 || m.gateways.includes(MeshGateway)) &&
    labelsMatch(m.sourceLabels, scope.proxy.labels) &&
    (m.port === undefined || m.port === port) &&
    (m.sourceNamespace === undefined || m.sourceNamespace === scope.proxy.namespace)
  );
}

function prefixRanges(subnets: readonly string[]): { addressPrefix: string; prefixLen: number }[] {
  return subnets.map((s) => {
    const [addressPrefix = "", len] = s.split("/");
    return { addressPrefix, prefixLen: len === undefined ? (addressPrefix.includes(":") ? 128 : 32) : Number(len) };
  });
}

function tcpRoute(vs: ResolvedVirtualService, route: readonly RouteDestinationSpec[], services: ReadonlyMap<string, Service>, port: number): TcpRoute {
  const destinations = route.length === 1 ? route : route.filter((d) => d.weight > 0);
  return {
    destinations: destinations.map((d) => ({ cluster: destinationCluster(d.destination, services, port), weight: d.weight })),
    statPrefix: `${vs.name}.${vs.namespace}`,
    origin: vs.configPath,
  };
}

/** The chains VirtualServices give this TCP or TLS service port, or undefined when none applies (the default chain stays). */
export function l4RouteChains(scope: TranslationScope, service: Service, port: ServicePortSpec, fallback: TcpChain): TcpChain[] | undefined {
  const configs = virtualServicesForGateway(scope.snapshot, scope.proxy.namespace, MeshGateway, clusterDomain(scope.proxy)).filter((vs) => vs.spec.hosts.some((h) => hostMatches(h, service.hostname)));
  if (configs.every((vs) => vs.spec.tcp.length === 0 && vs.spec.tls.length === 0)) return undefined;
  const services = new Map(visibleServices(scope.snapshot, scope.proxy.namespace).map((s) => [s.hostname, s]));
  const tls = port.protocol === "TLS" || port.protocol === "HTTPS";
  const out: TcpChain[] = [];
  if (tls) {
    const handled = new Set<string>();
    for (const vs of configs) {
      for (const r of vs.spec.tls) {
        if (r.route.length === 0) continue;
        for (const m of r.match) {
          if (!appliesHere(m, scope, port.number)) continue;
          const key = `${m.sniHosts.join(",")}|${m.destinationSubnets.join(",")}`;
          if (handled.has(key)) continue;
          handled.add(key);
          const ranges = m.destinationSubnets.length > 0 ? prefixRanges(m.destinationSubnets) : fallback.prefixRanges;
          out.push({ cluster: fallback.cluster, serverNames: [...m.sniHosts], ...(ranges ? { prefixRanges: ranges } : {}), route: tcpRoute(vs, r.route, services, port.number) });
        }
      }
    }
    return out.length > 0 ? out : undefined;
  }
  let terminal = false;
  scan: for (const vs of configs) {
    for (const r of vs.spec.tcp) {
      if (r.route.length === 0) continue;
      const whole = { cluster: fallback.cluster, ...(fallback.prefixRanges ? { prefixRanges: fallback.prefixRanges } : {}), route: tcpRoute(vs, r.route, services, port.number) };
      if (r.match.length === 0 || r.match.some((m) => appliesHere(m, scope, port.number) && m.destinationSubnets.length === 0)) {
        out.push(whole);
        terminal = true;
        break scan;
      }
      const subnets = r.match.filter((m) => appliesHere(m, scope, port.number)).flatMap((m) => m.destinationSubnets);
      if (subnets.length > 0) {
        const { origin: _origin, ...route } = tcpRoute(vs, r.route, services, port.number);
        out.push({ cluster: fallback.cluster, prefixRanges: prefixRanges(subnets), route });
      }
    }
  }
  if (out.length === 0) return undefined;
  return terminal ? out : [...out, fallback];
}
