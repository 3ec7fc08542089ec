// EDS: ClusterLoadAssignments for outbound clusters, endpoints grouped by locality the way istiod
// does (one LocalityLbEndpoints per region/zone/subzone, weight = sum of endpoint weights).
// Shaped to pass grpc-js-xds: every locality has a load_balancing_weight (else it is silently
// dropped), addresses are IP literals with a port value, no address appears twice, priority 0.
import { isIP } from "node:net";
import type { ServiceEndpoint } from "../model/snapshot.js";
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from "../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import type { LocalityLbEndpointsSchema } from "../gen/envoy/config/endpoint/v3/endpoint_components_pb.js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { built, hostPort, outboundPolicyKey, socketAddress, type PlannedResource, type TranslationScope } from "./common.js";
import { endpointMetadata } from "./extensions.js";
import { egressBlocked, routableEndpoints } from "./enforcement.js";
import type { Metadata } from "../gen/envoy/config/core/v3/base_pb.js";
import type { OutboundClusterPlan } from "../ir/types.js";
import { subsetEndpoints } from "../model/lookup.js";
import { effectiveTrafficPolicy } from "../model/destination-rule.js";
import { stableJson } from "../model/digest.js";
import { TypeUrl } from "../xds/types.js";
import { placeProxy } from "../model/placement.js";
import { gatewaysDigest, hasNetworks, splitHorizon } from "./split-horizon.js";
import { failoverPlan, type LocalityGroup } from "./failover.js";
import { parseLocality, type Locality } from "../model/locality.js";

/** What an assignment needs of an endpoint (a DNS cluster's host name is one too). */
export type LoadBalancedAddress = Pick<ServiceEndpoint, "address" | "targetPorts" | "weight" | "locality">;

export interface LoadAssignmentOptions<E extends LoadBalancedAddress> {
  /** Keep only IP-literal endpoints (EDS for proxyless gRPC; Envoy EDS too, which cannot resolve). */
  readonly ipOnly: boolean;
  /** Metadata for each endpoint (the endpointMetadata hook). */
  readonly metadata?: (endpoint: E) => Metadata | undefined;
  /** Each endpoint's failover priority for this proxy (failover.ts); absent: all priority 0. */
  readonly priority?: (endpoint: E) => number;
  /** Locality weights for this proxy (failover.ts' `distribute`); undefined leaves a locality out. */
  readonly weights?: (groups: readonly LocalityGroup[]) => readonly (number | undefined)[];
}


/** The ClusterLoadAssignment of `endpoints` on service port `servicePort`. */
export function loadAssignment<E extends LoadBalancedAddress>(
  clusterName: string,
  endpoints: readonly E[],
  servicePort: number,
  opts: LoadAssignmentOptions<E>,
): ClusterLoadAssignment {
  const byLocality = new Map<string, { locality: Locality; priority: number; weight: number; eps: { address: string; port: number; weight: number; metadata: Metadata | undefined }[] }>();
  const seen = new Set<string>();
  for (const e of endpoints) {
    if (opts.ipOnly && isIP(e.address) === 0) continue;
    const port = e.targetPorts[servicePort] ?? servicePort;
    const id = hostPort(e.address, port);
    if (seen.has(id)) continue; // an inline endpoint and a WorkloadEntry for the same address
    seen.add(id);
    const locality = parseLocality(e.locality);
    const priority = opts.priority?.(e) ?? 0;
    // Sorted by priority first (zero-padded), then locality.
    const k = `${String(priority).padStart(4, "0")}|${locality.region}/${locality.zone}/${locality.subZone}`;
    const group = byLocality.get(k) ?? { locality, priority, weight: 0, eps: [] };
    group.weight += e.weight;
    group.eps.push({ address: e.address, port, weight: e.weight, metadata: opts.metadata?.(e) });
    byLocality.set(k, group);
  }
  // Priorities must run 0, 1, 2... without gaps (Envoy and gRPC): the used ones are renumbered.
  const used = [...new Set([...byLocality.values()].map((g) => g.priority))].sort((a, b) => a - b);
  const groups = [...byLocality.keys()].sort().map((k) => byLocality.get(k)!);
  const weights = opts.weights?.(groups) ?? groups.map((g) => g.weight);
  // A locality `distribute` leaves out gets no endpoint: meshward sends no empty locality.
  const localities: MessageInitShape<typeof LocalityLbEndpointsSchema>[] = groups.flatMap((g, i) => {
    const weight = weights[i];
    if (weight === undefined) return [];
    return {
      locality: g.locality,
      ...(g.priority !== used[0] ? { priority: used.indexOf(g.priority) } : {}),
      // uint32 in Envoy; clamp so a large sum of weights cannot overflow into a NACK.
      loadBalancingWeight: Math.min(weight, 4294967295),
      lbEndpoints: g.eps.map((ep) => ({
        hostIdentifier: { case: "endpoint" as const, value: { address: socketAddress(ep.address, ep.port) } },
        loadBalancingWeight: ep.weight,
        ...(ep.metadata ? { metadata: ep.metadata } : {}),
      })),
    };
  });
  return create(ClusterLoadAssignmentSchema, { clusterName, endpoints: localities });
}


