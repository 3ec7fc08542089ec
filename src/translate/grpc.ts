// The proxyless gRPC flavour (node metadata GENERATOR=grpc), as istiod's grpcgen builds it:
//   LDS  `host:port` api_listener (HCM, fault + router) -> RDS `outbound|port||host`
//        `xds.istio.io/grpc/lds/inbound/IP:port` for xDS-enabled servers
//   RDS  `outbound|port||host`: one virtual host answering every alias of the service
//   CDS/EDS `outbound|port|subset|host` (clusters.ts / endpoints.ts with the grpc flavour)
// Listener names cover the short forms grpcgen accepts (`name`, `name.ns`, `name.ns.svc`, each
// with `:port`) and, beyond grpcgen, the bare host for single-port services, so `xds:///name`
// works. Server listeners exist for each proxy IP and 0.0.0.0: grpc-js-xds requires the listener
// address to equal the address the server binds. The bootstrap must set
// `server_listener_resource_name_template: "xds.istio.io/grpc/lds/inbound/%s"` (as Istio's agent).
import { ListenerSchema } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { HttpConnectionManagerSchema } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { isIP } from "node:net";
import { TypeUrl } from "../xds/types.js";
import { built, hostPort, socketAddress, typedConfig, type PlannedResource, type TranslationScope } from "./common.js";
import { faultFilter, httpConnectionManager, routerFilter } from "./filters.js";
import { grpcInboundChain, inboundKey, inboundTargets } from "./inbound.js";
import type { GrpcApiListener, Keyed } from "../ir/types.js";
export { grpcRouteName } from "../ir/routes.js";

export const grpcServerListenerPrefix = "xds.istio.io/grpc/lds/inbound/";

/** The listener a gRPC server bound to `ip:port` asks for (via the bootstrap template). */
export function grpcServerListenerName(ip: string, port: number): string {
  return grpcServerListenerPrefix + hostPort(ip, port);
}

function apiListener({ name, service, port, rds }: GrpcApiListener): ReturnType<typeof built> {
  const vip = service.addresses.find((a) => isIP(a) !== 0) ?? "0.0.0.0";
  return built(ListenerSchema, {
    name,
    address: socketAddress(vip, port.number),
    apiListener: {
      apiListener: typedConfig(
        HttpConnectionManagerSchema,
        httpConnectionManager(`outbound_${hostPort(service.hostname, port.number)}`, { rds }, [faultFilter(), routerFilter()]),
      ),
    },
  });
}

function inboundListener(scope: TranslationScope, ip: string, target: ReturnType<typeof inboundTargets>[number]): ReturnType<typeof built> {
  return built(ListenerSchema, {
    name: grpcServerListenerName(ip, target.targetPort),
    address: socketAddress(ip, target.targetPort),
    // listener_filters and use_original_dst stay unset: grpc-js-xds NACKs either.
    filterChains: [grpcInboundChain(scope, target)],
  });
}

/** A proxyless gRPC client's api_listeners (listener IR, src/ir/listeners.ts): the same for a namespace. */
export function grpcOutboundListeners(listeners: readonly Keyed<GrpcApiListener>[]): PlannedResource[] {
  return listeners.map((l) => ({ typeUrl: TypeUrl.Listener, name: l.name, key: l.key, build: () => apiListener(l.ir()) }));
}

/** A proxyless gRPC server's listeners, one per served port and address it may bind. */
export function grpcInboundListeners(scope: TranslationScope): PlannedResource[] {
  const out: PlannedResource[] = [];
  const targets = inboundTargets(scope);
  const key = inboundKey(scope, targets);
  for (const ip of [...scope.proxy.ips, "0.0.0.0"]) {
    for (const target of targets) {
      const name = grpcServerListenerName(ip, target.targetPort);
      out.push({ typeUrl: TypeUrl.Listener, name, key: `lds|grpc|${name}|${key}`, build: () => inboundListener(scope, ip, target) });
    }
  }
  return out;
}
