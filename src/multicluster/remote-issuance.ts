// The CA half of "quarantine everywhere" (issue 12): a quarantine or revoke decided in another
// cluster (its WorkloadEnforcement, read through the remote Secret) stops this control plane's CA
// from issuing to what it names, on the CSR API and SDS over ADS alike, and withdraws the SDS
// secrets already pushed; when the object goes (released or expired there) issuance resumes.
// The caller is matched by what this control plane knows of it, never by what it says: the
// cluster whose apiserver reviewed its token, its peer address, the pod its xDS stream was admitted as.
//   pod scope       refused to that pod of the deciding cluster. A caller proven to be in another
//                   cluster is not that pod (pod IPs and names repeat across clusters); a caller
//                   whose cluster nobody vouched for (a client certificate, a meshward token) is
//                   matched by address, name and uid alone: fail closed.
//   identity scope  a SPIFFE identity is mesh-wide (one trust domain, namespace sameness): refused
//                   to every pod of it in every cluster, this cluster's own pods included.
import type { IssuanceDecision, IssuancePolicy } from "../ca/authority.js";
import type { ScheduledPod } from "../ca/node-impersonation.js";
import { enforcementOf } from "../kube/enforcement-store.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { WORKLOAD_ENFORCEMENT_KIND, type WorkloadEnforcementSpec } from "../model/workload-enforcement.js";
import type { Proxy } from "../model/proxy.js";
import { peerIp } from "../risk/proxy-pods.js";
import { blocksIssuance, withheldReason, type Enforcement } from "../risk/quarantine.js";
import type { WithdrawableSecrets } from "../risk/wiring.js";
import type { CallerContext, WorkloadIdentity } from "../security/identity.js";

/** A risk-stage decision of another cluster, as this control plane reads it. */
export interface RemoteDecision {
  /** The cluster whose WorkloadEnforcement carries it (the one that decided). */
  readonly cluster: string;
  readonly enforcement: Enforcement;
}

/** What the control plane knows of a caller (or of a pod a node agent asks for). */
export interface KnownCaller {
  /** Proven by a TokenReview of that cluster's apiserver; undefined when nobody vouched. */
  readonly cluster?: string;
  readonly ips: readonly string[];
  readonly pod?: { readonly namespace: string; readonly name: string; readonly uid?: string };
}

/** Refused audit rows remembered (deduplicated) before the memory is cleared. */
const MAX_REFUSALS_REMEMBERED = 10_000;

/** The quarantines and revokes of every other cluster in a snapshot, as risk-stage decisions. */
export function remoteDecisions(snapshot: Pick<MeshSnapshot, "others">, localCluster: string): RemoteDecision[] {
  const out: RemoteDecision[] = [];
  for (const a of snapshot.others.get(WORKLOAD_ENFORCEMENT_KIND) ?? []) {
    const { origin, metadata } = a.object;
    const cluster = origin.cluster;
    if (origin.source !== "kubernetes" || cluster === undefined || cluster === localCluster) continue;
    const e = enforcementOf({ metadata: { name: metadata.name, namespace: metadata.namespace }, spec: a.spec as WorkloadEnforcementSpec });
    // Not a risk-stage decision: it still routes (EDS), but names nothing the CA could refuse.
    if (typeof e === "string") continue;
    out.push({ cluster, enforcement: { ...e, pod: { ...e.pod, cluster: e.pod.cluster ?? cluster } } });
  }
  return out;
}

/** Whether a decision of another cluster refuses this caller (see the file's comment). */
export function remoteDecisionBlocks(d: RemoteDecision, identity: WorkloadIdentity, caller: KnownCaller): boolean {
  if (d.enforcement.scope !== "identity" && caller.cluster !== undefined && caller.cluster !== d.cluster) return false;
  return blocksIssuance(d.enforcement, identity, caller.ips, caller.pod);
}

export interface RemoteIssuanceOptions {
  /** This control plane's cluster: its own WorkloadEnforcements are the risk stage's business. */
  readonly localCluster: string;
  /** Records a refusal in the audit trail (once per decision and caller). */
  readonly recordRefusal?: (e: Enforcement, reason: string) => void;
  readonly now?: () => number;
}

export class RemoteIssuanceGuard {
  private decisions: RemoteDecision[] = [];
  private keys = new Set<string>();
  private secrets: { readonly secrets: WithdrawableSecrets; readonly callerOf: (proxy: Proxy) => CallerContext | undefined } | undefined;
  private readonly refusals = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly opts: RemoteIssuanceOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** SDS secrets to withdraw on a new decision; `callerOf` gives each stream's admitted caller. */
  attachSecrets(secrets: WithdrawableSecrets, callerOf: (proxy: Proxy) => CallerContext | undefined): void {
    this.secrets = { secrets, callerOf };
  }

