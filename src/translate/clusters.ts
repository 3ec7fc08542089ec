// CDS: outbound clusters `outbound|port|subset|host` per visible service port and DestinationRule
// subset, inbound clusters `inbound|port||` for the ports this proxy serves, and Istio's fixed
// BlackHole/Passthrough clusters. The proxyless flavour gets EDS clusters only (as grpcgen).
import { egressBlocked, routableEndpoints } from "./enforcement.js";
import { Cluster_DiscoveryType, Cluster_DnsLookupFamily, Cluster_LbPolicy, ClusterSchema, type Cluster } from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { isIP } from "node:net";
import type { Proxy } from "../model/proxy.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { HttpProtocolOptionsSchema } from "../gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
import { effectiveTrafficPolicy, type ConnectionLimits, type LoadBalancerSettings, type OutlierDetectionSettings } from "../model/destination-rule.js";
import { subsetEndpoints } from "../model/lookup.js";
import type { InboundClusterPlan, InboundEndpoint, OutboundClusterPlan } from "../ir/types.js";
import { isHttp2Protocol, isSniffedProtocol, type Protocol } from "../model/service-entry.js";
import type { ServiceEndpoint } from "../model/snapshot.js";
import { TypeUrl } from "../xds/types.js";
import {
  BlackHoleCluster,
  InboundPassthroughBindIpv4,
  InboundPassthroughCluster,
  PassthroughCluster,
  adsConfigSource,
  built,
  durationFromSeconds,
  inboundClusterName,
  inboundPolicyKey,
  outboundPolicyKey,
  typedConfig,
  type PlannedResource,
  type TranslationScope,
} from "./common.js";
import { loadAssignment, type LoadBalancedAddress } from "./endpoints.js";
import { endpointMetadata, upstreamTransportSocket, type UpstreamContext } from "./extensions.js";

type ClusterInit = MessageInitShape<typeof ClusterSchema>;

/** Istio's default connect timeout (MeshConfig.connectTimeout). */
const connectTimeout = { seconds: 10n };
const defaultRingSize = 1024n;

/** The cluster's LB policy (PASSTHROUGH already made the cluster ORIGINAL_DST in the plan). */
function loadBalancing(lb: LoadBalancerSettings | undefined, flavour: "envoy" | "grpc"): Pick<ClusterInit, "lbPolicy" | "lbConfig"> {
  if (lb?.consistentHash) {
    const minimumRingSize = lb.consistentHash.minimumRingSize !== undefined ? BigInt(lb.consistentHash.minimumRingSize) : defaultRingSize;
    return { lbPolicy: Cluster_LbPolicy.RING_HASH, lbConfig: { case: "ringHashLbConfig", value: { minimumRingSize } } };
  }
  // grpc-js-xds NACKs every policy but ROUND_ROBIN and RING_HASH; grpcgen only warns and keeps RR.
  if (flavour === "grpc") return { lbPolicy: Cluster_LbPolicy.ROUND_ROBIN };
  switch (lb?.simple) {
    case "ROUND_ROBIN":
      return { lbPolicy: Cluster_LbPolicy.ROUND_ROBIN };
    case "RANDOM":
      return { lbPolicy: Cluster_LbPolicy.RANDOM };
    case "PASSTHROUGH":
      return { lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED };
    default:
      // Istio's default for sidecars (LEAST_CONN is its deprecated alias).
      return { lbPolicy: Cluster_LbPolicy.LEAST_REQUEST };
  }
}

/**
 * istiod's default thresholds (getDefaultCircuitBreakerThresholds): effectively unlimited, so
 * Envoy's own defaults (1,024 connections, pending and active requests, 3 retries) never cut a
 * busy service; DestinationRule connectionPool settings are what limits a cluster.
 */
const unlimitedCircuitBreakers = {
  thresholds: [{ maxConnections: 4294967295, maxPendingRequests: 4294967295, maxRequests: 4294967295, maxRetries: 4294967295 }],
};

/**
 * A DestinationRule's connectionPool replaces the unlimited defaults it sets (istiod's
 * applyConnectionPool: tcp.maxConnections, http.http1MaxPendingRequests, http.http2MaxRequests,
 * http.maxRetries; 0 keeps the default) and tcp.connectTimeout the cluster's connect timeout.
 */