/**
 * The EDS resources of a proxy: one per EDS cluster it gets, named like the cluster. Quarantined
 * endpoints are left out for everyone; an enforced proxy gets every assignment empty (enforcement.ts).
 * Where endpoints are in networks, each network's proxies get their own assignment (split-horizon.ts).
 */
export function endpointResources(scope: TranslationScope, plans: readonly OutboundClusterPlan[]): PlannedResource[] {
  const pk = outboundPolicyKey(scope.snapshot);
  const blocked = egressBlocked(scope.snapshot, scope.proxy);
  return plans
    .filter((plan) => plan.discovery === "EDS")
    .map((plan) => {
      if (blocked) {
        return { typeUrl: TypeUrl.ClusterLoadAssignment, name: plan.name, key: `eds|${plan.name}|egress-blocked`, build: () => built(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: plan.name })) };
      }
      const routable = routableEndpoints(scope.snapshot, subsetEndpoints(plan.service, plan.subsetLabels));
      const trafficPolicy = effectiveTrafficPolicy(plan.rule?.spec, plan.port.number, plan.subset || undefined);
      // Networks: the proxy's network sees other networks through their gateways (split horizon).
      const network = hasNetworks(routable.kept) ? (placeProxy(scope.snapshot, scope.proxy).network ?? "") : undefined;
      const kept = network === undefined ? routable.kept : splitHorizon(routable.kept, network, scope.snapshot.networkGateways, trafficPolicy.tls, scope.proxy.flavour);
      const dropped = routable.dropped;
      const horizon = network === undefined ? "" : `|net=${network}|${scope.proxy.flavour}|${gatewaysDigest(scope.snapshot.networkGateways)}`;
      // Locality priorities and weights for the proxy's own locality and label values (failover.ts).
      const failover = failoverPlan(scope.snapshot, scope.proxy, trafficPolicy);
      return {
        typeUrl: TypeUrl.ClusterLoadAssignment,
        name: plan.name,
        // Envoy and gRPC get the same IP-only assignment, so the key does not name the flavour.
        // The DestinationRule's TLS mode decides the endpoints' tlsMode metadata too.
        key: `eds|${plan.name}|${plan.service.endpointsDigest}|${plan.subsetLabels ? stableJson(plan.subsetLabels) : ""}|${plan.rule?.digest ?? ""}|${pk}|${dropped}${horizon}${failover !== undefined ? `|${failover.key}` : ""}`,
        build: () =>
          built(
            ClusterLoadAssignmentSchema,
            loadAssignment(plan.name, kept, plan.port.number, {
              ipOnly: true,
              ...(failover?.priority !== undefined ? { priority: failover.priority } : {}),
              ...(failover?.weights !== undefined ? { weights: failover.weights } : {}),
              metadata: (endpoint) => endpointMetadata({ ...scope, service: plan.service, endpoint, servicePort: plan.port.number, trafficPolicy }),
            }),
          ),
      };
    });
}