  /** Takes the decisions of a served snapshot: withdraws what a new one blocks, re-asks after an end. */
  update(snapshot: Pick<MeshSnapshot, "others">): void {
    const next = remoteDecisions(snapshot, this.opts.localCluster).filter((d) => d.enforcement.action === "quarantine" || d.enforcement.action === "revoke");
    const keys = new Set(next.map((d) => `${d.cluster}/${d.enforcement.id}/${JSON.stringify(d.enforcement)}`));
    const added = [...keys].some((k) => !this.keys.has(k));
    const ended = [...this.keys].some((k) => !keys.has(k));
    this.decisions = next;
    this.keys = keys;
    const s = this.secrets;
    if (s === undefined) return;
    if (added) {
      s.secrets.revoke((identity, proxy) => {
        const caller = s.callerOf(proxy);
        const known: KnownCaller = { ips: proxy.ips, pod: { namespace: proxy.namespace, name: proxy.podName }, ...(caller?.cluster !== undefined ? { cluster: caller.cluster } : {}) };
        return this.blocking(identity, known).length > 0;
      });
    }
    if (ended) s.secrets.reconsider();
  }

  /**
   * For this cluster's node agents (the withheld list): the identity quarantines and revokes of
   * other clusters in force, which cover this cluster's pods of the identity. Another cluster's
   * pod-scoped decisions are left out: that pod runs on no node of this cluster, and a pod here may
   * share its namespace and name.
   */
  identityWide(): Enforcement[] {
    const now = this.now();
    return this.decisions.filter((d) => d.enforcement.scope === "identity" && (d.enforcement.expiresAtMs === undefined || d.enforcement.expiresAtMs > now)).map((d) => d.enforcement);
  }

  /** The decisions in force that refuse this caller. */
  blocking(identity: WorkloadIdentity, caller: KnownCaller): RemoteDecision[] {
    const now = this.now();
    return this.decisions.filter((d) => (d.enforcement.expiresAtMs === undefined || d.enforcement.expiresAtMs > now) && remoteDecisionBlocks(d, identity, caller));
  }

  /**
   * The CA's policy for other clusters' decisions: the caller's own pod (its peer IP, the pod its
   * xDS stream announced, in the cluster that vouched for it) or, for a node agent's request, any
   * of the pods it asks for (in the agent's cluster).
   */
  readonly policy: IssuancePolicy = (identity, caller, pods): IssuanceDecision => {
    const cluster = caller?.cluster !== undefined ? { cluster: caller.cluster } : {};
    const asked: KnownCaller[] =
      pods === undefined
        ? [{ ...cluster, ips: [caller ? peerIp(caller.peer) : undefined, ...(caller?.pod?.ips ?? [])].filter((ip): ip is string => ip !== undefined), ...(caller?.pod ? { pod: caller.pod } : {}) }]
        : pods.map((p: ScheduledPod) => ({ ...cluster, ips: p.ip !== undefined ? [p.ip] : [], pod: p }));
    const blocking = [...new Set(asked.flatMap((k) => this.blocking(identity, k)))];
    if (blocking.length === 0) return { allowed: true };
    for (const k of asked) this.recordRefusal(identity, k, blocking);
    return { allowed: false, reason: withheldReason(blocking.map((d) => ({ e: d.enforcement, cluster: d.cluster }))) };
  };

  private recordRefusal(identity: WorkloadIdentity, caller: KnownCaller, blocking: readonly RemoteDecision[]): void {
    if (this.opts.recordRefusal === undefined) return;
    const who = caller.pod !== undefined ? `pod ${caller.pod.namespace}/${caller.pod.name}` : `pod at ${caller.ips.join(", ") || "an unknown address"}`;
    for (const d of blocking) {
      const key = `${d.cluster}/${d.enforcement.id}|${caller.cluster ?? ""}|${who}`;
      if (this.refusals.has(key)) continue;
      if (this.refusals.size >= MAX_REFUSALS_REMEMBERED) this.refusals.clear();
      this.refusals.add(key);
      const from = caller.cluster !== undefined ? `of cluster ${caller.cluster}` : "(no cluster vouched for the caller)";
      this.opts.recordRefusal(d.enforcement, `certificate for ${identity.namespace}/${identity.serviceAccount} refused to ${who} ${from}: ${d.enforcement.action} decided in cluster ${d.cluster}; refused by the CA of cluster ${this.opts.localCluster}`);
    }
  }
}

/** Both policies must allow; the first refusal's reason is given. */
export function allOfPolicies(...policies: readonly IssuancePolicy[]): IssuancePolicy {
  return async (identity, caller, pods) => {
    for (const p of policies) {
      const d = await p(identity, caller, pods);
      if (!d.allowed) return d;
    }
    return { allowed: true };
  };
}
