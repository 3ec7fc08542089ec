// What a router proxy (an ingress, egress or east-west gateway) gets: listeners, routes, clusters
// and endpoints from the Gateways selecting it (src/gateway/merge.ts). Pure, like the sidecar
// translation; a router has no inbound side of its own, so everything is planned here, keyed by
// what it reads: the proxy's namespace, labels (which Gateways select it), gateway topology and
// enforcement, and the snapshot's policies, gateways and services.
import { TypeUrl } from "../../xds/types.js";
import type { Proxy } from "../../model/proxy.js";
import type { MeshSnapshot } from "../../model/snapshot.js";
import { digestOf, stableJson } from "../../model/digest.js";
import { clusterKey, visibleServices } from "../../model/lookup.js";
import { mergedGatewayFor } from "../../gateway/merge.js";
import { dnsDomain, inboundPolicyKey, type PlannedResource, type ProxyResources, type TranslationScope } from "../common.js";
import { dnsLookupFamily } from "../clusters.js";
import { proxyEnforcement } from "../enforcement.js";
import { routerClusters, routerEndpoints, servedNetworks } from "./clusters.js";
import { placeProxy } from "../../model/placement.js";
import { outboundClusterPlans } from "../../ir/clusters.js";
import { routerListeners } from "./listeners.js";
import { routerRoutes } from "./routes.js";
import { gatewayTopology } from "./hcm.js";
import { routerView } from "../../gateway/router-view.js";

/** What a router's translation reads of the proxy: routers with equal keys get equal resources. */
export function routerKey(claimed: Proxy, snapshot: MeshSnapshot): string {
  const proxy = routerView(snapshot, claimed);
  const labels = Object.keys(proxy.labels).sort().map((k) => `${k}=${proxy.labels[k]}`).join(",");
  const enforced = proxyEnforcement(snapshot, proxy);
  // The network (placement) decides split-horizon EDS and which networks SNI-DNAT assignments serve.
  const networks = `${placeProxy(snapshot, proxy).network ?? ""}>${servedNetworks(snapshot, proxy)?.join(",") ?? ""}`;
  return `router|${clusterKey(snapshot, proxy)}${proxy.namespace}|${labels}|${dnsDomain(proxy)}|${dnsLookupFamily(proxy)}|${stableJson(gatewayTopology(snapshot.mesh, proxy))}|${networks}${enforced === "" ? "" : `|${enforced}`}`;
}

/** Digests of what listeners read besides the proxy: policies (authz), mesh config, and services (AUTO_PASSTHROUGH chains). */
function listenerInputs(scope: TranslationScope): string {
  const merged = mergedGatewayFor(scope.snapshot, scope.proxy);
  const services = merged.autoPassthrough ? digestOf(visibleServices(scope.snapshot, scope.proxy).map((s) => s.digest)) + digestOf(scope.snapshot.destinationRules.map((d) => d.digest)) : "";
  return `${inboundPolicyKey(scope.snapshot)}|${services}`;
}

/** Every resource of a router proxy, by type. */
export function translateRouter(snapshot: MeshSnapshot, claimed: Proxy): ProxyResources {
  const proxy = routerView(snapshot, claimed);
  const scope: TranslationScope = { snapshot, proxy };
  const key = digestOf(routerKey(claimed, snapshot));
  const plans = outboundClusterPlans(scope);
  return new Map<TypeUrl, readonly PlannedResource[]>([
    [TypeUrl.Cluster, routerClusters(scope, plans)],
    [TypeUrl.ClusterLoadAssignment, routerEndpoints(scope, plans)],
    [TypeUrl.Listener, routerListeners(scope, `${key}|${listenerInputs(scope)}`)],
    [TypeUrl.RouteConfiguration, routerRoutes(scope, `${key}|${snapshot.othersDigest}|${snapshot.meshDigest}`)],
  ]);
}