function connectionPoolSettings(limits: ConnectionLimits | undefined): Pick<ClusterInit, "circuitBreakers" | "connectTimeout"> {
  const [t] = unlimitedCircuitBreakers.thresholds;
  const pick = (v: number | undefined, dflt: number): number => (v !== undefined && v > 0 ? v : dflt);
  const timeout = limits?.connectTimeout;
  return {
    circuitBreakers: {
      thresholds: [
        {
          maxConnections: pick(limits?.maxConnections, t.maxConnections),
          maxPendingRequests: pick(limits?.http1MaxPendingRequests, t.maxPendingRequests),
          maxRequests: pick(limits?.http2MaxRequests, t.maxRequests),
          maxRetries: pick(limits?.maxRetries, t.maxRetries),
        },
      ],
    },
    connectTimeout: timeout === undefined ? connectTimeout : durationFromSeconds(timeout),
  };
}

/**
 * A DestinationRule's outlierDetection (istiod's applyOutlierDetection): consecutive 5xx and
 * gateway errors always enforced, success-rate detection off, local-origin errors split on
 * request; minHealthPercent becomes the panic threshold.
 */
function outlierDetection(od: OutlierDetectionSettings | undefined): Pick<ClusterInit, "outlierDetection"> {
  if (od === undefined) return {};
  const enforce = (v: number): number => (v > 0 ? 100 : 0);
  return {
    outlierDetection: {
      enforcingSuccessRate: 0,
      ...(od.consecutive5xxErrors !== undefined ? { consecutive5xx: od.consecutive5xxErrors, enforcingConsecutive5xx: enforce(od.consecutive5xxErrors) } : {}),
      ...(od.consecutiveGatewayErrors !== undefined ? { consecutiveGatewayFailure: od.consecutiveGatewayErrors, enforcingConsecutiveGatewayFailure: enforce(od.consecutiveGatewayErrors) } : {}),
      ...(od.interval !== undefined ? { interval: durationFromSeconds(od.interval) } : {}),
      ...(od.baseEjectionTime !== undefined ? { baseEjectionTime: durationFromSeconds(od.baseEjectionTime) } : {}),
      ...(od.maxEjectionPercent ? { maxEjectionPercent: od.maxEjectionPercent } : {}),
      ...(od.splitExternalLocalOriginErrors
        ? {
            splitExternalLocalOriginErrors: true,
            ...(od.consecutiveLocalOriginFailures ? { consecutiveLocalOriginFailure: od.consecutiveLocalOriginFailures, enforcingConsecutiveLocalOriginFailure: 100 } : {}),
            enforcingLocalOriginSuccessRate: 0,
          }
        : {}),
    },
  };
}

/**
 * Outbound EDS/DNS clusters: no panic mode (an unhealthy endpoint is never used as if healthy), as
 * istiod, unless outlierDetection.minHealthPercent asks for one.
 */
function outboundLbConfig(od: OutlierDetectionSettings | undefined): NonNullable<Exclude<ClusterInit, Cluster>["commonLbConfig"]> {
  return { healthyPanicThreshold: { value: od?.minHealthPercent ?? 0 } };
}

/** The passthrough clusters speak whatever the downstream spoke, and drop idle upstream connections after 5 minutes. */
const passthroughHttpOptions = {
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typedConfig(HttpProtocolOptionsSchema, {
    commonHttpProtocolOptions: { idleTimeout: { seconds: 300n } },
    upstreamProtocolOptions: { case: "useDownstreamProtocolConfig", value: { httpProtocolOptions: {}, http2ProtocolOptions: {} } },
  }),
};

/** EDS over the ADS stream, waiting for the assignment without a timeout (istiod's initial_fetch_timeout 0s). */
function envoyEdsConfig(serviceName: string): ClusterInit["edsClusterConfig"] {
  return { serviceName, edsConfig: adsConfigSource({ initialFetchTimeout: { seconds: 0n } }) };
}

/** Which address family DNS clusters resolve (istiod's SelectDNSLookupFamily): IPv6 only for IPv6-only proxies. */
export function dnsLookupFamily(proxy: Proxy): Cluster_DnsLookupFamily {
  return proxy.ips.length > 0 && proxy.ips.every((ip) => isIP(ip) === 6) ? Cluster_DnsLookupFamily.V6_ONLY : Cluster_DnsLookupFamily.V4_ONLY;
}

/**
 * DNS clusters re-resolve every 60 s (MeshConfig dnsRefreshRate's default) and honour the records'
 * TTLs, as istiod configures them. istiod's c-ares resolver config is left out: the Envoy API
 * meshward validates against requires it to list resolvers (test/oracle/differences.ts).
 */
function dnsResolution(proxy: Proxy) {
  return { dnsLookupFamily: dnsLookupFamily(proxy), dnsRefreshRate: { seconds: 60n }, respectDnsTtl: true };
}

