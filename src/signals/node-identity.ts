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

/** The node agent DaemonSet's ServiceAccount (in the control plane's namespace). */
export const AGENT_SERVICE_ACCOUNT = "meshward-agent";
/** What a TokenReview of a pod-bound token says about the node the pod runs on. */
export const NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";

/**
 * A Kubernetes token reviewed for the signals audience, as the node identity the signal service
 * uses: only the agent DaemonSet's ServiceAccount, and only with the node name the apiserver put in
 * the review (from the pod the token is bound to, which the apiserver knows, so an agent cannot
 * name another node). Any other account, or a token not bound to a pod on a node, is refused: a
 * string says why.
 */
export function nodeIdentityOfAgentToken(
  reviewed: WorkloadIdentity,
  extra: Readonly<Record<string, readonly string[]>>,
  agentNamespace: string,
): WorkloadIdentity | string {
  if (reviewed.namespace !== agentNamespace || reviewed.serviceAccount !== AGENT_SERVICE_ACCOUNT) {
    return `${reviewed.namespace}/${reviewed.serviceAccount} is not the node agent's ServiceAccount (${agentNamespace}/${AGENT_SERVICE_ACCOUNT})`;
  }
  const nodes = extra[NODE_NAME_EXTRA] ?? [];
  if (nodes.length !== 1 || nodes[0] === "") return `the token is not bound to a pod on a node (no ${NODE_NAME_EXTRA} in its review)`;
  return { trustDomain: reviewed.trustDomain, namespace: NODE_NAMESPACE, serviceAccount: nodeServiceAccount(nodes[0]!) };
}
