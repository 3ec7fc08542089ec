// The inbound side of a proxy: which ports it serves (one target per listening port) and the
// filter chain that serves each, for both flavours. Authorization and mTLS plug in through
// extensions.ts; this file only decides where they go.
import { create } from "@bufbuild/protobuf";
import { FilterChainSchema, type FilterChain } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import { serviceTargets, type ServiceTarget } from "../model/lookup.js";
import { isHttpProtocol } from "../model/service-entry.js";
import { inboundClusterName, inboundPolicyKey, type TranslationScope } from "./common.js";
import { inboundHttpFilters, inboundNetworkFilters, inboundTransportSocket, type InboundChainContext } from "./extensions.js";
import { httpConnectionManager, httpConnectionManagerFilter, HttpConnectionManagerName, routerFilter, tcpProxyFilter } from "./filters.js";

/** One target per listening port: the first service (by target port, then service key) wins a clash. */
export function inboundTargets(scope: TranslationScope): ServiceTarget[] {
  const byPort = new Map<number, ServiceTarget>();
  for (const t of serviceTargets(scope.snapshot, scope.proxy)) if (!byPort.has(t.targetPort)) byPort.set(t.targetPort, t);
  return [...byPort.values()];
}

/**
 * Everything the inbound side depends on besides the targets' services: who the proxy is (policies
 * select by namespace and labels, mTLS by identity) and the policies themselves.
 */
export function inboundKey(scope: TranslationScope, targets: readonly ServiceTarget[]): string {
  const p = scope.proxy;
  const labels = Object.keys(p.labels).sort().map((k) => `${k}=${p.labels[k]}`).join(",");
  const t = targets.map((x) => `${x.targetPort}:${x.port.protocol}:${x.service.digest}`).join(",");
  return `${p.namespace}|${p.serviceAccount}|${labels}|${t}|${inboundPolicyKey(scope.snapshot)}`;
}

/** An Envoy sidecar's chain for one target, matched on the original destination port. */
export function sidecarInboundChain(scope: TranslationScope, target: ServiceTarget): FilterChain {
  const ctx: InboundChainContext = { ...scope, target };
  const cluster = inboundClusterName(target.targetPort);
  const transportSocket = inboundTransportSocket(ctx);
  const filters = isHttpProtocol(target.port.protocol)
    ? [
        httpConnectionManagerFilter(
          HttpConnectionManagerName,
          httpConnectionManager(
            `inbound_0.0.0.0_${target.targetPort}`,
            {
              inline: {
                name: cluster,
                validateClusters: false,
                virtualHosts: [
                  {
                    name: `inbound|http|${target.port.number}`,
                    domains: ["*"],
                    routes: [{ name: "default", match: { pathSpecifier: { case: "prefix", value: "/" } }, action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: cluster }, timeout: { seconds: 0n } } } }],
                  },
                ],
              },
            },
            [...inboundHttpFilters(ctx), routerFilter()],
          ),
        ),
      ]
    : [...inboundNetworkFilters(ctx), tcpProxyFilter(cluster)];
  return create(FilterChainSchema, {
    name: `0.0.0.0_${target.targetPort}`,
    filterChainMatch: { destinationPort: target.targetPort },
    filters,
    ...(transportSocket ? { transportSocket } : {}),
  });
}

/**
 * A proxyless gRPC server's chain (grpcgen's buildInboundFilterChain): no match (grpc-js-xds never
 * matches chains that set destination_port), an inline route with non_forwarding_action.
 */
export function grpcInboundChain(scope: TranslationScope, target: ServiceTarget): FilterChain {
  const ctx: InboundChainContext = { ...scope, target };
  const transportSocket = inboundTransportSocket(ctx);
  const suffix = transportSocket ? "mtls" : "plaintext";
  const hcm = httpConnectionManager(
    `inbound_${target.targetPort}`,
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
