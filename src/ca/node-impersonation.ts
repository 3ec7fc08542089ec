// Node-scoped issuance, Istio's protocol as ztunnel uses it: a node agent, authenticated as its
// node, asks for a pod's certificate with `ImpersonatedIdentity` (the pod's SPIFFE ID) in the CSR
// request metadata. istiod grants that only to callers listed in CA_TRUSTED_NODE_ACCOUNTS and only
// for an identity with a pod on the caller's node (pilot/pkg/.../node_auth.go); meshward does the
// same, and its agents also name the pod (`ImpersonatedPod: <namespace>/<name>`) so that a pod-scoped
// quarantine refuses exactly that pod. Where pods run comes from one interface (`PodPlacement`):
// Kubernetes Pods' spec.nodeName where Kubernetes is the source (src/kube/pod-directory.ts), the
// connected, authenticated proxies' NODE_NAME without it.
import type { Proxy } from "../model/proxy.js";
import { parseSpiffeId } from "../security/certificate-authenticator.js";
import { spiffeId, type WorkloadIdentity } from "../security/identity.js";
import { nodeOfIdentity } from "../signals/node-identity.js";

/** Istio's request metadata key for a node agent asking on behalf of a workload (a SPIFFE ID). */
export const IMPERSONATED_IDENTITY = "ImpersonatedIdentity";
/** meshward's addition: which pod (`<namespace>/<name>`) the node agent asks for. */
export const IMPERSONATED_POD = "ImpersonatedPod";

/** Who may impersonate when nothing is configured: every meshward node identity (`meshward-system/node-<name>`). */
export const DEFAULT_TRUSTED_NODE_ACCOUNTS = "meshward-system/node-*";
/** istiod's environment variable, read by `meshward serve` when its flag is not given. */
export const TRUSTED_NODE_ACCOUNTS_ENV = "CA_TRUSTED_NODE_ACCOUNTS";

/** A pod as the control plane knows it: where it is scheduled and as whom it runs. */
export interface ScheduledPod {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  readonly node: string;
  readonly uid?: string;
  readonly ip?: string;
}

/** Where pods are scheduled right now. On Kubernetes: snapshotPodPlacement (spec.nodeName). */
export interface PodPlacement {
  /** Says where the answer comes from, for refusal messages. */
  readonly source: string;
  podsOnNode(node: string): Iterable<ScheduledPod>;
}

/** A fixed list (tests, and nodes described by hand). */
export function staticPodPlacement(pods: readonly ScheduledPod[], source = "static pod list"): PodPlacement {
  return { source, podsOnNode: (node) => pods.filter((p) => p.node === node) };
}

/**
 * Pods as their connected proxies announce them (without a Kubernetes source): the pod of each
 * authenticated xDS stream, on the node its NODE_NAME metadata (Istio's agent sets it from the
 * downward API) names. A proxy that is not connected is not "scheduled right now", and one that did
 * not authenticate as the identity it claims (a credential-less loopback stream) places nothing.
 * What remains trusted is an authenticated workload's word on its node: it can lend its own
 * identity to another node's agent, which it could hand over anyway. On Kubernetes the Pods decide.
 */
export function proxyPodPlacement(proxies: () => Iterable<Proxy>, authenticatedAs: (p: Proxy) => WorkloadIdentity | undefined): PodPlacement {
  return {
    source: "authenticated proxies' NODE_NAME",
    *podsOnNode(node: string) {
      for (const p of proxies()) {
        if (p.metadata["NODE_NAME"] !== node) continue;
        const id = authenticatedAs(p);
        if (id === undefined || id.namespace !== p.namespace || id.serviceAccount !== p.serviceAccount) continue;
        yield { namespace: p.namespace, name: p.podName, serviceAccount: p.serviceAccount, node, ...(p.ips[0] ? { ip: p.ips[0] } : {}) };
      }
    },
  };
}

