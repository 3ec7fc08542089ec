// LDS for Envoy sidecars, laid out as istiod does: virtualOutbound (0.0.0.0:15001, hands
// connections to the listener of their original destination), one outbound listener per HTTP port
// (`0.0.0.0_<port>`, RDS named by the port) or per TCP service port (`<vip>_<port>`, tcp_proxy),
// and virtualInbound (0.0.0.0:15006) with one chain per served port plus a passthrough chain.
import { isIP } from "node:net";
import { ListenerSchema } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { TrafficDirection } from "../gen/envoy/config/core/v3/base_pb.js";
import { OriginalDstSchema } from "../gen/envoy/extensions/filters/listener/original_dst/v3/original_dst_pb.js";
import { HttpInspectorSchema } from "../gen/envoy/extensions/filters/listener/http_inspector/v3/http_inspector_pb.js";
import { TlsInspectorSchema } from "../gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js";
import { stableJson } from "../model/digest.js";
import type { Service } from "../model/snapshot.js";
import type { ServicePortSpec } from "../model/service-entry.js";
import { visibleServices } from "../model/lookup.js";
import { sidecarScope } from "../model/sidecar-scope.js";
import type { OutboundTrafficMode } from "../model/sidecar.js";
import { isHttpProtocol } from "../model/service-entry.js";
import { routedOnSharedPort, serviceVip, sniffedWithVip } from "./routes.js";
import { TypeUrl } from "../xds/types.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  BlackHoleCluster,
  VirtualInboundListener,
  catchAllCluster,
  VirtualInboundPort,
  VirtualOutboundListener,
  VirtualOutboundPort,
  built,
  hostPort,
  outboundClusterName,
  outboundPolicyKey,
  socketAddress,
  typedConfig,
  type PlannedResource,
  type TranslationScope,
} from "./common.js";
import { httpConnectionManager, httpConnectionManagerFilter, HttpConnectionManagerName, routerFilter, tcpProxyFilter } from "./filters.js";
import { sidecarHcmOptions, sidecarHttpExtensionFilters } from "./http-options.js";
import type { MeshConfig } from "../model/mesh-config.js";
import { inboundKey, inboundTargets, sidecarInboundChains, sidecarPassthroughChains } from "./inbound.js";
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
function passthroughFilterChain(mode: OutboundTrafficMode): MessageInitShape<typeof FilterChainSchema> {
  return { name: "PassthroughFilterChain", filterChainMatch: {}, filters: [tcpProxyFilter(catchAllCluster(mode))] };
}

function virtualOutbound(mode: OutboundTrafficMode): ReturnType<typeof built> {
  return built(ListenerSchema, {
    name: VirtualOutboundListener,
    address: socketAddress("0.0.0.0", VirtualOutboundPort),
    useOriginalDst: true,
    trafficDirection: TrafficDirection.OUTBOUND,
    ...boundListener,
    filterChains: [blackholeChain(VirtualOutboundListener, VirtualOutboundPort), { name: "virtualOutbound-catchall-tcp", filters: [tcpProxyFilter(catchAllCluster(mode))] }],
  });
}

/**
 * `0.0.0.0_<port>` for HTTP ports: http_inspector tells plaintext HTTP/1.1 and h2c (the HTTP chain,
 * routed by RDS) from anything else, which the default chain passes through untouched instead of
 * feeding it to the HTTP parser (istiod's outbound HTTP listener).
 */
function outboundHttpListener(mesh: MeshConfig, mode: OutboundTrafficMode, port: number, fallbackCluster?: string): ReturnType<typeof built> {
  return httpSniffingListener(mesh, mode, `0.0.0.0_${port}`, "0.0.0.0", port, String(port), fallbackCluster);
}

/**
 * A listener that detects HTTP: `0.0.0.0_<port>` for HTTP ports (RDS `<port>`), and `<vip>_<port>`
 * for a port without a declared protocol on a service with a VIP (protocol sniffing: RDS
 * `<host>:<port>`, anything not HTTP goes to the service as TCP).
 */
function httpSniffingListener(mesh: MeshConfig, mode: OutboundTrafficMode, name: string, address: string, port: number, rds: string, fallbackCluster: string | undefined): ReturnType<typeof built> {
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
    defaultFilterChain: fallbackCluster === undefined ? passthroughFilterChain(mode) : { filters: [tcpProxyFilter(fallbackCluster)], transportSocketConnectTimeout },
  });
}


