// Network and HTTP filters the listener builders of both flavours assemble.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Filter } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import { FilterSchema } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import type { RouteConfigurationSchema } from "../gen/envoy/config/route/v3/route_pb.js";
import {
  HttpConnectionManagerSchema,
  HttpFilterSchema,
  type HttpFilter,
} from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { TcpProxySchema } from "../gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js";
import { RouterSchema } from "../gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { HTTPFaultSchema } from "../gen/envoy/extensions/filters/http/fault/v3/fault_pb.js";
import { create } from "@bufbuild/protobuf";
import { adsConfigSource, typedConfig } from "./common.js";
import type { HcmInit } from "./http-options.js";

export const HttpConnectionManagerName = "envoy.filters.network.http_connection_manager";
export const TcpProxyName = "envoy.filters.network.tcp_proxy";

/** The router, always the last HTTP filter (grpc-js-xds NACKs it anywhere else). */
export function routerFilter(): HttpFilter {
  return create(HttpFilterSchema, { name: "envoy.filters.http.router", configType: { case: "typedConfig", value: typedConfig(RouterSchema, {}) } });
}

/** Istio gives proxyless clients the fault filter ahead of the router (grpcgen supportedFilters). */
export function faultFilter(): HttpFilter {
  return create(HttpFilterSchema, { name: "envoy.filters.http.fault", configType: { case: "typedConfig", value: typedConfig(HTTPFaultSchema, {}) } });
}

export function tcpProxyFilter(cluster: string): Filter {
  return create(FilterSchema, {
    name: TcpProxyName,
    configType: { case: "typedConfig", value: typedConfig(TcpProxySchema, { statPrefix: cluster, clusterSpecifier: { case: "cluster", value: cluster } }) },
  });
}

/** tcp_proxy splitting connections by weight (a VirtualService tcp/tls route to several destinations). */
export function weightedTcpProxyFilter(statPrefix: string, clusters: readonly { readonly cluster: string; readonly weight: number }[]): Filter {
  return create(FilterSchema, {
    name: TcpProxyName,
    configType: { case: "typedConfig", value: typedConfig(TcpProxySchema, { statPrefix, clusterSpecifier: { case: "weightedClusters", value: { clusters: clusters.map((c) => ({ name: c.cluster, weight: c.weight })) } } }) },
  });
}

type Routing = { readonly rds: string } | { readonly inline: MessageInitShape<typeof RouteConfigurationSchema> };

/**
 * An HTTP connection manager; `httpFilters` must already end with the router. `options` are the
 * Envoy-only settings (http-options.ts); with them RDS waits for its routes without a timeout, as istiod.
 */
export function httpConnectionManager(
  statPrefix: string,
  routing: Routing,
  httpFilters: HttpFilter[],
  options?: HcmInit,
): MessageInitShape<typeof HttpConnectionManagerSchema> {
  return {
    ...options,
    statPrefix,
    routeSpecifier:
      "rds" in routing
        ? { case: "rds", value: { configSource: adsConfigSource(options ? { initialFetchTimeout: { seconds: 0n } } : {}), routeConfigName: routing.rds } }
        : { case: "routeConfig", value: routing.inline },
    httpFilters,
  };
}

export function httpConnectionManagerFilter(name: string, hcm: MessageInitShape<typeof HttpConnectionManagerSchema>): Filter {
  return create(FilterSchema, { name, configType: { case: "typedConfig", value: typedConfig(HttpConnectionManagerSchema, hcm) } });
}
