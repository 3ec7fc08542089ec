// The multi-cluster part of `meshward serve` on a cluster: remote clusters from the control plane's
// namespace's `istio/multiCluster` Secrets join the merge, and their workloads' service-account
// tokens are reviewed by their own apiservers. Kept apart from the composition root's file.
import type { KubernetesSource } from "../sources/kubernetes.js";
import type { ConfigMerge } from "../sources/merge.js";
import { TokenReviewAuthenticator } from "../security/tokenreview.js";
import { ClusterTokenReviewAuthenticator } from "./cluster-token-review.js";
import { RemoteClusters } from "./remote-clusters.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { remoteDecisions } from "./remote-issuance.js";
import type { Enforcement } from "../risk/quarantine.js";

/** How long start-up waits for remote clusters to list before serving (istiod's PILOT_REMOTE_CLUSTER_TIMEOUT default). */
export const REMOTE_SYNC_TIMEOUT_MS = 30_000;

export interface MulticlusterOptions {
  readonly kubernetes: KubernetesSource;
  readonly merge: ConfigMerge;
  /** Where the remote Secrets are (the control plane's namespace). */
  readonly namespace: string;
  readonly trustDomain: string;
  readonly log: (line: string) => void;
  readonly remoteStaleAfterMs?: number;
  readonly remoteProbeIntervalMs?: number;
}

export interface Multicluster {
  readonly remotes: RemoteClusters;
  readonly tokenReview: ClusterTokenReviewAuthenticator;
  /** The control plane's own cluster id. */
  readonly localCluster: string;
}

/**
 * Quarantine everywhere, in the audit trail: a decision made in another cluster (its
 * WorkloadEnforcement, read through the remote Secret) is recorded once in this control plane's
 * trail as `observed`, naming the deciding cluster and the pod's, when this control plane starts
 * enforcing it for its proxies.
 */
export class RemoteEnforcementObserver {
  private readonly seen = new Set<string>();

  constructor(
    private readonly localCluster: string,
    private readonly record: (e: Enforcement, reason: string) => void,
  ) {}

  observe(snapshot: MeshSnapshot): void {
    for (const { cluster, enforcement: e } of remoteDecisions(snapshot, this.localCluster)) {
      const key = `${cluster}/${e.id}`;
      if (this.seen.has(key)) continue;
      if (this.seen.size >= 10_000) this.seen.clear();
      this.seen.add(key);
      this.record(e, `decided in cluster ${cluster}; enforced for the proxies of cluster ${this.localCluster}`);
    }
  }
}

export async function startMulticluster(o: MulticlusterOptions): Promise<Multicluster> {
  const local = new TokenReviewAuthenticator({ client: o.kubernetes.client, clusterId: o.kubernetes.clusterId, trustDomain: o.trustDomain });
  const tokenReview = new ClusterTokenReviewAuthenticator(local, o.kubernetes.clusterId, { trustDomain: o.trustDomain });
  const remotes = new RemoteClusters({
    client: o.kubernetes.client,
    namespace: o.namespace,
    localClusterId: o.kubernetes.clusterId,
    merge: o.merge,
    log: o.log,
    onClient: (id, client) => tokenReview.setCluster(id, client),
    ...(o.remoteStaleAfterMs !== undefined ? { staleAfterMs: o.remoteStaleAfterMs } : {}),
    ...(o.remoteProbeIntervalMs !== undefined ? { probeIntervalMs: o.remoteProbeIntervalMs } : {}),
  });
  try {
    await remotes.start();
    // As istiod: proxies are served once the remote clusters have listed, or after a bounded wait.
    await remotes.waitForSync(REMOTE_SYNC_TIMEOUT_MS);
  } catch (e) {
    remotes.stop();
    throw e;
  }
  o.merge.flush();
  return { remotes, tokenReview, localCluster: o.kubernetes.clusterId };
}
