// A synthetic mesh for the push benchmark until the real translators land (branch `mesh`): S HTTP
// services on port 8080, each sidecar seeing every service. Resources are shaped like istiod's
// (outbound|8080||host EDS clusters with Istio mTLS transport-socket matches, inbound|8080||,
// virtualOutbound/virtualInbound, 0.0.0.0_8080 with RDS "8080") and built with the generated
// types. As in the real cache, each resource is encoded once and shared by every proxy that gets it.
import { create, toBinary, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy, type Cluster } from "../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema, type Listener } from "../src/gen/envoy/config/listener/v3/listener_pb.js";
import { FilterChainSchema, FilterSchema, type FilterChain } from "../src/gen/envoy/config/listener/v3/listener_components_pb.js";
import { RouteConfigurationSchema, type RouteConfiguration } from "../src/gen/envoy/config/route/v3/route_pb.js";
import { HttpConnectionManagerSchema, type HttpConnectionManager } from "../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { RouterSchema } from "../src/gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { TcpProxySchema } from "../src/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js";
import {
  UpstreamTlsContextSchema,
  DownstreamTlsContextSchema,
  CommonTlsContextSchema,
  CommonTlsContext_CombinedCertificateValidationContextSchema,
  type CommonTlsContext,
} from "../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { ApiVersion } from "../src/gen/envoy/config/core/v3/config_source_pb.js";
import type { Proxy } from "../src/model/proxy.js";
import { encodedResource } from "../src/xds/resource.js";
import { TypeUrl, type EncodedResource, type ProxyChange, type ResourceProvider } from "../src/xds/types.js";

const PORT = 8080;
const TRUST_DOMAIN = "cluster.local";
const ads = { configSourceSpecifier: { case: "ads" as const, value: {} }, resourceApiVersion: ApiVersion.V3 };

export function serviceHost(i: number): string {
  return `svc-${i}.ns-${i % 10}.svc.cluster.local`;
}
export function serviceApp(i: number): string {
  return `svc-${i}`;
}
export function outboundCluster(i: number): string {
  return `outbound|${PORT}||${serviceHost(i)}`;
}

function sds(name: string) {
  return { name, sdsConfig: ads };
}

/** Istio's workload TLS: certificate and root from SDS, the peer's SPIFFE id checked when given. */
function commonTls(alpn: string[], peerSpiffeId?: string): CommonTlsContext {
  const combined = create(CommonTlsContext_CombinedCertificateValidationContextSchema, {
    defaultValidationContext: peerSpiffeId ? { matchSubjectAltNames: [{ matchPattern: { case: "exact", value: peerSpiffeId } }] } : {},
    validationContextSdsSecretConfig: sds("ROOTCA"),
  });
  return create(CommonTlsContextSchema, {
    alpnProtocols: alpn,
    tlsCertificateSdsSecretConfigs: [sds("default")],
    validationContextType: { case: "combinedValidationContext", value: combined },
  });
}

function cluster(i: number): Cluster {
  const host = serviceHost(i);
  const ns = `ns-${i % 10}`;
  const metadata: JsonObject = { services: [{ host, name: serviceApp(i), namespace: ns }], default_original_port: PORT };
  return create(ClusterSchema, {
    name: outboundCluster(i),
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: ads, serviceName: outboundCluster(i) },
    connectTimeout: { seconds: 10n },
    lbPolicy: Cluster_LbPolicy.LEAST_REQUEST,
    circuitBreakers: { thresholds: [{ maxConnections: 4294967295, maxPendingRequests: 4294967295, maxRequests: 4294967295, maxRetries: 4294967295, trackRemaining: true }] },
    commonLbConfig: {},
    metadata: { filterMetadata: { istio: metadata } },
    transportSocketMatches: [
      {
        name: "tlsMode-istio",
        match: { tlsMode: "istio" },
        transportSocket: {
          name: "envoy.transport_sockets.tls",
          configType: {
            case: "typedConfig",
            value: anyPack(
              UpstreamTlsContextSchema,
              create(UpstreamTlsContextSchema, {
                sni: `outbound_.${PORT}_._.${host}`,
                commonTlsContext: commonTls(["istio-peer-exchange", "istio"], `spiffe://${TRUST_DOMAIN}/ns/${ns}/sa/${serviceApp(i)}`),
              }),
            ),
          },
        },
      },
      { name: "tlsMode-disabled", match: {}, transportSocket: { name: "envoy.transport_sockets.raw_buffer" } },
    ],
  });
}

function staticCluster(name: string, type: Cluster_DiscoveryType): Cluster {
  return create(ClusterSchema, { name, clusterDiscoveryType: { case: "type", value: type }, connectTimeout: { seconds: 10n }, lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED });
}

