// LDS for Envoy sidecars, laid out as istiod does: virtualOutbound (0.0.0.0:15001, hands
// connections to the listener of their original destination), one outbound listener per HTTP port
// (`0.0.0.0_<port>`, RDS named by the port) or per TCP service port (`<vip>_<port>`, tcp_proxy),
// and virtualInbound (0.0.0.0:15006) with one chain per served port plus a passthrough chain.
import { isIP } from "node:net";
import { ListenerSchema } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { TrafficDirection } from "../gen/envoy/config/core/v3/base_pb.js";
import { OriginalDstSchema } from "../gen/envoy/extensions/filters/listener/original_dst/v3/original_dst_pb.js";
import { visibleServices } from "../model/lookup.js";
import { isHttpProtocol } from "../model/service-entry.js";
import { TypeUrl } from "../xds/types.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { FilterChainSchema } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import {
  BlackHoleCluster,
  InboundPassthroughCluster,
  PassthroughCluster,
  VirtualInboundListener,
  VirtualInboundPort,
  VirtualOutboundListener,
  VirtualOutboundPort,
  built,
  outboundClusterName,
  outboundPolicyKey,
  socketAddress,
  typedConfig,
  type PlannedResource,
  type TranslationScope,
} from "./common.js";
import { httpConnectionManager, httpConnectionManagerFilter, HttpConnectionManagerName, routerFilter, tcpProxyFilter } from "./filters.js";
import { inboundKey, inboundTargets, sidecarInboundChain } from "./inbound.js";

function planned(name: string, key: string, build: () => ReturnType<typeof built>): PlannedResource {
  return { typeUrl: TypeUrl.Listener, name, key: `lds|envoy|${key}`, build };
}

/** Connections addressed to the capture port itself would loop; Istio sends them nowhere. */
function blackholeChain(listener: string, port: number): MessageInitShape<typeof FilterChainSchema> {
  return { name: `${listener}-blackhole`, filterChainMatch: { destinationPort: port }, filters: [tcpProxyFilter(BlackHoleCluster)] };
}

function virtualOutbound(): ReturnType<typeof built> {
  return built(ListenerSchema, {
    name: VirtualOutboundListener,
    address: socketAddress("0.0.0.0", VirtualOutboundPort),
    useOriginalDst: true,
    trafficDirection: TrafficDirection.OUTBOUND,
    filterChains: [blackholeChain(VirtualOutboundListener, VirtualOutboundPort), { name: "virtualOutbound-catchall-tcp", filters: [tcpProxyFilter(PassthroughCluster)] }],
  });
}

function outboundHttpListener(port: number): ReturnType<typeof built> {
  const name = `0.0.0.0_${port}`;
  return built(ListenerSchema, {
    name,
    address: socketAddress("0.0.0.0", port),
    bindToPort: false,
    trafficDirection: TrafficDirection.OUTBOUND,
    filterChains: [
      {
        filters: [httpConnectionManagerFilter(HttpConnectionManagerName, httpConnectionManager(`outbound_${name}`, { rds: String(port) }, [routerFilter()]))],
      },
    ],
  });
}

function outboundTcpListener(name: string, address: string, port: number, cluster: string): ReturnType<typeof built> {
  return built(ListenerSchema, {
    name,
    address: socketAddress(address, port),
    bindToPort: false,
    trafficDirection: TrafficDirection.OUTBOUND,
    filterChains: [{ filters: [tcpProxyFilter(cluster)] }],
  });
}

function virtualInbound(scope: TranslationScope): ReturnType<typeof built> {
  return built(ListenerSchema, {
    name: VirtualInboundListener,
    address: socketAddress("0.0.0.0", VirtualInboundPort),
    useOriginalDst: true,
    trafficDirection: TrafficDirection.INBOUND,
    listenerFilters: [{ name: "envoy.filters.listener.original_dst", configType: { case: "typedConfig", value: typedConfig(OriginalDstSchema, {}) } }],
    filterChains: [
      blackholeChain(VirtualInboundListener, VirtualInboundPort),
      ...inboundTargets(scope).map((t) => sidecarInboundChain(scope, t)),
      {
        name: VirtualInboundListener,
        filterChainMatch: { prefixRanges: [{ addressPrefix: "0.0.0.0", prefixLen: 0 }] },
        filters: [tcpProxyFilter(InboundPassthroughCluster)],
      },
    ],
  });
}

/** An Envoy sidecar's outbound LDS resources: the same for a namespace. */
export function outboundListeners(scope: TranslationScope): PlannedResource[] {
  const pk = outboundPolicyKey(scope.snapshot);
  const services = visibleServices(scope.snapshot, scope.proxy.namespace);
  const out: PlannedResource[] = [planned(VirtualOutboundListener, `virtualOutbound|${pk}`, virtualOutbound)];
  const names = new Set<string>();
  const httpPorts = [...new Set(services.flatMap((s) => s.ports.filter((p) => isHttpProtocol(p.protocol)).map((p) => p.number)))].sort((a, b) => a - b);
  for (const port of httpPorts) {
    names.add(`0.0.0.0_${port}`);
    out.push(planned(`0.0.0.0_${port}`, `http|${port}|${pk}`, () => outboundHttpListener(port)));
  }
  for (const service of services) {
    const vip = service.addresses.find((a) => isIP(a) !== 0);
    for (const port of service.ports) {
      if (isHttpProtocol(port.protocol)) continue;
      const address = vip ?? "0.0.0.0";
      const name = `${address}_${port.number}`;
      if (names.has(name)) continue; // Istio's listener conflict: the first service keeps the port
      names.add(name);
      const cluster = outboundClusterName(port.number, "", service.hostname);
      out.push(planned(name, `tcp|${name}|${cluster}|${pk}`, () => outboundTcpListener(name, address, port.number, cluster)));
    }
  }
  return out;
}

/** An Envoy sidecar's virtualInbound. */
export function inboundListeners(scope: TranslationScope): PlannedResource[] {
  const key = inboundKey(scope, inboundTargets(scope));
  return [planned(VirtualInboundListener, `virtualInbound|${key}`, () => virtualInbound(scope))];
}
