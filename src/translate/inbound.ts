// The inbound side of a proxy: which ports it serves (one target per listening port) and the
// filter chain that serves each, for both flavours. Authorization and mTLS plug in through
// extensions.ts; this file only decides where they go.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { RouteSchema } from "../gen/envoy/config/route/v3/route_components_pb.js";
import { FilterChainSchema, type Filter, type FilterChain } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import type { ServiceTarget } from "../model/lookup.js";
import { inboundTargets, sidecarInboundPorts } from "../ir/listeners.js";
export { inboundTargets, sidecarInboundPorts };
import type { InboundPort } from "../ir/types.js";
import { sidecarScope } from "../model/sidecar-scope.js";
import { digestOf } from "../model/digest.js";
import { isHttp2Protocol, isHttpProtocol, isSniffedProtocol } from "../model/service-entry.js";
import { sidecarHcmOptions, sidecarHttpExtensionFilters } from "./http-options.js";
import { InboundPassthroughCluster, VirtualInboundListener, inboundClusterName, inboundPolicyKey, type TranslationScope } from "./common.js";
import { proxyEnforcement } from "./enforcement.js";
import { inboundHttpAuthz, inboundHttpFilters, inboundNetworkAuthz, type InboundChainContext } from "./extensions.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import type { HttpFilter } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { grpcServerMode, inboundChainOptions, passthroughPorts, sidecarPortMode, type InboundChainOption } from "./mtls-inbound.js";
import { grpcDownstreamTls, sidecarDownstreamTls } from "./mtls.js";

/** Istio's name for the passthrough chains that serve detected HTTP. */
export const VirtualInboundCatchAllHttp = "virtualInbound-catchall-http";
import { httpConnectionManager, httpConnectionManagerFilter, HttpConnectionManagerName, routerFilter, tcpProxyFilter } from "./filters.js";


/**
 * Everything the inbound side depends on besides the targets' services: who the proxy is (policies
 * select by namespace and labels, mTLS by identity) and the policies themselves.
 */
export function inboundKey(scope: TranslationScope, targets: readonly ServiceTarget[]): string {
  const p = scope.proxy;
  const labels = Object.keys(p.labels).sort().map((k) => `${k}=${p.labels[k]}`).join(",");
  const t = targets.map((x) => `${x.targetPort}:${x.port.protocol}:${x.service.digest}`).join(",");
  // An Envoy sidecar's Sidecar ingress listeners replace its targets' ports (grpcgen ignores them).
  const ingress = p.flavour === "envoy" ? sidecarScope(scope.snapshot, p).ingress : [];
  const ik = ingress.length === 0 ? "" : `|ingress:${digestOf(ingress)}`;
  // A quarantined proxy's chains get a deny-all of their own (enforcement.ts): only it re-keys.
  return `${p.namespace}|${p.serviceAccount}|${labels}|${t}|${inboundPolicyKey(scope.snapshot)}|${proxyEnforcement(scope.snapshot, p)}${ik}`;
}

/** What one sidecar chain serves: a target port (0 for passthrough) and the cluster it forwards to. */
interface SidecarChainSpec {
  readonly name: string;
  readonly targetPort: number;
  readonly servicePort: number;
  readonly cluster: string;
  /** `inbound_0.0.0.0_<port>` for a service port; passthrough chains use their cluster's name, as istiod. */
  readonly statPrefix: string;
  /** Authorization applies to every chain, service or passthrough, through the extension hooks. */
  readonly ctx: InboundChainContext;
  /** The port speaks HTTP/2 (HTTP2, GRPC): the connection manager gets HTTP/2 options, as istiod. */
  readonly http2: boolean;
  /** The port speaks gRPC: no reset-before-request retries on its route. */
  readonly grpc: boolean;
  /** The Sidecar whose ingress listener made the chain (`istio.config` metadata, as istiod). */
  readonly origin?: string;
}