function endpoints(i: number, count: number): Uint8Array {
  const lbEndpoints = Array.from({ length: count }, (_, k) => ({
    hostIdentifier: {
      case: "endpoint" as const,
      value: { address: { address: { case: "socketAddress" as const, value: { address: `10.${(i >> 8) & 255}.${i & 255}.${k + 1}`, portSpecifier: { case: "portValue" as const, value: PORT } } } } },
    },
    metadata: { filterMetadata: { "envoy.transport_socket_match": { tlsMode: "istio" }, istio: { workload: `${serviceApp(i)};ns-${i % 10};${serviceApp(i)};v1;Kubernetes` } } },
    loadBalancingWeight: 1,
  }));
  return toBinary(
    ClusterLoadAssignmentSchema,
    create(ClusterLoadAssignmentSchema, { clusterName: outboundCluster(i), endpoints: [{ locality: { region: "us-east1", zone: "us-east1-b" }, lbEndpoints, loadBalancingWeight: count }] }),
  );
}

function hcm(statPrefix: string, route: MessageInitShape<typeof HttpConnectionManagerSchema>["routeSpecifier"]): HttpConnectionManager {
  return create(HttpConnectionManagerSchema, {
    statPrefix,
    routeSpecifier: route,
    httpFilters: [{ name: "envoy.filters.http.router", configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema, {})) } }],
    useRemoteAddress: false,
    normalizePath: true,
    upgradeConfigs: [{ upgradeType: "websocket" }],
    streamIdleTimeout: { seconds: 0n },
  });
}

function hcmChain(name: string, h: HttpConnectionManager, extra: MessageInitShape<typeof FilterChainSchema> = {}): FilterChain {
  const chain = create(FilterChainSchema, extra);
  chain.name = name;
  chain.filters = [create(FilterSchema, { name: "envoy.filters.network.http_connection_manager", configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, h) } })];
  return chain;
}

function tcpChain(name: string, cluster: string): FilterChain {
  const tcp = create(TcpProxySchema, { statPrefix: cluster, clusterSpecifier: { case: "cluster", value: cluster } });
  return create(FilterChainSchema, { name, filters: [{ name: "envoy.filters.network.tcp_proxy", configType: { case: "typedConfig", value: anyPack(TcpProxySchema, tcp) } }] });
}

function socket(address: string, port: number) {
  return { address: { case: "socketAddress" as const, value: { address, portSpecifier: { case: "portValue" as const, value: port } } } };
}

function virtualOutbound(): Listener {
  return create(ListenerSchema, { name: "virtualOutbound", address: socket("0.0.0.0", 15001), useOriginalDst: true, filterChains: [tcpChain("virtualOutbound-catchall-tcp", "PassthroughCluster")] });
}

function httpOutbound(): Listener {
  return create(ListenerSchema, {
    name: `0.0.0.0_${PORT}`,
    address: socket("0.0.0.0", PORT),
    bindToPort: false,
    filterChains: [hcmChain(`0.0.0.0_${PORT}`, hcm(`outbound_0.0.0.0_${PORT}`, { case: "rds", value: { routeConfigName: String(PORT), configSource: ads } }))],
  });
}

function virtualInbound(i: number): Listener {
  const inboundRoute = create(RouteConfigurationSchema, {
    name: `inbound|${PORT}||`,
    virtualHosts: [{ name: `inbound|http|${PORT}`, domains: ["*"], routes: [{ name: "default", match: { pathSpecifier: { case: "prefix", value: "/" } }, action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: `inbound|${PORT}||` }, timeout: { seconds: 0n } } } }] }],
  });
  const tls = create(DownstreamTlsContextSchema, { commonTlsContext: commonTls(["h2", "http/1.1"]), requireClientCertificate: true });
  return create(ListenerSchema, {
    name: "virtualInbound",
    address: socket("0.0.0.0", 15006),
    filterChains: [
      hcmChain(`inbound_0.0.0.0_${PORT}`, hcm(`inbound_0.0.0.0_${PORT}`, { case: "routeConfig", value: inboundRoute }), {
        filterChainMatch: { destinationPort: PORT, transportProtocol: "tls" },
        transportSocket: { name: "envoy.transport_sockets.tls", configType: { case: "typedConfig", value: anyPack(DownstreamTlsContextSchema, tls) } },
      }),
      tcpChain("virtualInbound-catchall", "InboundPassthroughCluster"),
    ],
    metadata: { filterMetadata: { istio: { app: serviceApp(i) } } },
  });
}

