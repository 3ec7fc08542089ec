// LDS for Envoy sidecars, laid out as istiod does: virtualOutbound (0.0.0.0:15001, hands
// connections to the listener of their original destination), one outbound listener per HTTP port
// (`0.0.0.0_<port>`, RDS named by the port) or per TCP service port (`<vip>_<port>`, tcp_proxy),
// and virtualInbound (0.0.0.0:15006) with one chain per served port plus a passthrough chain.
import { ListenerSchema } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { TrafficDirection } from "../gen/envoy/config/core/v3/base_pb.js";
import { OriginalDstSchema } from "../gen/envoy/extensions/filters/listener/original_dst/v3/original_dst_pb.js";
import { HttpInspectorSchema } from "../gen/envoy/extensions/filters/listener/http_inspector/v3/http_inspector_pb.js";
import { TlsInspectorSchema } from "../gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js";
import { matchesAll } from "../ir/listeners.js";
import type { Keyed, SidecarOutboundListener, TcpChain } from "../ir/types.js";
import { TypeUrl } from "../xds/types.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  BlackHoleCluster,
  VirtualInboundListener,
  VirtualInboundPort,
  VirtualOutboundListener,
  VirtualOutboundPort,
  built,
  socketAddress,
  typedConfig,
  type PlannedResource,
  type TranslationScope,
} from "./common.js";
import { httpConnectionManager, httpConnectionManagerFilter, HttpConnectionManagerName, routerFilter, tcpProxyFilter, weightedTcpProxyFilter } from "./filters.js";
import { sidecarHcmOptions, sidecarHttpExtensionFilters } from "./http-options.js";
import type { MeshConfig } from "../model/mesh-config.js";
import { inboundKey, inboundTargets, sidecarInboundChains, sidecarInboundPorts, sidecarPassthroughChains } from "./inbound.js";
import { inboundListenerFilters, PlaintextHttpAlpns, RawBufferTransportProtocol } from "./mtls-inbound.js";
import { create } from "@bufbuild/protobuf";
import { FilterChainSchema } from "../gen/envoy/config/listener/v3/listener_components_pb.js";

function planned(name: string, key: string, build: () => ReturnType<typeof built>): PlannedResource {
  return { typeUrl: TypeUrl.Listener, name, key: `lds|envoy|${key}`, build };
}

/** Connections addressed to the capture port itself would loop; Istio sends them nowhere. */
function blackholeChain(listener: string, port: number): MessageInitShape<typeof FilterChainSchema> {
  return { name: `${listener}-blackhole`, filterChainMatch: { destinationPort: port }, filters: [tcpProxyFilter(BlackHoleCluster)] };
}

/**
 * What istiod sets on every sidecar listener that runs listener filters: no timeout for them
 * (a client that speaks first-byte-late protocols is not cut), and on a timeout carry on anyway.
 */
const listenerFilterTiming = { listenerFiltersTimeout: { seconds: 0n }, continueOnListenerFiltersTimeout: true } as const;

/** Listeners that bind a port accept one connection per socket event, spreading load over workers (istiod). */
const boundListener = { maxConnectionsToAcceptPerSocketEvent: 1 } as const;

/** Outbound chains give up on a TLS handshake that has not finished in 15 s (slow-handshake resistance, istiod). */
const transportSocketConnectTimeout = { seconds: 15n };

/**
 * Traffic an outbound listener cannot parse goes where it was going, or nowhere under
 * REGISTRY_ONLY (istiod's PassthroughFilterChain, buildOutboundCatchAllNetworkFiltersOnly).
 */
function passthroughFilterChain(catchAllCluster: string): MessageInitShape<typeof FilterChainSchema> {
  return { name: "PassthroughFilterChain", filterChainMatch: {}, filters: [tcpProxyFilter(catchAllCluster)] };
}

function virtualOutbound(catchAllCluster: string): ReturnType<typeof built> {
  return built(ListenerSchema, {
    name: VirtualOutboundListener,
    address: socketAddress("0.0.0.0", VirtualOutboundPort),
    useOriginalDst: true,
    trafficDirection: TrafficDirection.OUTBOUND,
    ...boundListener,
    filterChains: [blackholeChain(VirtualOutboundListener, VirtualOutboundPort), { name: "virtualOutbound-catchall-tcp", filters: [tcpProxyFilter(catchAllCluster)] }],
  });
}

/**
 * A listener that detects HTTP: `0.0.0.0_<port>` for HTTP ports (RDS `<port>`), and `<vip>_<port>`
 * for a port without a declared protocol on a service with a VIP (protocol sniffing: RDS
 * `<host>:<port>`, anything not HTTP goes to the service as TCP). http_inspector tells plaintext
 * HTTP/1.1 and h2c (the HTTP chain, routed by RDS) from anything else, which the default chain
 * passes through (or to the fallback cluster) instead of feeding it to the HTTP parser.
 */
