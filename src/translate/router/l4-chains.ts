// The TCP-level chains of a gateway, from VirtualService tcp and tls routes bound to it, as istiod's
// createGatewayTCPFilterChainOpts builds them:
//  - PASSTHROUGH servers: one chain per matching tls route match, on its SNI hosts (a host another
//    chain of the port already has is skipped, since Envoy rejects two equal matches), tcp_proxy
//    to the route's destination, TLS untouched;
//  - TCP servers, and TLS servers that terminate TLS (SIMPLE, MUTUAL, ISTIO_MUTUAL on protocol
//    TLS): the first VirtualService's first tcp route that matches the server's port and gateway.
// Network authorization (AuthorizationPolicies selecting the gateway workload) comes first.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FilterSchema, type Filter, type FilterChain, type FilterChainSchema } from "../../gen/envoy/config/listener/v3/listener_components_pb.js";
import { TcpProxySchema } from "../../gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js";
import { virtualServicesForGateway, destinationCluster, type ResolvedVirtualService } from "../../ir/virtual-service-routes.js";
import { clusterDomain } from "../../ir/scope.js";
import type { L4MatchSpec, RouteDestinationSpec } from "../../model/virtual-service.js";
import { visibleServices } from "../../model/lookup.js";
import { hostsOverlap } from "../../gateway/hosts.js";
import type { RouterServer } from "../../gateway/merge.js";
import { typedConfig, type TranslationScope } from "../common.js";
import { TcpProxyName, tcpProxyFilter } from "../filters.js";
import { inboundNetworkFilters } from "../extensions.js";
import { gatewayDownstreamTls } from "./tls.js";

type ChainInit = Exclude<MessageInitShape<typeof FilterChainSchema>, FilterChain>;

/** Gateways give up on a TLS handshake not finished in 15 s (istiod). */
const transportSocketConnectTimeout = { seconds: 15n };

/** istiod's pickMatchingGatewayHosts: whether the VirtualService names a host of the server (`ns/host` only for that namespace). */
function bindsServerHost(rs: RouterServer, vs: ResolvedVirtualService): boolean {
  return vs.spec.hosts.some((vh) =>
    rs.hosts.some((h) => {
      const slash = h.indexOf("/");
      if (slash >= 0 && h.slice(0, slash) !== vs.namespace) return false;
      return hostsOverlap(slash < 0 ? h : h.slice(slash + 1), vh);
    }),
  );
}

/** istiod's l4SingleMatch: the match's port (if any) is the server's, its gateways (if any) name this one. */
function l4Matches(m: L4MatchSpec, rs: RouterServer): boolean {
  return (m.port === undefined || m.port === rs.server.port.number) && (m.gateways.length === 0 || m.gateways.includes(rs.gatewayRef));
}

/** tcp_proxy to one destination, or weighted over several (stat prefix `<vs>.<ns>`, as istiod). */
function tcpProxy(scope: TranslationScope, vs: ResolvedVirtualService, routes: readonly RouteDestinationSpec[], port: number): Filter {
  const services = new Map(visibleServices(scope.snapshot, scope.proxy).map((s) => [s.hostname, s]));
  if (routes.length === 1) return tcpProxyFilter(destinationCluster(routes[0]!.destination, services, port));
  const clusters = routes.filter((r) => r.weight > 0).map((r) => ({ name: destinationCluster(r.destination, services, port), weight: r.weight }));
  return create(FilterSchema, {
    name: TcpProxyName,
    configType: { case: "typedConfig", value: typedConfig(TcpProxySchema, { statPrefix: `${vs.name}.${vs.namespace}`, clusterSpecifier: { case: "weightedClusters", value: { clusters } } }) },
  });
}

/** SNI names of a chain: none when a route takes every host (`*`). */
function serverNames(hosts: readonly string[]): string[] | undefined {
  return hosts.length === 0 || hosts.includes("*") ? undefined : [...hosts].sort();
}

/**
 * The chains of a PASSTHROUGH server. `sniTaken` holds the SNI hosts earlier chains of the same
 * listener port already match (shared across the port's servers).
 */
export function passthroughChains(scope: TranslationScope, rs: RouterServer, sniTaken: Set<string>): ChainInit[] {
  const out: ChainInit[] = [];
  for (const vs of virtualServicesForGateway(scope.snapshot, scope.proxy.namespace, rs.gatewayRef, clusterDomain(scope.proxy))) {
    if (!bindsServerHost(rs, vs)) continue;
    for (const tls of vs.spec.tls) {
      if (tls.route.length === 0) continue;
      for (const m of tls.match) {
        if (!l4Matches(m, rs)) continue;
        if (m.sniHosts.some((h) => sniTaken.has(h))) continue; // istiod: skipped, duplicate SNI host
        for (const h of m.sniHosts) sniTaken.add(h);
        const names = serverNames(m.sniHosts);
        out.push({
          ...(names ? { filterChainMatch: { serverNames: names } } : {}),
          filters: [...inboundNetworkFilters(scope), tcpProxy(scope, vs, tls.route, rs.server.port.number)],
          transportSocketConnectTimeout,
        });
      }
    }
  }
  return out;
}

/** The chain of a TCP server, or of a TLS server terminating TLS: the first matching tcp route; none without one. */
export function tcpServerChain(scope: TranslationScope, rs: RouterServer): ChainInit | undefined {
  for (const vs of virtualServicesForGateway(scope.snapshot, scope.proxy.namespace, rs.gatewayRef, clusterDomain(scope.proxy))) {
    if (!bindsServerHost(rs, vs)) continue;
    for (const tcp of vs.spec.tcp) {
      if (tcp.route.length === 0 || !(tcp.match.length === 0 || tcp.match.some((m) => l4Matches(m, rs)))) continue;
      const filters = [...inboundNetworkFilters(scope), tcpProxy(scope, vs, tcp.route, rs.server.port.number)];
      const tls = rs.server.tls;
      if (tls === undefined) return { filters, transportSocketConnectTimeout };
      const names = serverNames(rs.sniHosts);
      return { ...(names ? { filterChainMatch: { serverNames: names } } : {}), filters, transportSocket: gatewayDownstreamTls(tls, "TCP"), transportSocketConnectTimeout };
    }
  }
  return undefined;
}