/** `ns/sa` entries; `*` at the end of the service account matches any suffix (`meshward-system/node-*`). */
export class TrustedNodeAccounts {
  private constructor(readonly entries: readonly { readonly namespace: string; readonly serviceAccount: string }[]) {}

  /** Parses a comma-separated list; throws naming the bad entry and where it came from. */
  static parse(list: string, from: string): TrustedNodeAccounts {
    const entries = list
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "")
      .map((entry) => {
        const m = /^([a-z0-9][-a-z0-9.]*)\/([a-z0-9][-a-z0-9.]*\*?|\*)$/.exec(entry);
        if (m === null) throw new Error(`${from}: "${entry}" is not <namespace>/<service-account>`);
        return { namespace: m[1], serviceAccount: m[2] };
      });
    return new TrustedNodeAccounts(entries);
  }

  allows(id: WorkloadIdentity): boolean {
    return this.entries.some(
      (e) =>
        e.namespace === id.namespace &&
        (e.serviceAccount.endsWith("*") ? id.serviceAccount.startsWith(e.serviceAccount.slice(0, -1)) : e.serviceAccount === id.serviceAccount),
    );
  }

  toString(): string {
    return this.entries.map((e) => `${e.namespace}/${e.serviceAccount}`).join(",") || "(none)";
  }
}

export interface NodeImpersonation {
  readonly trusted: TrustedNodeAccounts;
  readonly placement: PodPlacement;
}

export type ImpersonationDecision =
  | { readonly ok: true; readonly identity: WorkloadIdentity; readonly node: string; readonly pods: readonly ScheduledPod[] }
  | { readonly ok: false; readonly reason: string };

/**
 * Whether `caller` may have a certificate for `requested` (and, when named, `pod`). The pods
 * returned are the ones the certificate is for: the CA's policy refuses if any is quarantined.
 */
export function authorizeImpersonation(
  config: NodeImpersonation | undefined,
  caller: WorkloadIdentity,
  requested: string,
  pod: string | undefined,
): ImpersonationDecision {
  const who = spiffeId(caller);
  if (config === undefined || !config.trusted.allows(caller)) {
    const list = config === undefined ? "(none)" : config.trusted.toString();
    return { ok: false, reason: `${who} may not request a certificate for ${requested}: not a trusted node account (trusted: ${list})` };
  }
  const node = nodeOfIdentity(caller);
  if (node === undefined) return { ok: false, reason: `${who} is a trusted node account but names no node (want meshward-system/node-<name>)` };
  const identity = parseSpiffeId(requested);
  if (identity === undefined) return { ok: false, reason: `${IMPERSONATED_IDENTITY} "${requested}" is not a spiffe://<td>/ns/<ns>/sa/<sa> ID` };
  if (identity.trustDomain !== caller.trustDomain) {
    return { ok: false, reason: `${IMPERSONATED_IDENTITY} ${requested} is not in trust domain ${caller.trustDomain}` };
  }
  let wanted: { namespace: string; name: string } | undefined;
  if (pod !== undefined) {
    const [namespace, name, extra] = pod.split("/");
    if (!namespace || !name || extra !== undefined) return { ok: false, reason: `${IMPERSONATED_POD} "${pod}" is not <namespace>/<name>` };
    wanted = { namespace, name };
  }
  const pods = [...config.placement.podsOnNode(node)].filter(
    (p) =>
      p.namespace === identity.namespace &&
      p.serviceAccount === identity.serviceAccount &&
      (wanted === undefined || (p.namespace === wanted.namespace && p.name === wanted.name)),
  );
  if (pods.length === 0) {
    const what = wanted === undefined ? `no pod of ${requested}` : `pod ${pod} with identity ${requested}`;
    return { ok: false, reason: `${who} may not request a certificate for ${requested}: ${what} is scheduled on node "${node}" (${config.placement.source})` };
  }
  return { ok: true, identity, node, pods };
}