/**
 * istiod's default inbound route (BuildDefaultHTTPInboundRoute): no timeout and no stream
 * duration limit (the caller's sidecar and the grpc-timeout header decide), and two retries of a
 * request the local application reset before reading it, except for gRPC (streams).
 */
function inboundRouteAction(spec: SidecarChainSpec): Extract<NonNullable<MessageInitShape<typeof RouteSchema>["action"]>, { case: "route" }>["value"] {
  return {
    clusterSpecifier: { case: "cluster", value: spec.cluster },
    timeout: { seconds: 0n },
    maxStreamDuration: { maxStreamDuration: { seconds: 0n }, grpcTimeoutHeaderMax: { seconds: 0n } },
    ...(spec.grpc ? {} : { retryPolicy: { retryOn: "reset-before-request", numRetries: 2 } }),
  };
}

/**
 * Chains built for a snapshot, by everything a chain depends on besides the snapshot's mesh config:
 * its layout and the key of its authorization filters. Groups whose workloads select the same
 * policies and serve the same ports share chain objects (and, through encodedChain, their bytes):
 * a quarantine changes every group's inbound listener (issue 18).
 */
const chainsBySnapshot = new WeakMap<MeshSnapshot, Map<string, FilterChain>>();

function sidecarChain(scope: TranslationScope, spec: SidecarChainSpec, option: InboundChainOption): FilterChain {
  const authz = option.protocol === "HTTP" ? inboundHttpAuthz(spec.ctx) : inboundNetworkAuthz(spec.ctx);
  // The origin is part of the key: two groups whose Sidecar ingress differs never share a chain.
  const key = [spec.name, spec.targetPort, spec.servicePort, spec.cluster, spec.statPrefix, spec.http2, spec.grpc, spec.origin ?? "", option.protocol, option.tls, option.transportProtocol, option.applicationProtocols.join(","), authz.key].join("|");
  let memo = chainsBySnapshot.get(scope.snapshot);
  if (memo === undefined) chainsBySnapshot.set(scope.snapshot, (memo = new Map()));
  let chain = memo.get(key);
  if (chain === undefined) memo.set(key, (chain = buildSidecarChain(scope, spec, option, authz.filters)));
  return chain;
}

function buildSidecarChain(scope: TranslationScope, spec: SidecarChainSpec, option: InboundChainOption, authzFilters: readonly (HttpFilter | Filter)[]): FilterChain {
  const filters =
    option.protocol === "HTTP"
      ? [
          httpConnectionManagerFilter(
            HttpConnectionManagerName,
            httpConnectionManager(
              spec.statPrefix,
              {
                inline: {
                  name: spec.cluster,
                  validateClusters: false,
                  virtualHosts: [
                    {
                      name: `inbound|http|${spec.servicePort}`,
                      domains: ["*"],
                      routes: [{ name: "default", match: { pathSpecifier: { case: "prefix", value: "/" } }, action: { case: "route", value: inboundRouteAction(spec) } }],
                    },
                  ],
                },
              },
              [...(authzFilters as readonly HttpFilter[]), ...sidecarHttpExtensionFilters(), routerFilter()],
              sidecarHcmOptions(scope.snapshot.mesh, "inbound", spec.http2),
            ),
          ),
        ]
      : [...(authzFilters as readonly Filter[]), tcpProxyFilter(spec.cluster)];
  const transportSocket = option.tls ? sidecarDownstreamTls(scope.snapshot.mesh, option.protocol) : undefined;
  return create(FilterChainSchema, {
    name: spec.name,
    filterChainMatch: {
      ...(spec.targetPort > 0 ? { destinationPort: spec.targetPort } : {}),
      transportProtocol: option.transportProtocol,
      applicationProtocols: [...option.applicationProtocols],
    },
    filters,
    ...(spec.origin !== undefined ? { metadata: { filterMetadata: { istio: { config: spec.origin } } } } : {}),
    ...(transportSocket ? { transportSocket } : {}),
  });
}

