// Node agents authenticate like workloads (a meshward/Kubernetes token or a certificate from the
// CA) as service account `node-<name>` in namespace `meshward-system`; that identity is the node
// they may report for. Mint a node token with
//   meshward token create --namespace meshward-system --service-account node-<name> --audience meshward-signals
import type { WorkloadIdentity } from "../security/identity.js";

export const NODE_NAMESPACE = "meshward-system";
/** Audience of tokens for the signal API (a CA token, audience istio-ca, is not accepted here). */
export const SIGNALS_AUDIENCE = "meshward-signals";

export function nodeServiceAccount(node: string): string {
  return `node-${node}`;
}

/** The node an identity stands for, or undefined when it is not a node identity. */
export function nodeOfIdentity(id: WorkloadIdentity): string | undefined {
  if (id.namespace !== NODE_NAMESPACE || !id.serviceAccount.startsWith("node-")) return undefined;
  const node = id.serviceAccount.slice("node-".length);
  return node === "" ? undefined : node;
}
