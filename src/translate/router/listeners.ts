// LDS for router proxies (gateways), laid out as istiod's buildGatewayListeners: one listener per
// bound port, `<bind or 0.0.0.0>_<port>`, that binds it; on it
//  - plaintext HTTP servers: one chain, an HTTP connection manager on RDS `http.<port>`;
//  - HTTPS servers that terminate TLS: one chain per server, matched by SNI (the server's hosts),
//    with its TLS context and RDS `https.<port>.<port name>.<gateway>.<ns>`;
//  - AUTO_PASSTHROUGH servers: one chain per mesh service port (and subset) whose host the server
//    names, matched by SNI `outbound_.<port>_.<subset>_.<host>` and Istio's mTLS ALPNs, tcp_proxy
//    to the SNI-DNAT cluster of that name (the east-west gateway's 15443);
//  - PASSTHROUGH and TCP servers: chains from VirtualService tls/tcp routes (l4-chains.ts); a server
//    no route binds gets no chain, and a port with no chain gets no listener, as istiod.
// HTTP chains carry the gateway workload's authorization filters (AuthorizationPolicies selecting it).
import { ListenerSchema } from "../../gen/envoy/config/listener/v3/listener_pb.js";
import type { FilterChain, FilterChainSchema } from "../../gen/envoy/config/listener/v3/listener_components_pb.js";
import { TrafficDirection } from "../../gen/envoy/config/core/v3/base_pb.js";
import { TlsInspectorSchema } from "../../gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { isHttpServerProtocol, isHttpsTerminated } from "../../gateway/gateway-kind.js";
import { mergedGatewayFor, type MergedServers, type RouterServer } from "../../gateway/merge.js";
import { destinationRuleFor, visibleServices } from "../../model/lookup.js";
import { hostMatchesPattern } from "../../gateway/hosts.js";
import { TypeUrl } from "../../xds/types.js";
import { built, socketAddress, typedConfig, type PlannedResource, type TranslationScope } from "../common.js";
import { httpConnectionManager, httpConnectionManagerFilter, HttpConnectionManagerName, routerFilter, tcpProxyFilter } from "../filters.js";
import { sidecarHttpExtensionFilters } from "../http-options.js";
import { inboundHttpFilters } from "../extensions.js";
import { AllIstioMtlsAlpns } from "../mtls-inbound.js";
import { istioMutualSni } from "../mtls-upstream.js";
import { gatewayHcmOptions } from "./hcm.js";
import { gatewayDownstreamTls } from "./tls.js";
import { passthroughChains, tcpServerChain } from "./l4-chains.js";

/** The object form of a FilterChain init (spreadable). */
type ChainInit = Exclude<MessageInitShape<typeof FilterChainSchema>, FilterChain>;

/** Gateways give up on a TLS handshake not finished in 15 s (slow-handshake resistance, istiod). */
const transportSocketConnectTimeout = { seconds: 15n };

/** A chain with what the listener needs to know about it (SNI match, TLS with ALPN: tls_inspector). */
interface Chain {
  readonly init: ChainInit;
  readonly inspectsTls: boolean;
}

/** An HTTP connection manager on `routeName`, the gateway workload's authorization filters first. */
function httpChain(scope: TranslationScope, routeName: string, statPrefix: string): ChainInit {
  const filters = [...inboundHttpFilters(scope), ...sidecarHttpExtensionFilters(), routerFilter()];
  const hcm = httpConnectionManager(statPrefix, { rds: routeName }, filters, gatewayHcmOptions(scope));
  return { filters: [httpConnectionManagerFilter(HttpConnectionManagerName, hcm)], transportSocketConnectTimeout };
}

/** SNI names of a chain: none when a server takes every host (`*`). */
function serverNames(sniHosts: readonly string[]): string[] | undefined {
  return sniHosts.length === 0 || sniHosts.includes("*") ? undefined : [...sniHosts].sort();
}

function httpsChain(scope: TranslationScope, rs: RouterServer, listenerName: string): Chain {
  const names = serverNames(rs.sniHosts);
  const base = httpChain(scope, rs.routeName, rs.server.name ?? `outbound_${listenerName}`);
  return {
    init: { ...(names ? { filterChainMatch: { serverNames: names } } : {}), ...base, transportSocket: gatewayDownstreamTls(rs.server.tls!) },
    inspectsTls: true,
  };
}