function httpSniffingListener(mesh: MeshConfig, name: string, address: string, port: number, rds: string, fallbackCluster: string | undefined, catchAllCluster: string): ReturnType<typeof built> {
  return built(ListenerSchema, {
    name,
    address: socketAddress(address, port),
    bindToPort: false,
    trafficDirection: TrafficDirection.OUTBOUND,
    listenerFilters: [{ name: "envoy.filters.listener.http_inspector", configType: { case: "typedConfig", value: typedConfig(HttpInspectorSchema, {}) } }],
    ...listenerFilterTiming,
    filterChains: [
      {
        filterChainMatch: { transportProtocol: RawBufferTransportProtocol, applicationProtocols: [...PlaintextHttpAlpns] },
        filters: [httpConnectionManagerFilter(HttpConnectionManagerName, httpConnectionManager(`outbound_${name}`, { rds }, [...sidecarHttpExtensionFilters(), routerFilter()], sidecarHcmOptions(mesh, "outbound", false)))],
        transportSocketConnectTimeout,
      },
    ],
    defaultFilterChain: fallbackCluster === undefined ? passthroughFilterChain(catchAllCluster) : { filters: [tcpProxyFilter(fallbackCluster)], transportSocketConnectTimeout },
  });
}


function virtualInbound(scope: TranslationScope): ReturnType<typeof built> {
  const ports = sidecarInboundPorts(scope);
  const chains = [
    create(FilterChainSchema, blackholeChain(VirtualInboundListener, VirtualInboundPort)),
    ...sidecarPassthroughChains(scope, new Set(ports.map((p) => p.targetPort))),
    ...ports.flatMap((p) => sidecarInboundChains(scope, p)),
  ];
  return built(ListenerSchema, {
    name: VirtualInboundListener,
    address: socketAddress("0.0.0.0", VirtualInboundPort),
    // No use_original_dst here (istiod sets none): with it Envoy would hand an inbound connection
    // whose original port equals an outbound listener's port to that outbound listener.
    trafficDirection: TrafficDirection.INBOUND,
    ...boundListener,
    ...listenerFilterTiming,
    listenerFilters: [
      { name: "envoy.filters.listener.original_dst", configType: { case: "typedConfig", value: typedConfig(OriginalDstSchema, {}) } },
      ...inboundListenerFilters(chains),
    ],
    filterChains: chains,
  });
}

/** A chain's tcp_proxy: the default cluster, or a VirtualService route's destination(s). */
function tcpChainFilter(c: TcpChain): ReturnType<typeof tcpProxyFilter> {
  const [only] = c.route?.destinations ?? [];
  if (c.route === undefined) return tcpProxyFilter(c.cluster);
  return c.route.destinations.length === 1 && only !== undefined ? tcpProxyFilter(only.cluster) : weightedTcpProxyFilter(c.route.statPrefix, c.route.destinations);
}

/**
 * A TCP listener (`<vip>_<port>` or `0.0.0.0_<port>`): one tcp_proxy chain per service, matched on
 * SNI (TLS ports) or destination prefix (CIDR addresses); tls_inspector when SNI is matched; the
 * PassthroughFilterChain as default when no chain matches everything (istiod's buildListenerFromEntry).
 */
function outboundTcpListener(name: string, address: string, port: number, chains: readonly TcpChain[], catchAllCluster: string): ReturnType<typeof built> {
  const sni = chains.some((c) => c.serverNames !== undefined);
  const matchAll = chains.find(matchesAll);
  const matched = chains.filter((c) => !matchesAll(c));
  const chain = (c: TcpChain): MessageInitShape<typeof FilterChainSchema> => ({
    ...(matchesAll(c) ? {} : { filterChainMatch: { ...(c.serverNames ? { serverNames: [...c.serverNames] } : {}), ...(c.prefixRanges ? { prefixRanges: c.prefixRanges.map((r) => ({ ...r })) } : {}) } }),
    filters: [tcpChainFilter(c)],
    ...(c.route?.origin !== undefined ? { metadata: { filterMetadata: { istio: { config: c.route.origin } } } } : {}),
    transportSocketConnectTimeout,
  });
  return built(ListenerSchema, {
    name,
    address: socketAddress(address, port),
    bindToPort: false,
    trafficDirection: TrafficDirection.OUTBOUND,
    ...(sni ? { listenerFilters: [{ name: "envoy.filters.listener.tls_inspector", configType: { case: "typedConfig", value: typedConfig(TlsInspectorSchema, { initialReadBufferSize: 512 }) } }] } : {}),
    ...listenerFilterTiming,
    filterChains: matched.length === 0 ? chains.map(chain) : matched.map(chain),
    ...(matched.length === 0 ? {} : { defaultFilterChain: matchAll ? chain(matchAll) : passthroughFilterChain(catchAllCluster) }),
  });
}

/** An Envoy sidecar's outbound LDS resources (listener IR, src/ir/listeners.ts): the same for a namespace. */
export function outboundListeners(scope: TranslationScope, listeners: readonly Keyed<SidecarOutboundListener>[]): PlannedResource[] {
  return listeners.map((l) => ({ typeUrl: TypeUrl.Listener, name: l.name, key: l.key, build: () => sidecarOutboundListener(scope.snapshot.mesh, l.ir()) }));
}

function sidecarOutboundListener(mesh: MeshConfig, l: SidecarOutboundListener): ReturnType<typeof built> {
  switch (l.kind) {
    case "virtualOutbound":
      return virtualOutbound(l.catchAllCluster);
    case "http":
      return httpSniffingListener(mesh, l.name, l.address, l.port, l.rds, l.fallbackCluster, l.catchAllCluster);
    case "tcp":
      return outboundTcpListener(l.name, l.address, l.port, l.chains, l.catchAllCluster);
  }
}

/** An Envoy sidecar's virtualInbound. */
export function inboundListeners(scope: TranslationScope): PlannedResource[] {
  const key = inboundKey(scope, inboundTargets(scope));
  return [planned(VirtualInboundListener, `virtualInbound|${key}`, () => virtualInbound(scope))];
}
