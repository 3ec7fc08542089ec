// Pods as the apiserver knows them, for the risk stage: on Kubernetes a pod's IP, node, uid,
// service account and labels come from the Pod object, never from what its proxy or the node agent
// says about itself, and its spec's security posture (privileged, host namespaces, hostPath, added
// capabilities, root, privilege escalation) is its static risk. A deleted Pod ends its pod-scoped
// enforcement (its IP will be reused) and its score.
import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import type { PodDirectory, PodLocation } from "../risk/agent-signals.js";
import type { KubePodSpec } from "../risk/scoring.js";
import type { SignalPodRef } from "../signals/service.js";
import type { WorkloadIdentity } from "../security/identity.js";
import { PodResource } from "./resources.js";
import { Watched } from "./watched.js";

/** What the risk stage is told about pods. */
export interface PodRiskSink {
  setPodSpec(podUid: string, spec: KubePodSpec): void;
  podDeleted(podUid: string): void;
}

export function podLocationOf(pod: V1Pod): PodLocation | undefined {
  const ip = pod.status?.podIP ?? pod.status?.podIPs?.[0]?.ip ?? "";
  const uid = pod.metadata?.uid;
  if (uid === undefined) return undefined;
  return {
    ip,
    uid,
    serviceAccount: pod.spec?.serviceAccountName || "default",
    labels: { ...(pod.metadata?.labels ?? {}) },
    ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
  };
}

export class KubePodDirectory implements PodDirectory {
  private readonly watch: Watched<V1Pod>;

  /** `cluster`: the cluster id these Pods are in, for the audit trail. */
  constructor(kubeConfig: KubeConfig, sink: () => PodRiskSink | undefined, log: (line: string) => void, private readonly cluster?: string) {
    const onPod = (p: V1Pod): void => {
      const uid = p.metadata?.uid;
      if (uid !== undefined && p.spec !== undefined) sink()?.setPodSpec(uid, p.spec as KubePodSpec);
    };
    const onDelete = (p: V1Pod): void => {
      if (p.metadata?.uid !== undefined) sink()?.podDeleted(p.metadata.uid);
    };
    this.watch = new Watched<V1Pod>(kubeConfig, PodResource, { add: onPod, update: onPod, delete: onDelete }, { log });
  }

  /**
   * The Pod the agent names (namespace and name), with the apiserver's facts. A uid that differs
   * from the agent's means the name now belongs to another pod: unknown, rather than the wrong one.
   */
  locate(pod: SignalPodRef): PodLocation | undefined {
    const p = this.watch.get(pod.name, pod.namespace);
    if (p === undefined) return undefined;
    const loc = podLocationOf(p);
    if (loc === undefined || (pod.uid !== "" && pod.uid !== loc.uid)) return undefined;
    return this.cluster !== undefined ? { ...loc, cluster: this.cluster } : loc;
  }

  /** Every Pod of the identity that has an IP (identity-scoped enforcement covers them all). */
  podsOfIdentity(id: WorkloadIdentity): readonly { readonly ip: string }[] {
    const out: { ip: string }[] = [];
    for (const p of this.watch.list()) {
      const loc = p.metadata?.namespace === id.namespace ? podLocationOf(p) : undefined;
      if (loc !== undefined && loc.ip !== "" && loc.serviceAccount === id.serviceAccount) out.push({ ip: loc.ip });
    }
    return out;
  }

  start(): Promise<void> {
    return this.watch.start();
  }

  stop(): void {
    this.watch.stop();
  }
}