/** istiod's builtAutoPassthroughFilterChains: every mesh-internal service port the server's hosts name, and its subsets. */
function autoPassthroughChains(scope: TranslationScope, rs: RouterServer): Chain[] {
  const out: Chain[] = [];
  for (const service of visibleServices(scope.snapshot, scope.proxy)) {
    if (service.location === "MESH_EXTERNAL") continue;
    if (!rs.sniHosts.some((h) => hostMatchesPattern(service.hostname, h))) continue;
    const rule = destinationRuleFor(scope.snapshot, scope.proxy.namespace, service);
    for (const port of service.ports) {
      if (port.protocol === "UDP") continue;
      for (const subset of ["", ...(rule?.spec.subsets ?? []).map((s) => s.name)]) {
        const cluster = istioMutualSni(port.number, subset, service.hostname);
        out.push({
          init: { filterChainMatch: { serverNames: [cluster], applicationProtocols: [...AllIstioMtlsAlpns] }, filters: [tcpProxyFilter(cluster)], transportSocketConnectTimeout },
          inspectsTls: true,
        });
      }
    }
  }
  return out;
}

/** The chains of one (port, protocol, bind) group of servers; `sniTaken`: SNI hosts the port's passthrough chains match. */
function chainsFor(scope: TranslationScope, group: MergedServers, listenerName: string, sniTaken: Set<string>): Chain[] {
  if (isHttpServerProtocol(group.protocol)) {
    return [{ init: httpChain(scope, group.routeName, `outbound_${listenerName}`), inspectsTls: false }];
  }
  const out: Chain[] = [];
  for (const rs of group.servers) {
    const mode = rs.server.tls?.mode;
    if (isHttpsTerminated(rs.server)) out.push(httpsChain(scope, rs, listenerName));
    else if (mode === "AUTO_PASSTHROUGH") out.push(...autoPassthroughChains(scope, rs));
    else if (mode === "PASSTHROUGH") out.push(...passthroughChains(scope, rs, sniTaken).map((init) => ({ init, inspectsTls: true })));
    else {
      const chain = tcpServerChain(scope, rs);
      if (chain !== undefined) out.push({ init: chain, inspectsTls: rs.server.tls !== undefined });
    }
  }
  return out;
}

function listenerName(group: Pick<MergedServers, "bind" | "number">): string {
  return `${group.bind || "0.0.0.0"}_${group.number}`;
}

/** A router's listeners: one per bound port that has at least one chain. */
export function routerListeners(scope: TranslationScope, key: string): PlannedResource[] {
  const merged = mergedGatewayFor(scope.snapshot, scope.proxy);
  const byName = new Map<string, { bind: string; port: number; groups: MergedServers[] }>();
  for (const group of merged.ports) {
    const name = listenerName(group);
    const entry = byName.get(name) ?? { bind: group.bind || "0.0.0.0", port: group.number, groups: [] };
    entry.groups.push(group);
    byName.set(name, entry);
  }
  const out: PlannedResource[] = [];
  for (const [name, entry] of byName) {
    const sniTaken = new Set<string>();
    const chains = entry.groups.flatMap((g) => chainsFor(scope, g, name, sniTaken));
    if (chains.length === 0) continue;
    out.push({
      typeUrl: TypeUrl.Listener,
      name,
      key: `lds|router|${name}|${key}`,
      build: () =>
        built(ListenerSchema, {
          name,
          address: socketAddress(entry.bind, entry.port),
          filterChains: chains.map((c) => c.init),
          ...(chains.some((c) => c.inspectsTls)
            ? { listenerFilters: [{ name: "envoy.filters.listener.tls_inspector", configType: { case: "typedConfig", value: typedConfig(TlsInspectorSchema, { initialReadBufferSize: 512 }) } }] }
            : {}),
          trafficDirection: TrafficDirection.OUTBOUND,
          maxConnectionsToAcceptPerSocketEvent: 1,
        }),
    });
  }
  return out;
}
