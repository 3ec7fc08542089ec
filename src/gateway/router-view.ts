// Who a router proxy is, as far as Gateway selection, authorization and credentials go: its Pod's
// labels when the registry knows the Pod (istiod's SetWorkloadLabels), its own node metadata
// LABELS only when it does not (a gateway outside Kubernetes). A workload cannot make itself an
// ingress gateway, and so receive that gateway's listeners and TLS credentials, by claiming labels.
// Sidecars are seen the same way (placement.ts workloadView).
export { workloadView as routerView } from "../model/placement.js";
