// translate(snapshot, proxy) -> the resources that proxy gets, by type. Pure: no I/O, no clock.
// Split in two so callers can share work: the outbound part depends only on the proxy's
// flavour, namespace and DNS domain (outboundKey); the inbound part on who the proxy is.
import { placementKey } from "./failover.js";
import { workloadView } from "../model/placement.js";
import { clusterKey } from "../model/lookup.js";
import { TypeUrl } from "../xds/types.js";
import type { Proxy } from "../model/proxy.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { sidecarScope } from "../model/sidecar-scope.js";
import { dnsDomain, type PlannedResource, type ProxyResources, type TranslationScope } from "./common.js";
import { dnsLookupFamily, inboundClusters, outboundClusters } from "./clusters.js";
import { endpointResources } from "./endpoints.js";
import { inboundListeners, outboundListeners } from "./listeners.js";
import { plannedRouteTables } from "./routes.js";
import { inboundIR, proxylessOutboundIR, sidecarOutboundIR, type SidecarOutboundIR } from "../ir/index.js";
import { proxyEnforcement } from "./enforcement.js";
import { grpcInboundListeners, grpcOutboundListeners } from "./grpc.js";
import { routerKey, translateRouter } from "./router/index.js";
import { routingLabelsKey } from "../ir/virtual-service-routes.js";

export type { PlannedResource, ProxyResources, BuiltResource } from "./common.js";

/**
 * What the outbound part reads from a proxy; proxies with equal keys get equal outbound resources.
 * An enforced proxy (its own empty EDS, enforcement.ts) gets a key of its own under that snapshot.
 */
export function outboundKey(claimed: Proxy, snapshot: MeshSnapshot): string {
  if (claimed.type === "router") return routerKey(claimed, snapshot);
  const proxy = workloadView(snapshot, claimed);
  const enforced = proxyEnforcement(snapshot, proxy);
  // DNS clusters resolve the proxy's address family (dnsLookupFamily).
  // VirtualService sourceLabels make routes depend on those labels of the proxy (none: no part).
  const labels = routingLabelsKey(snapshot, proxy.labels);
  // Proxies under one Sidecar (or none) share; a Sidecar's key changes with its spec.
  const sidecar = sidecarScope(snapshot, proxy).key;
  // Networks and failover make EDS depend on where the proxy is (failover.ts).
  return `${proxy.flavour}|${clusterKey(snapshot, proxy)}${proxy.namespace}|${dnsDomain(proxy)}|${dnsLookupFamily(proxy)}|${sidecar}${enforced === "" ? "" : `|${enforced}`}${labels === "" ? "" : `|${labels}`}${placementKey(snapshot, proxy)}`;
}

/** Clusters, endpoints, listeners and routes towards the services the proxy sees: its kind's IR, rendered. */
export function translateOutbound(snapshot: MeshSnapshot, claimed: Proxy): ProxyResources {
  // A gateway's whole translation depends only on what routerKey names: it is all "outbound".
  if (claimed.type === "router") return translateRouter(snapshot, claimed);
  const proxy = workloadView(snapshot, claimed);
  const scope: TranslationScope = { snapshot, proxy };
  const rendered = (ir: { clusters: SidecarOutboundIR["clusters"]; routes: SidecarOutboundIR["routes"] }, listeners: readonly PlannedResource[]): ProxyResources =>
    new Map<TypeUrl, readonly PlannedResource[]>([
      [TypeUrl.Cluster, outboundClusters(scope, ir.clusters)],
      [TypeUrl.ClusterLoadAssignment, endpointResources(scope, ir.clusters)],
      [TypeUrl.Listener, listeners],
      [TypeUrl.RouteConfiguration, plannedRouteTables(ir.routes)],
    ]);
  if (proxy.flavour === "grpc") {
    const ir = proxylessOutboundIR(scope);
    return rendered(ir, grpcOutboundListeners(ir.listeners));
  }
  const ir = sidecarOutboundIR(scope);
  return rendered(ir, outboundListeners(scope, ir.listeners));
}

/** The proxy's own side: what it serves (inbound listeners and clusters). Secrets come with the CA issue. */
export function translateInbound(snapshot: MeshSnapshot, claimed: Proxy): ProxyResources {
  if (claimed.type === "router") return new Map();
  const proxy = workloadView(snapshot, claimed);
  const scope: TranslationScope = { snapshot, proxy };
  const grpc = proxy.flavour === "grpc";
  return new Map<TypeUrl, readonly PlannedResource[]>([
    [TypeUrl.Cluster, inboundClusters(scope, inboundIR(scope).clusters)],
    [TypeUrl.Listener, grpc ? grpcInboundListeners(scope) : inboundListeners(scope)],
  ]);
}

/** Everything the proxy gets: outbound then inbound resources, by type. */
export function translate(snapshot: MeshSnapshot, proxy: Proxy): ProxyResources {
  const outbound = translateOutbound(snapshot, proxy);
  const inbound = translateInbound(snapshot, proxy);
  const out = new Map<TypeUrl, readonly PlannedResource[]>();
  for (const t of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Secret]) {
    out.set(t, [...(outbound.get(t) ?? []), ...(inbound.get(t) ?? [])]);
  }
  return out;
}
