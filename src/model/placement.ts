// Where a proxy is in a multi-cluster mesh: its cluster and its network. What the control plane
// knows wins over what the proxy says: a proxy whose Pod (namespace, name and one of its IPs) is in
// a cluster the mesh reads is in that cluster and that pod's network, whatever its CLUSTER_ID and
// NETWORK metadata claim; only a proxy the registry does not know (a VM, a workload outside
// Kubernetes) is placed by its metadata, then by MeshConfig meshNetworks.
import type { MeshSnapshot } from "./snapshot.js";
import type { Proxy } from "./proxy.js";
import type { KubePod } from "./kube-services.js";
import { meshNetworkOf } from "./networks.js";

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
