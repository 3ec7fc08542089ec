// Remote clusters, as istiod's multicluster controller runs them: the control plane's own cluster
// is watched for remote Secrets (remote-secret.ts), and every cluster they name becomes one more
// Kubernetes source in the merge (its service registry and its quarantines), added, replaced and
// removed as the Secrets are, without a restart:
//  - a new kubeconfig for a cluster starts a new source; the old one serves until the new one has
//    listed everything (a bad new kubeconfig never takes the cluster's endpoints away);
//  - a Secret (or key) deleted removes the source and withdraws its objects at once;
//  - a cluster that cannot be reached keeps its last objects for `staleAfterMs`, then they are
//    withdrawn; when it answers again it is read afresh.
import { Informer, type KubeObject } from "../kube/informer.js";
import { KubeClient } from "../kube/client.js";
import { SecretResource } from "../kube/resources.js";
import { KubernetesSource, remoteClusterResources } from "../sources/kubernetes.js";
import type { ConfigMerge } from "../sources/merge.js";
import { MULTICLUSTER_SECRET_LABEL, readRemoteSecret, type RemoteClusterConfig, type RemoteSecretObject } from "./remote-secret.js";

/** How long an unreachable remote cluster's endpoints keep serving (`--remote-cluster-stale-after`). */
export const DEFAULT_REMOTE_STALE_AFTER_MS = 5 * 60_000;
/** How often a remote cluster's apiserver is asked whether it is there. */
export const DEFAULT_REMOTE_PROBE_MS = 5_000;

export type RemoteClusterState = "syncing" | "synced" | "unreachable" | "withdrawn";

export interface RemoteClusterStatus {
  readonly clusterId: string;
  readonly from: string;
  readonly server: string;
  readonly state: RemoteClusterState;
}

export interface RemoteClustersOptions {
  /** The control plane's own cluster, where the Secrets are. */
  readonly client: KubeClient;
  readonly namespace: string;
  readonly localClusterId: string;
  readonly merge: ConfigMerge;
  readonly staleAfterMs?: number;
  readonly probeIntervalMs?: number;
  readonly log: (line: string) => void;
  /** Told when a cluster's source is added or removed (TokenReview for its workloads). */
  readonly onClient?: (clusterId: string, client: KubeClient | undefined) => void;
}

class RemoteCluster {
  source: KubernetesSource | undefined;
  /** A replacement source listing before it takes over. */
  next: KubernetesSource | undefined;
  unreachableSinceMs: number | undefined;
  withdrawn = false;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    public config: RemoteClusterConfig,
    private readonly owner: RemoteClusters,
  ) {}

  get state(): RemoteClusterState {
    if (this.withdrawn) return "withdrawn";
    if (this.unreachableSinceMs !== undefined) return "unreachable";
    return this.source?.synced === true ? "synced" : "syncing";
  }

  start(): void {
    this.source = this.owner.startSource(this.config);
    this.timer = setInterval(() => void this.probe(), this.owner.probeIntervalMs);
  }

  /** New credentials or address: read with them, and switch over once they have listed. */
  replace(config: RemoteClusterConfig): void {
    this.config = config;
    if (this.next !== undefined) this.owner.removeSource(this.next);
    const next = this.owner.startSource(config);
    this.next = next;
    void next.waitForSync().then(() => {
      if (this.next !== next) return;
      this.next = undefined;
      if (this.source !== undefined) this.owner.removeSource(this.source);
      this.source = next;
      this.withdrawn = false;
      this.unreachableSinceMs = undefined;
    });
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const s of [this.source, this.next]) if (s !== undefined) this.owner.removeSource(s);
    this.source = this.next = undefined;
  }

  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    const client = new KubeClient(this.config.kubeConfig);
    try {
      await client.request("GET", "/version", undefined, "application/json", this.owner.probeIntervalMs);
      if (this.unreachableSinceMs !== undefined) this.owner.log(`meshward multicluster: cluster ${this.config.clusterId} is reachable again${this.withdrawn ? "; reading it afresh" : ""}`);
      this.unreachableSinceMs = undefined;
      if (this.withdrawn) {
        this.withdrawn = false;
        this.source = this.owner.startSource(this.config);
      }
    } catch (e) {
      const now = Date.now();
      if (this.unreachableSinceMs === undefined) {
        this.unreachableSinceMs = now;
        this.owner.log(`meshward multicluster: cluster ${this.config.clusterId} unreachable (${(e as Error).message}); keeping its endpoints for ${this.owner.staleAfterMs / 1000} s`);
      } else if (!this.withdrawn && now - this.unreachableSinceMs >= this.owner.staleAfterMs) {
        this.withdrawn = true;
        this.owner.log(`meshward multicluster: cluster ${this.config.clusterId} unreachable for ${Math.round((now - this.unreachableSinceMs) / 1000)} s; its endpoints are withdrawn`);
        for (const s of [this.source, this.next]) if (s !== undefined) this.owner.removeSource(s);
        this.source = this.next = undefined;
      }
    } finally {
      client.close();
      this.probing = false;
    }
  }
}

