// Locality load balancing of a proxy's EDS, as istiod's ApplyLocalityLoadBalancer: the
// DestinationRule's `localityLbSetting`, else MeshConfig's (on by default), unless `enabled: false`.
//  - `distribute`: the first rule whose `from` matches the proxy's locality reweights localities
//    (applyLocalityWeights); localities it does not name get no endpoint. Needs no outlier detection.
//  - otherwise, only with outlier detection (a proxy without it never notices a dead endpoint, so
//    never fails over): `failoverPriority` labels give priorities by how early an endpoint stops
//    sharing the proxy's values (applyFailoverPriorities; `[topology.istio.io/cluster]` keeps a
//    proxy on its own cluster); without them, or with `failover` rules too, priorities follow the
//    locality: same subzone 0, zone 1, region 2, other regions 3, and 4 for a region other than the
//    `failover.to` of the proxy's region (applyLocalityFailover, stacked as priority*5 + that).
// The proxy's locality and labels come from what the control plane knows (placement.ts).
import type { MeshSnapshot, ServiceEndpoint } from "../model/snapshot.js";
import type { Proxy } from "../model/proxy.js";
import type { TrafficPolicy } from "../model/destination-rule.js";
import { placeProxy, proxyLocality } from "../model/placement.js";
import { CLUSTER_LABEL, NETWORK_LABEL } from "../model/networks.js";
import { lbPriority, localityLabels, localityMatch, localityString, parseLocality, type Locality, type LocalityDistribute, type LocalityLbSetting } from "../model/locality.js";
import { stableJson } from "../model/digest.js";

/** A locality group of an assignment, before reweighting: its locality and summed endpoint weight. */
export interface LocalityGroup {
  readonly locality: Locality;
  readonly weight: number;
}

export interface FailoverPlan {
  /** Each endpoint's priority (0 = closest); absent: all 0. Renumbered without gaps by the caller. */
  readonly priority?: (e: Pick<ServiceEndpoint, "labels" | "locality">) => number;
  /** `distribute`: each group's new weight, undefined where the group gets no endpoint. */
  readonly weights?: (groups: readonly LocalityGroup[]) => readonly (number | undefined)[];
  /** What the assignment depends on: the proxy's locality, its values of the labels, the setting. */
  readonly key: string;
}

/** The proxy's labels as the control plane knows them (its Pod's), with its locality, cluster and network (istiod's AugmentLabels). */
function ownLabels(snapshot: MeshSnapshot, proxy: Proxy): { readonly network?: string; readonly labels: Readonly<Record<string, string>> } {
  const placement = placeProxy(snapshot, proxy);
  const labels = {
    ...(placement.pod?.labels ?? proxy.labels),
    ...localityLabels(proxyLocality(snapshot, proxy)),
    [CLUSTER_LABEL]: placement.cluster,
    ...(placement.network !== undefined ? { [NETWORK_LABEL]: placement.network } : {}),
  };
  return { ...(placement.network !== undefined ? { network: placement.network } : {}), labels };
}

/** istiod's GetLocalityLbSetting: the DestinationRule's setting replaces the mesh's; `enabled: false` turns it off. */
export function localityLbSetting(snapshot: MeshSnapshot, policy: Omit<TrafficPolicy, "portLevelSettings">): LocalityLbSetting | undefined {
  const own = policy.loadBalancer?.localityLbSetting;
  if (own !== undefined) return own.enabled === false ? undefined : own;
  const mesh = snapshot.mesh.localityLbSetting;
  return mesh.enabled === false ? undefined : mesh;
}

/** applyLocalityWeights for the rule that matched: each `to` takes the groups it matches first, split by their weights. */
export function distributeWeights(groups: readonly LocalityGroup[], rule: LocalityDistribute): (number | undefined)[] {
  const out: (number | undefined)[] = groups.map((g) => g.weight);
  const unmatched = new Set(groups.keys());
  for (const [to, share] of rule.to) {
    const mine = [...unmatched].filter((i) => localityMatch(groups[i]!.locality, to));
    const total = mine.reduce((s, i) => s + groups[i]!.weight, 0);
    for (const i of mine) {
      unmatched.delete(i);
      const w = (groups[i]!.weight * share) / total;
      if (w > 0) out[i] = Math.ceil(w);
    }
  }
  for (const i of unmatched) out[i] = undefined;
  return out;
}

/** applyFailoverPriorityPerLocality: `label` or `label=value` (a fixed value instead of the proxy's). */
function failoverPriorityOf(entries: readonly string[], own: Readonly<Record<string, string>>): { priority: (e: Pick<ServiceEndpoint, "labels">) => number; values: (string | undefined)[] } {
  const labels = entries.map((x) => x.split("=")[0] ?? x);
  const values = entries.map((x, i) => (x.includes("=") ? x.slice(x.indexOf("=") + 1) : own[labels[i]!]));
  return {
    values,
    priority: (e) => {
      // istiod compares the proxy's value (absent = "") with the endpoint's (absent = "").
      const j = labels.findIndex((l, i) => (values[i] ?? "") !== (e.labels[l] ?? ""));
      return j < 0 ? 0 : labels.length - j;
    },
  };
}