/** A port whose protocol is detected: upstream speaks what the downstream spoke (HTTP/1.1 or HTTP/2). */
const downstreamProtocolOptions = {
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typedConfig(HttpProtocolOptionsSchema, {
    upstreamProtocolOptions: { case: "useDownstreamProtocolConfig", value: { httpProtocolOptions: {}, http2ProtocolOptions: {} } },
  }),
};

const http2Options = {
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typedConfig(HttpProtocolOptionsSchema, {
    upstreamProtocolOptions: { case: "explicitHttpConfig", value: { protocolConfig: { case: "http2ProtocolOptions", value: {} } } },
  }),
};

/** HTTP/2 options for HTTP/2 ports, downstream-protocol options for detected ones, none otherwise. */
function upstreamProtocolOptions(protocol: Protocol): Pick<ClusterInit, "typedExtensionProtocolOptions"> {
  if (isHttp2Protocol(protocol)) return { typedExtensionProtocolOptions: http2Options };
  if (isSniffedProtocol(protocol)) return { typedExtensionProtocolOptions: downstreamProtocolOptions };
  return {};
}

function buildOutboundCluster(scope: TranslationScope, plan: OutboundClusterPlan): ClusterInit {
  const trafficPolicy = effectiveTrafficPolicy(plan.rule?.spec, plan.port.number, plan.subset || undefined);
  const ctx: UpstreamContext = { ...scope, service: plan.service, port: plan.port, subset: plan.subset, clusterName: plan.name, trafficPolicy, discovery: plan.discovery };
  const tls = upstreamTransportSocket(ctx);
  const lb = loadBalancing(trafficPolicy.loadBalancer, scope.proxy.flavour);
  const c: ClusterInit = { name: plan.name, ...tls };
  if (scope.proxy.flavour === "grpc") {
    return { ...c, clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS }, edsClusterConfig: { serviceName: plan.name, edsConfig: adsConfigSource() }, ...lb };
  }
  const common: ClusterInit = { ...c, ...connectionPoolSettings(trafficPolicy.connectionLimits), ...outlierDetection(trafficPolicy.outlierDetection), ...upstreamProtocolOptions(plan.port.protocol) };
  switch (plan.discovery) {
    case "EDS":
      return { ...common, clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS }, edsClusterConfig: envoyEdsConfig(plan.name), commonLbConfig: outboundLbConfig(trafficPolicy.outlierDetection), ...lb };
    case "ORIGINAL_DST":
      return { ...common, clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.ORIGINAL_DST }, lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED, commonLbConfig: outboundLbConfig(trafficPolicy.outlierDetection) };
    case "STRICT_DNS":
    case "LOGICAL_DNS": {
      // No endpoints listed: the hosts resolve themselves (Istio uses the host name as endpoint).
      // Quarantined addresses leave DNS clusters' inline endpoints too (enforcement.ts).
      const endpoints = routableEndpoints(scope.snapshot, subsetEndpoints(plan.service, plan.subsetLabels)).kept;
      let dnsEndpoints: readonly (ServiceEndpoint | LoadBalancedAddress)[] = endpoints.length > 0 || plan.subsetLabels ? endpoints : [{ address: plan.service.hostname, targetPorts: {}, weight: 1 }];
      // Envoy accepts exactly one endpoint in a LOGICAL_DNS cluster (validation rejects more; a subset may still select several).
      if (plan.discovery === "LOGICAL_DNS") dnsEndpoints = dnsEndpoints.slice(0, 1);
      const type = plan.discovery === "STRICT_DNS" ? Cluster_DiscoveryType.STRICT_DNS : Cluster_DiscoveryType.LOGICAL_DNS;
      return { ...common, clusterDiscoveryType: { case: "type", value: type }, ...dnsResolution(scope.proxy), commonLbConfig: outboundLbConfig(trafficPolicy.outlierDetection), loadAssignment: loadAssignment(plan.name, dnsEndpoints, plan.port.number, { ipOnly: false, metadata: (e) => ("identity" in e ? endpointMetadata({ ...scope, service: plan.service, endpoint: e, servicePort: plan.port.number, trafficPolicy }) : undefined) }), ...lb };
    }
  }
}

/** `inbound|port||` with a Sidecar ingress defaultEndpoint: STATIC, bound to 127.0.0.6 unless it sends to loopback (istiod's buildInboundClusterForPortOrUDS). */
function staticInboundCluster(targetPort: number, protocol: Protocol, endpoint: InboundEndpoint): ClusterInit {
  const name = inboundClusterName(targetPort);
  const address = endpoint.kind === "pipe" ? { address: { case: "pipe" as const, value: { path: endpoint.path } } } : { address: { case: "socketAddress" as const, value: { address: endpoint.address, portSpecifier: { case: "portValue" as const, value: endpoint.port } } } };
  const loopback = endpoint.kind === "socket" && (endpoint.address === "127.0.0.1" || endpoint.address === "::1");
  return {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.STATIC },
    connectTimeout,
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ hostIdentifier: { case: "endpoint", value: { address } } }] }] },
    circuitBreakers: unlimitedCircuitBreakers,
    commonLbConfig: {},
    ...(loopback ? {} : { upstreamBindConfig: { sourceAddress: { address: InboundPassthroughBindIpv4, portSpecifier: { case: "portValue", value: 0 } } } }),
    ...upstreamProtocolOptions(protocol),
  };
}

