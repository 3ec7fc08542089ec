// Valid Envoy resources shaped like meshward's output; each rule test breaks one field of these.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy, type Cluster } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ListenerSchema, type Listener } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema, type RouteConfiguration } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { RouterSchema } from "../../src/gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import {
  HttpConnectionManagerSchema,
  type HttpConnectionManager,
} from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";

export function routeConfiguration(): RouteConfiguration {
  return create(RouteConfigurationSchema, {
    name: "8080",
    virtualHosts: [
      {
        name: "reviews.default.svc.cluster.local:8080",
        domains: ["reviews.default.svc.cluster.local", "reviews:8080"],
        routes: [
          {
            name: "default",
            match: { pathSpecifier: { case: "prefix", value: "/" } },
            action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: "outbound|8080||reviews.default.svc.cluster.local" } } },
          },
        ],
      },
    ],
  });
}

export function httpConnectionManager(init: MessageInitShape<typeof HttpConnectionManagerSchema> = {}): HttpConnectionManager {
  return create(HttpConnectionManagerSchema, {
    statPrefix: "outbound_0.0.0.0_8080",
    routeSpecifier: { case: "routeConfig", value: routeConfiguration() },
    httpFilters: [{ name: "envoy.filters.http.router", configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) } }],
    ...init,
  });
}

export function listener(hcm: HttpConnectionManager = httpConnectionManager()): Listener {
  return create(ListenerSchema, {
    name: "0.0.0.0_8080",
    address: { address: { case: "socketAddress", value: { address: "0.0.0.0", portSpecifier: { case: "portValue", value: 8080 } } } },
    filterChains: [
      {
        filters: [
          { name: "envoy.filters.network.http_connection_manager", configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, hcm) } },
        ],
      },
    ],
  });
}

export function cluster(): Cluster {
  return create(ClusterSchema, {
    name: "outbound|8080||reviews.default.svc.cluster.local",
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: { configSourceSpecifier: { case: "ads", value: {} }, resourceApiVersion: 2 } },
    connectTimeout: { seconds: 10n },
    lbPolicy: Cluster_LbPolicy.LEAST_REQUEST,
  });
}
