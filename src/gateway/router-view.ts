// Who a router proxy is, as far as Gateway selection, authorization and credentials go: its Pod's
// labels when the registry knows the Pod (istiod's SetWorkloadLabels), its own node metadata
// LABELS only when it does not (a gateway outside Kubernetes). A workload cannot make itself an
// ingress gateway, and so receive that gateway's listeners and TLS credentials, by claiming labels.
import type { Proxy } from "../model/proxy.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { placeProxy } from "../model/placement.js";

/** The proxy with the labels the control plane knows for it. */
export function routerView(snapshot: MeshSnapshot, proxy: Proxy): Proxy {
  const pod = placeProxy(snapshot, proxy).pod;
  return pod === undefined ? proxy : { ...proxy, labels: pod.labels };
}