/** The locality load balancing of a cluster's assignment for `proxy`, or undefined when none applies. */
export function failoverPlan(snapshot: MeshSnapshot, proxy: Proxy, policy: Omit<TrafficPolicy, "portLevelSettings">): FailoverPlan | undefined {
  const setting = localityLbSetting(snapshot, policy);
  if (setting === undefined) return undefined;
  const locality = proxyLocality(snapshot, proxy);
  const at = localityString(locality);
  if (setting.distribute.length > 0) {
    const index = setting.distribute.findIndex((d) => localityMatch(locality, d.from));
    if (index < 0) return undefined;
    const rule = setting.distribute[index]!;
    return { weights: (groups) => distributeWeights(groups, rule), key: `dist=${stableJson(rule)}` };
  }
  if (policy.outlierDetection === undefined) return undefined;
  const byRegion = (e: Pick<ServiceEndpoint, "locality">): number => {
    const l = parseLocality(e.locality);
    const p = lbPriority(locality, l);
    if (p !== 3) return p;
    const rule = setting.failover.find((f) => f.from === locality.region);
    return rule !== undefined && l.region !== rule.to ? 4 : 3;
  };
  const failover = setting.failover.length > 0 ? `|fo=${stableJson(setting.failover)}` : "";
  if (setting.failoverPriority.length === 0) return { priority: byRegion, key: `loc=${at}${failover}` };
  const fp = failoverPriorityOf(setting.failoverPriority, ownLabels(snapshot, proxy).labels);
  const key = `fp=${JSON.stringify([setting.failoverPriority, fp.values])}`;
  if (setting.failover.length === 0) return { priority: fp.priority, key };
  return { priority: (e) => fp.priority(e) * 5 + byRegion(e), key: `${key}|loc=${at}${failover}` };
}

/** Per snapshot: whether any endpoint is in a network or has a locality, and every label failover priorities read. */
interface PlacementUsage {
  readonly networks: boolean;
  readonly localities: boolean;
  readonly labels: readonly string[];
}

const usage = new WeakMap<MeshSnapshot, PlacementUsage>();

function placementUsage(snapshot: MeshSnapshot): PlacementUsage {
  let u = usage.get(snapshot);
  if (u === undefined) {
    const labels = new Set<string>();
    const settings = [snapshot.mesh.localityLbSetting];
    // Locality priorities need outlier detection somewhere; `distribute` weights need none.
    let outlier = false;
    for (const dr of snapshot.destinationRules) {
      const policies = [dr.spec.trafficPolicy, ...dr.spec.subsets.map((s) => s.trafficPolicy)];
      for (const tp of policies) {
        if (tp?.outlierDetection !== undefined) outlier = true;
        if (tp?.loadBalancer?.localityLbSetting !== undefined) settings.push(tp.loadBalancer.localityLbSetting);
        for (const pl of tp?.portLevelSettings ?? []) {
          if (pl.outlierDetection !== undefined) outlier = true;
          if (pl.loadBalancer?.localityLbSetting !== undefined) settings.push(pl.loadBalancer.localityLbSetting);
        }
      }
    }
    for (const s of settings) for (const l of s.failoverPriority) if (!l.includes("=")) labels.add(l);
    const endpoints = snapshot.services.flatMap((s) => s.endpoints);
    // A proxy's locality enters its key only where some plan can read it: on Kubernetes nearly every
    // endpoint has a locality, and without this every zone would translate its proxies apart.
    const ranked = outlier || settings.some((s) => s.distribute.length > 0);
    u = {
      networks: endpoints.some((e) => e.network !== undefined && e.network !== ""),
      localities: ranked && endpoints.some((e) => e.locality !== undefined && e.locality !== ""),
      labels: [...labels].sort(),
    };
    usage.set(snapshot, u);
  }
  return u;
}

/**
 * The part of a proxy's outbound key its place in the mesh decides: its network when endpoints are
 * in networks (split-horizon EDS), its locality when endpoints have localities (locality priorities
 * and weights), its values of the failover labels when a setting asks for failover priorities; ""
 * in a flat mesh without localities, so proxies keep sharing one translation.
 */
export function placementKey(snapshot: MeshSnapshot, proxy: Proxy): string {
  const u = placementUsage(snapshot);
  if (!u.networks && !u.localities && u.labels.length === 0) return "";
  const { network, labels } = ownLabels(snapshot, proxy);
  const locality = u.localities ? localityString(proxyLocality(snapshot, proxy)) : "";
  return `|place=${u.networks ? (network ?? "") : ""}|${locality}|${u.labels.map((l) => labels[l] ?? "").join(",")}`;
}
