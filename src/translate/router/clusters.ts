// CDS and EDS for router proxies, as istiod builds them for gateways: the outbound clusters of
// every service visible to the gateway's namespace (what a bound VirtualService may route to),
// BlackHoleCluster but no passthrough clusters (a gateway has no original-destination listener),
// and, when a server is AUTO_PASSTHROUGH, an SNI-DNAT cluster `outbound_.<port>_.<subset>_.<host>`
// per mesh-internal service port and subset: the same cluster without upstream TLS (the client's
// mTLS passes through), whose assignment keeps only endpoints that speak Istio mTLS, so nothing
// reaches a plaintext workload through the east-west gateway.
import { clone, create } from "@bufbuild/protobuf";
import { ClusterSchema, type Cluster } from "../../gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { mergedGatewayFor } from "../../gateway/merge.js";
import { effectiveTrafficPolicy } from "../../model/destination-rule.js";
import { subsetEndpoints } from "../../model/lookup.js";
import { stableJson } from "../../model/digest.js";
import { TypeUrl } from "../../xds/types.js";
import { InboundPassthroughCluster, PassthroughCluster, built, outboundPolicyKey, type PlannedResource, type TranslationScope } from "../common.js";
import { outboundClusters } from "../clusters.js";
import { outboundClusterPlans } from "../../ir/clusters.js";
import type { OutboundClusterPlan } from "../../ir/types.js";
import { endpointResources, loadAssignment } from "../endpoints.js";
import { egressBlocked, routableEndpoints } from "../enforcement.js";
import { endpointMetadata } from "../extensions.js";
import { endpointSpeaksIstioMtls, istioMutualSni } from "../mtls-upstream.js";
import { placeProxy } from "../../model/placement.js";
import { sameNetwork } from "../../model/networks.js";
import type { Proxy } from "../../model/proxy.js";
import type { MeshSnapshot, ServiceEndpoint } from "../../model/snapshot.js";

/** The fixed clusters a sidecar has and a gateway does not. */
const sidecarOnly = new Set([PassthroughCluster, InboundPassthroughCluster]);

function sniDnatPlans(scope: TranslationScope, plans: readonly OutboundClusterPlan[]): (OutboundClusterPlan & { readonly sniName: string })[] {
  if (!mergedGatewayFor(scope.snapshot, scope.proxy).autoPassthrough) return [];
  return plans
    .filter((p) => p.service.location !== "MESH_EXTERNAL" && p.port.protocol !== "UDP")
    .map((p) => ({ ...p, sniName: istioMutualSni(p.port.number, p.subset, p.service.hostname) }));
}

/** An outbound cluster renamed for SNI-DNAT, its upstream TLS taken off. */
function sniDnatCluster(outbound: Cluster, name: string): Cluster {
  const c = clone(ClusterSchema, outbound);
  c.name = name;
  c.transportSocket = undefined;
  c.transportSocketMatches = [];
  if (c.edsClusterConfig !== undefined) c.edsClusterConfig.serviceName = name;
  if (c.loadAssignment !== undefined) c.loadAssignment.clusterName = name;
  return c;
}

/** The networks an AUTO_PASSTHROUGH gateway forwards into: REQUESTED_NETWORK_VIEW, else its own; undefined in a flat mesh. */
export function servedNetworks(snapshot: MeshSnapshot, proxy: Proxy): readonly string[] | undefined {
  const view = proxy.metadata["REQUESTED_NETWORK_VIEW"];
  if (typeof view === "string" && view.trim() !== "") return view.split(",").map((n) => n.trim()).filter((n) => n !== "");
  const own = placeProxy(snapshot, proxy).network;
  return own === undefined || own === "" ? undefined : [own];
}

function inServedNetworks(e: ServiceEndpoint, networks: readonly string[] | undefined): boolean {
  return networks === undefined || networks.some((n) => sameNetwork(e.network, n));
}

/** A router's CDS resources. */
export function routerClusters(scope: TranslationScope, plans: readonly OutboundClusterPlan[]): PlannedResource[] {
  const outbound = outboundClusters(scope, plans).filter((c) => !sidecarOnly.has(c.name));
  const byName = new Map(outbound.map((c) => [c.name, c]));
  const sni = sniDnatPlans(scope, plans).map((plan): PlannedResource => {
    const base = byName.get(plan.name)!;
    return {
      typeUrl: TypeUrl.Cluster,
      name: plan.sniName,
      key: `cds|sni-dnat|${base.key}`,
      build: () => built(ClusterSchema, sniDnatCluster(base.build().message as Cluster, plan.sniName)),
    };
  });
  return [...outbound, ...sni];
}

/** A router's EDS resources: the outbound assignments, and the SNI-DNAT ones (mTLS endpoints only). */
export function routerEndpoints(scope: TranslationScope, plans: readonly OutboundClusterPlan[]): PlannedResource[] {
  const out = endpointResources(scope, plans);
  const blocked = egressBlocked(scope.snapshot, scope.proxy);
  const pk = outboundPolicyKey(scope.snapshot);
  const networks = servedNetworks(scope.snapshot, scope.proxy);
  for (const plan of sniDnatPlans(scope, plans)) {
    if (plan.discovery !== "EDS") continue;
    if (blocked) {
      out.push({ typeUrl: TypeUrl.ClusterLoadAssignment, name: plan.sniName, key: `eds|${plan.sniName}|egress-blocked`, build: () => built(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: plan.sniName })) });
      continue;
    }
    const { kept, dropped } = routableEndpoints(scope.snapshot, subsetEndpoints(plan.service, plan.subsetLabels));
    const mtls = kept.filter((e) => endpointSpeaksIstioMtls(e) && inServedNetworks(e, networks));
    const trafficPolicy = effectiveTrafficPolicy(plan.rule?.spec, plan.port.number, plan.subset || undefined);
    out.push({
      typeUrl: TypeUrl.ClusterLoadAssignment,
      name: plan.sniName,
      key: `eds|sni-dnat|${plan.sniName}|${plan.service.endpointsDigest}|${plan.subsetLabels ? stableJson(plan.subsetLabels) : ""}|${plan.rule?.digest ?? ""}|${pk}|${dropped}|${networks?.join(",") ?? ""}`,
      build: () =>
        built(
          ClusterLoadAssignmentSchema,
          loadAssignment(plan.sniName, mtls, plan.port.number, {
            ipOnly: true,
            metadata: (endpoint) => endpointMetadata({ ...scope, service: plan.service, endpoint, servicePort: plan.port.number, trafficPolicy }),
          }),
        ),
    });
  }
  return out;
}
