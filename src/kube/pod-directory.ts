// Pods as the apiserver knows them, for the risk engine: where Kubernetes is the source, a pod's
// IP and node come from its Pod object (set by the kubelet), never from what its proxy says.
import type { MeshSnapshot } from "../model/snapshot.js";
import type { PodDirectory } from "../risk/agent-signals.js";

export function snapshotPodDirectory(snapshot: () => MeshSnapshot): PodDirectory {
  return {
    locate(pod) {
      const p = snapshot().pods.get(`${pod.namespace}/${pod.name}`);
      // A uid that differs is another pod of the same name (deleted and created again).
      if (p === undefined || (pod.uid !== "" && p.uid !== "" && pod.uid !== p.uid)) return undefined;
      return { ip: p.ips[0] ?? "", uid: p.uid, serviceAccount: p.serviceAccount, labels: p.labels, ...(p.node !== undefined ? { node: p.node } : {}) };
    },
    podsOfIdentity(id) {
      return [...snapshot().pods.values()].filter((p) => p.namespace === id.namespace && p.serviceAccount === id.serviceAccount && p.ips[0] !== undefined).map((p) => ({ ip: p.ips[0]! }));
    },
  };
}