function outboundRoutes(services: number): RouteConfiguration {
  return create(RouteConfigurationSchema, {
    name: String(PORT),
    validateClusters: false,
    virtualHosts: Array.from({ length: services }, (_, i) => {
      const host = serviceHost(i);
      const short = host.split(".")[0] ?? host;
      return {
        name: `${host}:${PORT}`,
        domains: [host, `${host}:${PORT}`, short, `${short}:${PORT}`],
        routes: [
          {
            name: "default",
            match: { pathSpecifier: { case: "prefix" as const, value: "/" } },
            action: {
              case: "route" as const,
              value: {
                clusterSpecifier: { case: "cluster" as const, value: outboundCluster(i) },
                timeout: { seconds: 0n },
                retryPolicy: { retryOn: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", numRetries: 2 },
                maxGrpcTimeout: { seconds: 0n },
              },
            },
          },
        ],
      };
    }),
  });
}

type Resources = Map<string, EncodedResource>;

/** The provider: per service (a sidecar's app label) the CDS and LDS sets; EDS and RDS are fleet-wide. */
export class SyntheticMesh implements ResourceProvider {
  private readonly cds: Resources[] = [];
  private readonly lds: Resources[] = [];
  private eds: Resources = new Map();
  private readonly rds: Resources = new Map();
  private readonly listeners = new Set<(c: ProxyChange) => void>();
  private readonly endpointCounts: number[];
  private readonly byApp = new Map<string, number>();

  constructor(
    readonly services: number,
    endpointsPerService = 3,
  ) {
    this.endpointCounts = Array.from({ length: services }, () => endpointsPerService);
    const outbound = Array.from({ length: services }, (_, i) => encodedResource(TypeUrl.Cluster, outboundCluster(i), toBinary(ClusterSchema, cluster(i))));
    const statics = [
      encodedResource(TypeUrl.Cluster, "BlackHoleCluster", toBinary(ClusterSchema, staticCluster("BlackHoleCluster", Cluster_DiscoveryType.STATIC))),
      encodedResource(TypeUrl.Cluster, "PassthroughCluster", toBinary(ClusterSchema, staticCluster("PassthroughCluster", Cluster_DiscoveryType.ORIGINAL_DST))),
      encodedResource(TypeUrl.Cluster, "InboundPassthroughCluster", toBinary(ClusterSchema, staticCluster("InboundPassthroughCluster", Cluster_DiscoveryType.ORIGINAL_DST))),
    ];
    const inbound = encodedResource(TypeUrl.Cluster, `inbound|${PORT}||`, toBinary(ClusterSchema, staticCluster(`inbound|${PORT}||`, Cluster_DiscoveryType.STATIC)));
    const shared = [encodedResource(TypeUrl.Listener, "virtualOutbound", toBinary(ListenerSchema, virtualOutbound())), encodedResource(TypeUrl.Listener, `0.0.0.0_${PORT}`, toBinary(ListenerSchema, httpOutbound()))];
    for (let i = 0; i < services; i++) {
      this.byApp.set(serviceApp(i), i);
      this.cds.push(new Map([...outbound, ...statics, inbound].map((r) => [r.name, r])));
      const inboundListener = encodedResource(TypeUrl.Listener, "virtualInbound", toBinary(ListenerSchema, virtualInbound(i)));
      this.lds.push(new Map([...shared, inboundListener].map((r) => [r.name, r])));
      this.eds.set(outboundCluster(i), encodedResource(TypeUrl.ClusterLoadAssignment, outboundCluster(i), endpoints(i, endpointsPerService)));
    }
    const routes = encodedResource(TypeUrl.RouteConfiguration, String(PORT), toBinary(RouteConfigurationSchema, outboundRoutes(services)));
    this.rds.set(routes.name, routes);
  }

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    const i = this.byApp.get(proxy.labels["app"] ?? "") ?? 0;
    switch (typeUrl) {
      case TypeUrl.Cluster:
        return this.cds[i]!;
      case TypeUrl.Listener:
        return this.lds[i]!;
      case TypeUrl.ClusterLoadAssignment:
        return this.eds;
      case TypeUrl.RouteConfiguration:
        return this.rds;
      default:
        return new Map();
    }
  }

  onChange(listener: (c: ProxyChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Adds an endpoint to service `i` (every sidecar depends on every service) and notifies. */
  addEndpoint(i: number): string {
    this.endpointCounts[i] = (this.endpointCounts[i] ?? 0) + 1;
    const next = new Map(this.eds);
    next.set(outboundCluster(i), encodedResource(TypeUrl.ClusterLoadAssignment, outboundCluster(i), endpoints(i, this.endpointCounts[i]!)));
    this.eds = next;
    for (const l of this.listeners) l({ all: true });
    return outboundCluster(i);
  }

  /** Total encoded bytes held (the shared cache). */
  encodedBytes(): number {
    const seen = new Set<EncodedResource>();
    for (const m of [...this.cds, ...this.lds, this.eds, this.rds]) for (const r of m.values()) seen.add(r);
    let n = 0;
    for (const r of seen) n += r.bytes.length;
    return n;
  }
}