export class RemoteClusters {
  readonly staleAfterMs: number;
  readonly probeIntervalMs: number;
  private readonly informer: Informer;
  /** Remote clusters by id. */
  private readonly clusters = new Map<string, RemoteCluster>();
  /** Secret `ns/name` -> the cluster ids it holds. */
  private readonly bySecret = new Map<string, Set<string>>();
  private secretErrors = new Map<string, readonly string[]>();

  constructor(private readonly opts: RemoteClustersOptions) {
    this.staleAfterMs = opts.staleAfterMs ?? DEFAULT_REMOTE_STALE_AFTER_MS;
    this.probeIntervalMs = opts.probeIntervalMs ?? DEFAULT_REMOTE_PROBE_MS;
    this.informer = new Informer({
      client: opts.client,
      resource: SecretResource,
      namespace: opts.namespace,
      labelSelector: `${MULTICLUSTER_SECRET_LABEL}=true`,
      // A control plane not allowed to list its namespace's Secrets has no remote clusters (and says so).
      forbiddenIsEmpty: true,
      log: opts.log,
      onEvents: (events) => {
        for (const e of events) this.secretChanged(e.key, e.type === "delete" ? undefined : e.object);
      },
    });
  }

  log(line: string): void {
    this.opts.log(line);
  }

  /** Starts watching the Secrets; resolves once they have been listed (remote clusters sync on their own). */
  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  stop(): void {
    this.informer.stop();
    for (const c of this.clusters.values()) c.stop();
    this.clusters.clear();
  }

  /** Every remote cluster and how it is doing, for /debug and tests. */
  status(): RemoteClusterStatus[] {
    return [...this.clusters.values()].map((c) => ({ clusterId: c.config.clusterId, from: c.config.from, server: c.config.kubeConfig.getCurrentCluster()?.server ?? "", state: c.state }));
  }

  /** The Secrets' problems, each naming the Secret and key. */
  errors(): string[] {
    return [...this.secretErrors.values()].flat();
  }

  /** Resolves once every remote cluster known now has listed everything (or `timeoutMs` passed). */
  async waitForSync(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all([...this.clusters.values()].map((c) => c.source?.waitForSync()));
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  startSource(config: RemoteClusterConfig): KubernetesSource {
    const source = new KubernetesSource({ client: new KubeClient(config.kubeConfig), clusterId: config.clusterId, resources: remoteClusterResources, log: this.opts.log });
    this.opts.merge.addSource(source);
    this.opts.onClient?.(config.clusterId, source.client);
    this.opts.log(`meshward multicluster: reading cluster ${config.clusterId} from ${source.client.server.origin} (${config.from})`);
    return source;
  }

  removeSource(source: KubernetesSource): void {
    this.opts.merge.removeSource(source);
  }

  private secretChanged(key: string, object: KubeObject | undefined): void {
    const reading = object !== undefined ? readRemoteSecret(object as unknown as RemoteSecretObject, this.opts.localClusterId) : { clusters: [], errors: [] };
    for (const e of reading.errors) if (!(this.secretErrors.get(key) ?? []).includes(e)) this.opts.log(`meshward multicluster: ${e}`);
    if (reading.errors.length > 0) this.secretErrors.set(key, reading.errors);
    else this.secretErrors.delete(key);
    const before = this.bySecret.get(key) ?? new Set<string>();
    const now = new Set<string>();
    for (const config of reading.clusters) {
      const held = this.clusters.get(config.clusterId);
      const holder = [...this.bySecret.entries()].find(([k, ids]) => k !== key && ids.has(config.clusterId))?.[0];
      if (holder !== undefined) {
        this.opts.log(`meshward multicluster: ${config.from}: cluster ${config.clusterId} is already read from Secret ${holder}; ignored`);
        continue;
      }
      now.add(config.clusterId);
      if (held === undefined) {
        const c = new RemoteCluster(config, this);
        this.clusters.set(config.clusterId, c);
        c.start();
      } else if (held.config.text !== config.text) {
        this.opts.log(`meshward multicluster: ${config.from} changed; reading cluster ${config.clusterId} with the new kubeconfig`);
        held.replace(config);
      }
    }
    for (const id of before) {
      if (now.has(id)) continue;
      this.opts.log(`meshward multicluster: cluster ${id} removed (Secret ${key}); its endpoints are withdrawn`);
      this.clusters.get(id)?.stop();
      this.clusters.delete(id);
      this.opts.onClient?.(id, undefined);
    }
    if (now.size > 0) this.bySecret.set(key, now);
    else this.bySecret.delete(key);
  }
}