function virtualInbound(scope: TranslationScope): ReturnType<typeof built> {
  const targets = inboundTargets(scope);
  const chains = [
    create(FilterChainSchema, blackholeChain(VirtualInboundListener, VirtualInboundPort)),
    ...sidecarPassthroughChains(scope, new Set(targets.map((t) => t.targetPort))),
    ...targets.flatMap((t) => sidecarInboundChains(scope, t)),
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

/** One TCP service port's chain on an outbound listener, with what it matches (none = everything). */
interface TcpChain {
  readonly cluster: string;
  readonly serverNames?: readonly string[];
  readonly prefixRanges?: readonly { addressPrefix: string; prefixLen: number }[];
}

/** Protocols whose clients open TLS themselves: the chain is picked by SNI (istiod's TLS listeners). */
function isTlsProtocol(protocol: string): boolean {
  return protocol === "TLS" || protocol === "HTTPS";
}

/** Where a TCP service port's listener binds and what its chain matches: VIP, CIDR (prefix match), or SNI. */
function tcpChainFor(service: Service, port: ServicePortSpec): { address: string; chain: TcpChain } {
  const cluster = outboundClusterName(port.number, "", service.hostname);
  const vip = service.addresses.find((a) => isIP(a) !== 0);
  const cidrs = service.addresses
    .filter((a) => a.includes("/"))
    .map((a) => {
      const [addressPrefix = "", len = "0"] = a.split("/");
      return { addressPrefix, prefixLen: Number(len) };
    });
  const serverNames = isTlsProtocol(port.protocol) ? { serverNames: [service.hostname] } : {};
  if (vip !== undefined) return { address: vip, chain: { cluster, ...serverNames } };
  return { address: "0.0.0.0", chain: { cluster, ...serverNames, ...(cidrs.length > 0 ? { prefixRanges: cidrs } : {}) } };
}

function matchesAll(c: TcpChain): boolean {
  return c.serverNames === undefined && c.prefixRanges === undefined;
}

/**
 * A TCP listener (`<vip>_<port>` or `0.0.0.0_<port>`): one tcp_proxy chain per service, matched on
 * SNI (TLS ports) or destination prefix (CIDR addresses); tls_inspector when SNI is matched; the
 * PassthroughFilterChain as default when no chain matches everything (istiod's buildListenerFromEntry).
 */
function outboundTcpListener(mode: OutboundTrafficMode, name: string, address: string, port: number, chains: readonly TcpChain[]): ReturnType<typeof built> {
  const sni = chains.some((c) => c.serverNames !== undefined);
  const matchAll = chains.find(matchesAll);
  const matched = chains.filter((c) => !matchesAll(c));
  const chain = (c: TcpChain): MessageInitShape<typeof FilterChainSchema> => ({
    ...(matchesAll(c) ? {} : { filterChainMatch: { ...(c.serverNames ? { serverNames: [...c.serverNames] } : {}), ...(c.prefixRanges ? { prefixRanges: c.prefixRanges.map((r) => ({ ...r })) } : {}) } }),
    filters: [tcpProxyFilter(c.cluster)],
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
    ...(matched.length === 0 ? {} : { defaultFilterChain: matchAll ? chain(matchAll) : passthroughFilterChain(mode) }),
  });
}

/** An Envoy sidecar's outbound LDS resources: the same for a namespace. */
export function outboundListeners(scope: TranslationScope): PlannedResource[] {
  const mode = sidecarScope(scope.snapshot, scope.proxy).outboundTrafficPolicy;
  const pk = `${outboundPolicyKey(scope.snapshot)}|${mode}`;
  const services = visibleServices(scope.snapshot, scope.proxy);
  const out: PlannedResource[] = [planned(VirtualOutboundListener, `virtualOutbound|${pk}`, () => virtualOutbound(mode))];
  const httpPorts = new Set(services.flatMap((s) => s.ports.filter((p) => routedOnSharedPort(s, p)).map((p) => p.number)));
  const sniffed = new Map<string, { vip: string; port: number; rds: string; cluster: string }>();
  // TCP listeners by name; on an HTTP port's 0.0.0.0 listener the first TCP service without a VIP
  // becomes the default chain instead of the passthrough (istiod's listener conflict resolution).
  const tcp = new Map<string, { address: string; port: number; chains: TcpChain[] }>();
  const httpFallback = new Map<number, string>();
  for (const service of services) {
    for (const port of service.ports) {
      if (isHttpProtocol(port.protocol)) continue;
      const vip = serviceVip(service);
      if (sniffedWithVip(service, port) && vip !== undefined) {
        const name = `${vip}_${port.number}`;
        if (!sniffed.has(name)) sniffed.set(name, { vip, port: port.number, rds: hostPort(service.hostname, port.number), cluster: outboundClusterName(port.number, "", service.hostname) });
        continue;
      }
      const { address, chain } = tcpChainFor(service, port);
      const name = `${address}_${port.number}`;
      if (address === "0.0.0.0" && httpPorts.has(port.number)) {
        if (!httpFallback.has(port.number) && matchesAll(chain)) httpFallback.set(port.number, chain.cluster);
        continue;
      }
      const entry = tcp.get(name);
      if (entry === undefined) tcp.set(name, { address, port: port.number, chains: [chain] });
      // Istio's listener conflict: a second service joins only with a match of its own; else the first keeps the port.
      else if (!matchesAll(chain) && !entry.chains.some(matchesAll) && !entry.chains.some((c) => stableJson(c) === stableJson({ ...chain, cluster: c.cluster }))) entry.chains.push(chain);
    }
  }
  for (const port of [...httpPorts].sort((a, b) => a - b)) {
    const fallback = httpFallback.get(port);
    out.push(planned(`0.0.0.0_${port}`, `http|${port}|${fallback ?? ""}|${pk}`, () => outboundHttpListener(scope.snapshot.mesh, mode, port, fallback)));
  }
  for (const [name, e] of sniffed) {
    if (tcp.has(name)) continue; // a declared TCP service on the same VIP and port came first
    out.push(planned(name, `sniffed|${name}|${e.rds}|${e.cluster}|${pk}`, () => httpSniffingListener(scope.snapshot.mesh, mode, name, e.vip, e.port, e.rds, e.cluster)));
  }
  for (const [name, e] of tcp) {
    out.push(planned(name, `tcp|${name}|${stableJson(e.chains)}|${pk}`, () => outboundTcpListener(mode, name, e.address, e.port, e.chains)));
  }
  return out;
}

/** An Envoy sidecar's virtualInbound. */
export function inboundListeners(scope: TranslationScope): PlannedResource[] {
  const key = inboundKey(scope, inboundTargets(scope));
  return [planned(VirtualInboundListener, `virtualInbound|${key}`, () => virtualInbound(scope))];
}
