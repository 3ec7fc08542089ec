// Failover across clusters (Istio's localityLbSetting.failoverPriority): with outlier detection on
// (as in Istio, failover needs it to notice a dead endpoint), an endpoint's priority for a proxy is
// how early in the DestinationRule's label list it stops sharing the proxy's values:
// `[topology.istio.io/cluster]` keeps a proxy on its own cluster's endpoints and fails over to the
// other clusters' when none is left. The proxy's values come from what the control plane knows
// (its Pod's labels, its cluster and network from placement), not from what it says.
import type { MeshSnapshot, ServiceEndpoint } from "../model/snapshot.js";
import type { Proxy } from "../model/proxy.js";
import type { TrafficPolicy } from "../model/destination-rule.js";
import { placeProxy } from "../model/placement.js";
import { CLUSTER_LABEL, NETWORK_LABEL } from "../model/networks.js";

export interface FailoverPlan {
  /** Each endpoint's priority (0 = shares every label with the proxy). */
  readonly priority: (e: Pick<ServiceEndpoint, "labels">) => number;
  /** What the assignment depends on: the proxy's values of the labels. */
  readonly key: string;
}

/** The proxy's labels as the control plane knows them (its Pod's), with its cluster and network. */
function ownLabels(snapshot: MeshSnapshot, proxy: Proxy): { readonly network?: string; readonly labels: Readonly<Record<string, string>> } {
  const placement = placeProxy(snapshot, proxy);
  const labels = {
    ...(placement.pod?.labels ?? proxy.labels),
    [CLUSTER_LABEL]: placement.cluster,
    ...(placement.network !== undefined ? { [NETWORK_LABEL]: placement.network } : {}),
  };
  return { ...(placement.network !== undefined ? { network: placement.network } : {}), labels };
}

/** The failover of a cluster's assignment for `proxy`, or undefined when its policy asks for none. */
export function failoverPlan(snapshot: MeshSnapshot, proxy: Proxy, policy: Omit<TrafficPolicy, "portLevelSettings">): FailoverPlan | undefined {
  const labels = policy.loadBalancer?.failoverPriority;
  if (labels === undefined || labels.length === 0 || policy.outlierDetection === undefined) return undefined;
  const own = ownLabels(snapshot, proxy).labels;
  const values = labels.map((l) => own[l]);
  return {
    priority: (e) => {
      const j = labels.findIndex((l, i) => values[i] === undefined || e.labels[l] !== values[i]);
      return j < 0 ? 0 : labels.length - j;
    },
    key: `fp=${JSON.stringify(values)}`,
  };
}

/** Per snapshot: whether any endpoint is in a network, and every label failover priorities read. */
const usage = new WeakMap<MeshSnapshot, { readonly networks: boolean; readonly labels: readonly string[] }>();

function placementUsage(snapshot: MeshSnapshot): { readonly networks: boolean; readonly labels: readonly string[] } {
  let u = usage.get(snapshot);
  if (u === undefined) {
    const labels = new Set<string>();
    for (const dr of snapshot.destinationRules) {
      const policies = [dr.spec.trafficPolicy, ...dr.spec.subsets.map((s) => s.trafficPolicy)];
      for (const tp of policies) {
        for (const l of tp?.loadBalancer?.failoverPriority ?? []) labels.add(l);
        for (const pl of tp?.portLevelSettings ?? []) for (const l of pl.loadBalancer?.failoverPriority ?? []) labels.add(l);
      }
    }
    u = { networks: snapshot.services.some((s) => s.endpoints.some((e) => e.network !== undefined && e.network !== "")), labels: [...labels].sort() };
    usage.set(snapshot, u);
  }
  return u;
}

/**
 * The part of a proxy's outbound key its place in the mesh decides: its network when endpoints are
 * in networks (split-horizon EDS), its values of the failover labels when a DestinationRule asks for
 * failover; "" in a flat mesh without failover, so proxies keep sharing one translation.
 */
export function placementKey(snapshot: MeshSnapshot, proxy: Proxy): string {
  const u = placementUsage(snapshot);
  if (!u.networks && u.labels.length === 0) return "";
  const { network, labels } = ownLabels(snapshot, proxy);
  return `|place=${u.networks ? (network ?? "") : ""}|${u.labels.map((l) => labels[l] ?? "").join(",")}`;
}
