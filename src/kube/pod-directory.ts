// Pods as the apiserver knows them, for the risk engine: where Kubernetes is the source, a pod's
// IP, node and service account come from its Pod object (set by the kubelet), never from what its
// proxy says.
import type { MeshSnapshot } from "../model/snapshot.js";
import type { PodDirectory } from "../risk/agent-signals.js";
import type { PodPlacement } from "../ca/node-impersonation.js";

export function snapshotPodDirectory(snapshot: () => MeshSnapshot): PodDirectory {
  return {
    locate(pod) {
      const p = snapshot().pods.get(`${pod.namespace}/${pod.name}`);
      // A uid that differs is another pod of the same name (deleted and created again).
      if (p === undefined || (pod.uid !== "" && p.uid !== "" && pod.uid !== p.uid)) return undefined;
      return { ip: p.ips[0] ?? "", serviceAccount: p.serviceAccount, ...(p.node !== undefined ? { node: p.node } : {}), ...(p.cluster !== "" ? { cluster: p.cluster } : {}) };
    },
    podsOfIdentity(id) {
      const out: { ip: string }[] = [];
      for (const p of snapshot().pods.values()) {
        if (p.namespace === id.namespace && p.serviceAccount === id.serviceAccount) for (const ip of p.ips) out.push({ ip });
      }
      return out;
    },
  };
}

/**
 * Where pods run, for node-scoped issuance, as the apiserver says: a Pod's spec.nodeName (set by the
 * scheduler), never a proxy's NODE_NAME. A pod the Kubernetes source has not seen is on no node.
 */
export function snapshotPodPlacement(snapshot: () => MeshSnapshot): PodPlacement {
  return {
    source: "Kubernetes Pods' spec.nodeName",
    *podsOnNode(node: string) {
      for (const p of snapshot().pods.values()) {
        if (p.node !== node) continue;
        yield { namespace: p.namespace, name: p.name, serviceAccount: p.serviceAccount, node, uid: p.uid, ...(p.ips[0] !== undefined ? { ip: p.ips[0] } : {}) };
      }
    },
  };
}
