// Where a proxy is in a multi-cluster mesh: its cluster and its network. What the control plane
// knows wins over what the proxy says: a proxy whose Pod (namespace, name and one of its IPs) is in
// a cluster the mesh reads is in that cluster and that pod's network, whatever its CLUSTER_ID and
// NETWORK metadata claim; only a proxy the registry does not know (a VM, a workload outside
// Kubernetes) is placed by its metadata, then by MeshConfig meshNetworks. Its locality the same
// way: the registry's first, its node's `locality` last. And its labels: its Pod's when the registry
// knows the Pod (istiod's SetWorkloadLabels), its node metadata LABELS only when it does not.
import type { MeshSnapshot } from "./snapshot.js";
import type { Proxy } from "./proxy.js";
import type { KubePod } from "./kube-services.js";
import { meshNetworkOf } from "./networks.js";
import { localityFromLabels, parseLocality, type Locality } from "./locality.js";

export interface ProxyPlacement {
  readonly cluster: string;
  /** Absent in a flat mesh. */
  readonly network?: string;
  /** Its Pod, when the registry knows it. */
  readonly pod?: KubePod;
  /** `registry` when the Pod placed it, `metadata` when its own word did. */
  readonly by: "registry" | "metadata";
}

/** Every cluster's pods by `namespace/name`, once per snapshot. */
const podIndex = new WeakMap<MeshSnapshot, Map<string, KubePod[]>>();

function podsNamed(snapshot: MeshSnapshot, namespace: string, name: string): readonly KubePod[] {
  let index = podIndex.get(snapshot);
  if (index === undefined) {
    index = new Map();
    for (const p of snapshot.allPods) {
      const key = `${p.namespace}/${p.name}`;
      const list = index.get(key);
      if (list) list.push(p);
      else index.set(key, [p]);
    }
    podIndex.set(snapshot, index);
  }
  return index.get(`${namespace}/${name}`) ?? [];
}

export function placeProxy(snapshot: MeshSnapshot, proxy: Pick<Proxy, "namespace" | "podName" | "ips" | "clusterId" | "metadata">): ProxyPlacement {
  const pod = podsNamed(snapshot, proxy.namespace, proxy.podName).find((p) => p.ips.some((ip) => proxy.ips.includes(ip)));
  if (pod !== undefined) return { cluster: pod.cluster, ...(pod.network !== undefined ? { network: pod.network } : {}), pod, by: "registry" };
  const claimed = proxy.metadata["NETWORK"];
  const network = typeof claimed === "string" && claimed !== "" ? claimed : meshNetworkOf(snapshot.mesh.meshNetworks, proxy.clusterId, proxy.ips[0]);
  return { cluster: proxy.clusterId, ...(network !== undefined ? { network } : {}), by: "metadata" };
}

/** WorkloadEntries by `namespace|address`, once per snapshot. */
const entryIndex = new WeakMap<MeshSnapshot, Map<string, string>>();

function workloadEntryLocality(snapshot: MeshSnapshot, namespace: string, ips: readonly string[]): string | undefined {
  let index = entryIndex.get(snapshot);
  if (index === undefined) {
    index = new Map();
    for (const w of snapshot.workloads) if (w.spec.locality !== undefined && w.spec.locality !== "") index.set(`${w.namespace}|${w.spec.address}`, w.spec.locality);
    entryIndex.set(snapshot, index);
  }
  for (const ip of ips) {
    const l = index.get(`${namespace}|${ip}`);
    if (l !== undefined) return l;
  }
  return undefined;
}

/**
 * A proxy's locality as istiod finds it (setTopologyLabels): what the registry knows first (its
 * Pod's `istio-locality` label or its Node's topology labels; the WorkloadEntry in its namespace at
 * one of its addresses), then topology labels on its workload, and only then the `locality` its own
 * xDS node claims.
 */
export function proxyLocality(snapshot: MeshSnapshot, proxy: Pick<Proxy, "namespace" | "podName" | "ips" | "clusterId" | "metadata" | "labels" | "nodeLocality">): Locality {
  const placement = placeProxy(snapshot, proxy);
  const known = placement.pod !== undefined ? placement.pod.locality : workloadEntryLocality(snapshot, proxy.namespace, proxy.ips);
  if (known !== undefined && known !== "") return parseLocality(known);
  return localityFromLabels(placement.pod?.labels ?? proxy.labels) ?? parseLocality(proxy.nodeLocality);
}

/** Per proxy (and per view, mapping to itself): the view for the latest snapshot asked about. */
const views = new WeakMap<Proxy, { readonly snapshot: MeshSnapshot; readonly view: Proxy }>();

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/**
 * The proxy as translation must see it: with its Pod's labels when the registry knows its Pod, so
 * that which policies, Sidecars, Gateways and VirtualService sourceLabels apply to a workload is
 * decided by what the control plane knows, never by the LABELS the proxy sends (a workload cannot
 * claim a gateway's labels to get its listeners and credentials, nor step out from under a
 * policy selecting it). A proxy the registry does not know (a VM, a gateway outside Kubernetes) is
 * seen as it says. The same object comes back while the labels stay the same, across snapshots.
 */
export function workloadView(snapshot: MeshSnapshot, proxy: Proxy): Proxy {
  const memo = views.get(proxy);
  if (memo !== undefined && memo.snapshot === snapshot) return memo.view;
  const pod = placeProxy(snapshot, proxy).pod;
  let view = proxy;
  if (pod !== undefined && !sameLabels(pod.labels, proxy.labels)) {
    view = memo !== undefined && memo.view !== proxy && sameLabels(memo.view.labels, pod.labels) ? memo.view : { ...proxy, labels: pod.labels };
  }
  views.set(proxy, { snapshot, view });
  if (view !== proxy) views.set(view, { snapshot, view });
  return view;
}
