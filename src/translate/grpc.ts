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
import { RouteConfigurationSchema } from "../gen/envoy/config/route/v3/route_pb.js";
import { HttpConnectionManagerSchema } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { isIP } from "node:net";
import { visibleServices } from "../model/lookup.js";
import type { Service } from "../model/snapshot.js";
import { isHttpProtocol, isSniffedProtocol, type ServicePortSpec } from "../model/service-entry.js";
import { TypeUrl } from "../xds/types.js";
import { built, dnsDomain, hostPort, outboundClusterName, outboundPolicyKey, socketAddress, typedConfig, type PlannedResource, type TranslationScope } from "./common.js";
import { faultFilter, httpConnectionManager, routerFilter } from "./filters.js";
import { grpcInboundChain, inboundKey, inboundTargets } from "./inbound.js";
import { defaultRoute, hostAliases, virtualHostDomains } from "./routes.js";
import { destinationRuleFor } from "../model/lookup.js";

export const grpcServerListenerPrefix = "xds.istio.io/grpc/lds/inbound/";

/** The listener a gRPC server bound to `ip:port` asks for (via the bootstrap template). */
export function grpcServerListenerName(ip: string, port: number): string {
  return grpcServerListenerPrefix + hostPort(ip, port);
}

/** The RDS name for a service port: grpcgen names it like the default cluster, `outbound|port||host`. */
export function grpcRouteName(service: Service, port: ServicePortSpec): string {
  return outboundClusterName(port.number, "", service.hostname);
}

function apiListener(name: string, service: Service, port: ServicePortSpec): ReturnType<typeof built> {
  const vip = service.addresses.find((a) => isIP(a) !== 0) ?? "0.0.0.0";
  return built(ListenerSchema, {
    name,
    address: socketAddress(vip, port.number),
    apiListener: {
      apiListener: typedConfig(
        HttpConnectionManagerSchema,
        httpConnectionManager(`outbound_${hostPort(service.hostname, port.number)}`, { rds: grpcRouteName(service, port) }, [faultFilter(), routerFilter()]),
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

/** A proxyless gRPC client's api_listeners: the same for a namespace. */
export function grpcOutboundListeners(scope: TranslationScope): PlannedResource[] {
  const pk = outboundPolicyKey(scope.snapshot);
  const services = visibleServices(scope.snapshot, scope.proxy);
  const out: PlannedResource[] = [];
  const taken = new Set<string>();
  // Full host names first, so a short alias never shadows another service's real name.
  for (const fullNamesOnly of [true, false]) {
    for (const service of services) {
      const aliases = fullNamesOnly ? [service.hostname] : hostAliases(service.hostname, scope.proxy).slice(1);
      for (const port of service.ports) {
        const names = aliases.map((a) => hostPort(a, port.number));
        if (service.ports.length === 1) names.push(...aliases);
        for (const name of names) {
          if (taken.has(name)) continue;
          taken.add(name);
          out.push({ typeUrl: TypeUrl.Listener, name, key: `lds|grpc|${name}|${service.digest}|${pk}`, build: () => apiListener(name, service, port) });
        }
      }
    }
  }
  return out;
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

/** The RDS resources of a proxyless gRPC workload: one per service port. */
export function grpcRoutes(scope: TranslationScope): PlannedResource[] {
  const pk = outboundPolicyKey(scope.snapshot);
  const out: PlannedResource[] = [];
  for (const service of visibleServices(scope.snapshot, scope.proxy)) {
    const rule = destinationRuleFor(scope.snapshot, scope.proxy.namespace, service);
    for (const port of service.ports) {
      const name = grpcRouteName(service, port);
      out.push({
        typeUrl: TypeUrl.RouteConfiguration,
        name,
        key: `rds|grpc|${name}|${dnsDomain(scope.proxy)}|${service.digest}|${rule?.digest ?? ""}|${pk}`,
        build: () =>
          built(RouteConfigurationSchema, {
            name,
            // A port declared as not HTTP gets no virtual host, as from grpcgen: gRPC cannot reach it.
            virtualHosts: isHttpProtocol(port.protocol) || isSniffedProtocol(port.protocol)
              ? [{ name: hostPort(service.hostname, port.number), domains: virtualHostDomains(scope, service, port.number, new Set()), routes: [defaultRoute(scope, service, port)], includeRequestAttemptCount: true }]
              : [],
          }),
      });
    }
  }
  return out;
}
