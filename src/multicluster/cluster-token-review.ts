// Service-account tokens of every cluster of the mesh: a workload in a remote cluster (primary-
// remote) presents its own cluster's token and names its cluster in the `clusterid` call metadata,
// as Istio's proxies do; the token is reviewed by that cluster's apiserver (with the remote
// Secret's credentials), never by another's. A cluster that is not part of the mesh authenticates nobody.
import type { AuthnResult, Authenticator, CallerContext } from "../security/identity.js";
import { TokenReviewAuthenticator, type TokenReviewOptions } from "../security/tokenreview.js";
import type { KubeClient } from "../kube/client.js";

export class ClusterTokenReviewAuthenticator implements Authenticator {
  readonly name = "kubernetes-tokenreview";
  private readonly remotes = new Map<string, TokenReviewAuthenticator>();

  /** `local` reviews tokens of the control plane's own cluster (calls naming no cluster too). */
  constructor(
    private readonly local: TokenReviewAuthenticator,
    private readonly localClusterId: string,
    private readonly remoteOptions: Omit<TokenReviewOptions, "client" | "clusterId">,
  ) {}

  /** A remote cluster's apiserver to review its tokens; undefined: the cluster left the mesh. */
  setCluster(clusterId: string, client: KubeClient | undefined): void {
    if (client === undefined) this.remotes.delete(clusterId);
    else this.remotes.set(clusterId, new TokenReviewAuthenticator({ ...this.remoteOptions, client, clusterId }));
  }

  authenticate(ctx: CallerContext): Promise<AuthnResult> {
    const cluster = ctx.metadata.get("clusterid")[0]?.toString() ?? "";
    if (cluster === "" || cluster === this.localClusterId) return this.local.authenticate(ctx);
    // An unknown cluster: the local reviewer refuses it by name (and skips meshward's own tokens).
    return (this.remotes.get(cluster) ?? this.local).authenticate(ctx);
  }
}