function inboundCluster(targetPort: number, protocol: Protocol): ClusterInit {
  return {
    name: inboundClusterName(targetPort),
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.ORIGINAL_DST },
    lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED,
    connectTimeout,
    circuitBreakers: unlimitedCircuitBreakers,
    // istiod's value: the workload's own address never changes, so its hosts are never cleaned up.
    cleanupInterval: { seconds: 9223372035n },
    commonLbConfig: {},
    upstreamBindConfig: { sourceAddress: { address: InboundPassthroughBindIpv4, portSpecifier: { case: "portValue", value: 0 } } },
    ...upstreamProtocolOptions(protocol),
  };
}

const passthroughCommon = { clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.ORIGINAL_DST }, lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED, connectTimeout, circuitBreakers: unlimitedCircuitBreakers, typedExtensionProtocolOptions: passthroughHttpOptions } as const satisfies ClusterInit;

const fixedClusters: readonly ClusterInit[] = [
  { name: BlackHoleCluster, clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.STATIC }, connectTimeout },
  { name: PassthroughCluster, ...passthroughCommon },
  {
    name: InboundPassthroughCluster,
    ...passthroughCommon,
    upstreamBindConfig: { sourceAddress: { address: InboundPassthroughBindIpv4, portSpecifier: { case: "portValue", value: 0 } } },
  },
];

function planned(name: string, key: string, init: () => ClusterInit): PlannedResource {
  return { typeUrl: TypeUrl.Cluster, name, key: `cds|${key}`, build: () => built(ClusterSchema, init()) };
}

/**
 * A cluster of an egress-blocked proxy that does not go through EDS (DNS, original destination,
 * PassthroughCluster): kept by name so listeners and routes stay valid, with nowhere to connect.
 * EDS clusters stay as they are: their assignments are empty for that proxy (enforcement.ts).
 */
function blockedCluster(name: string): PlannedResource {
  return planned(name, `egress-blocked|${name}`, () => ({ name, clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.STATIC }, connectTimeout }));
}

/** The outbound CDS resources (and Istio's fixed clusters for Envoy): the same for a namespace. */
export function outboundClusters(scope: TranslationScope, plans: readonly OutboundClusterPlan[]): PlannedResource[] {
  const pk = outboundPolicyKey(scope.snapshot);
  const flavour = scope.proxy.flavour;
  const blocked = egressBlocked(scope.snapshot, scope.proxy);
  const out = plans.map((plan) => {
    if (plan.blocked === true) return blockedCluster(plan.name);
    // DNS clusters carry their endpoints inline, and auto-mTLS on an original-destination cluster
    // depends on every endpoint's tlsMode label: both depend on the endpoints.
    const eps = plan.discovery === "EDS" ? "" : `${plan.service.endpointsDigest}-${routableEndpoints(scope.snapshot, plan.service.endpoints).dropped}`;
    const family = plan.discovery === "STRICT_DNS" || plan.discovery === "LOGICAL_DNS" ? dnsLookupFamily(scope.proxy) : "";
    const key = `${flavour}|${plan.name}|${plan.service.digest}|${eps}|${plan.rule?.digest ?? ""}|${family}|${pk}`;
    return planned(plan.name, key, () => buildOutboundCluster(scope, plan));
  });
  if (flavour === "envoy") for (const c of fixedClusters) out.push(blocked && c.name === PassthroughCluster ? blockedCluster(c.name) : planned(c.name!, `fixed|${c.name}`, () => c));
  return out;
}

/** `inbound|port||` for each port an Envoy sidecar serves (the IR gives proxyless servers none). */
export function inboundClusters(scope: TranslationScope, plans: readonly InboundClusterPlan[]): PlannedResource[] {
  const pk = inboundPolicyKey(scope.snapshot);
  return plans.map(({ port, protocol, endpoint }) =>
    planned(inboundClusterName(port), `inbound|${port}|${protocol}|${endpoint === undefined ? "" : JSON.stringify(endpoint)}|${pk}`, () => (endpoint === undefined ? inboundCluster(port, protocol) : staticInboundCluster(port, protocol, endpoint))),
  );
}