/**
 * An Envoy sidecar's chains for one port it serves (a service target or a Sidecar ingress
 * listener), matched on the original destination port, per its mTLS mode.
 */
export function sidecarInboundChains(scope: TranslationScope, port: InboundPort): FilterChain[] {
  const ctx: InboundChainContext = scope;
  const spec: SidecarChainSpec = {
    name: `${port.bind}_${port.targetPort}`,
    targetPort: port.targetPort,
    servicePort: port.servicePort,
    cluster: inboundClusterName(port.targetPort),
    statPrefix: `inbound_${port.bind}_${port.targetPort}`,
    ctx,
    http2: isHttp2Protocol(port.protocol),
    grpc: port.protocol === "GRPC" || port.protocol === "GRPC-WEB",
    ...(port.origin !== undefined ? { origin: port.origin } : {}),
  };
  const mode = sidecarPortMode(scope.snapshot, scope.proxy, port.targetPort);
  const protocol = isHttpProtocol(port.protocol) ? "HTTP" : isSniffedProtocol(port.protocol) ? "AUTO" : "TCP";
  return inboundChainOptions(mode, protocol).map((o) => sidecarChain(scope, spec, o));
}

/**
 * The chains for traffic to ports no service declares: the workload-wide mode on any port, and
 * the port-level modes of undeclared ports (istiod's buildInboundPassthroughChains). Protocol is
 * detected, so PERMISSIVE gets all five auto chains. They carry the workload's authorization
 * filters like service chains: HTTP RBAC on `virtualInbound-catchall-http`, network RBAC (HTTP-only
 * fields handled as on any TCP chain) on `virtualInbound`.
 */
export function sidecarPassthroughChains(scope: TranslationScope, servedPorts: ReadonlySet<number>): FilterChain[] {
  const out: FilterChain[] = [];
  for (const port of [0, ...passthroughPorts(scope.snapshot, scope.proxy, servedPorts)]) {
    const mode = sidecarPortMode(scope.snapshot, scope.proxy, port);
    for (const o of inboundChainOptions(mode, "AUTO")) {
      const name = o.protocol === "HTTP" ? VirtualInboundCatchAllHttp : VirtualInboundListener;
      out.push(sidecarChain(scope, { name, targetPort: port, servicePort: 0, cluster: InboundPassthroughCluster, statPrefix: InboundPassthroughCluster, ctx: scope, http2: false, grpc: false }, o));
    }
  }
  return out;
}

/**
 * A proxyless gRPC server's chain (grpcgen's buildInboundFilterChain): no match (grpc-js-xds never
 * matches chains that set destination_port), an inline route with non_forwarding_action.
 */
export function grpcInboundChain(scope: TranslationScope, target: ServiceTarget): FilterChain {
  const ctx: InboundChainContext = { ...scope, target };
  const transportSocket = grpcServerMode(scope.snapshot, scope.proxy, target.targetPort) === "STRICT" ? grpcDownstreamTls() : undefined;
  const suffix = transportSocket ? "mtls" : "plaintext";
  // The stat prefix names the mode on purpose: grpc-js-xds 1.14 compares listener updates by filter
  // bytes and misses a transport-socket-only change, so a STRICT <-> PERMISSIVE switch would never
  // reach a running server if the HCM bytes stayed equal.
  const hcm = httpConnectionManager(
    `inbound_${target.targetPort}_${suffix}`,
    {
      inline: {
        name: "inbound",
        virtualHosts: [
          {
            name: `inbound|${target.targetPort}`,
            domains: ["*"],
            routes: [{ match: { pathSpecifier: { case: "prefix", value: "/" } }, action: { case: "nonForwardingAction", value: {} } }],
          },
        ],
      },
    },
    [...inboundHttpFilters(ctx), routerFilter()],
  );
  return create(FilterChainSchema, {
    name: `inbound-${suffix}`,
    filters: [httpConnectionManagerFilter(`inbound-hcm${suffix}`, hcm)],
    ...(transportSocket ? { transportSocket } : {}),
  });
}
