// The Kubernetes source: one cluster's apiserver as a ConfigSource. It runs one informer per
// resource (Namespaces, Nodes, Services, EndpointSlices, Pods; Istio's security and networking
// kinds; meshward.io kinds) and hands their adds, updates and deletes over as ConfigObjects whose
// origin names the cluster and the apiserver resource. Like the file source it reads and never
// interprets: the model reads Services, EndpointSlices and Pods into the service registry.
//
// Nothing is reported before every informer has its first list (istiod waits for its caches the
// same way), so proxies never see a half-read cluster; then changes are reported as they come, one
// batch per informer batch. An Istio or meshward CRD that is not installed counts as empty.
import type { ConfigObject, ObjectMeta } from "../model/config.js";
import { KubeClient, type KubeClientOptions } from "../kube/client.js";
import { Informer, type InformerEvent, type KubeObject } from "../kube/informer.js";
import { gatewayApiResources, istioResources, meshwardResources, registryResources, resourceName, type KubeResource } from "../kube/resources.js";
import type { ConfigSource, ObjectEvent, SourceSink } from "./source.js";
import { isFields } from "../model/fields.js";

/** Istio's default cluster id. */
export const DEFAULT_CLUSTER_ID = "Kubernetes";

export interface KubernetesSourceOptions extends KubeClientOptions {
  /** `--cluster-id` (default `Kubernetes`). */
  readonly clusterId?: string;
  /** An existing client (tests, or one client shared with other users of the apiserver). */
  readonly client?: KubeClient;
  readonly log?: (line: string) => void;
  /**
   * The resources to read (default: the registry's, Istio's and meshward's). A remote cluster reads
   * its service registry and its enforcements only (remoteClusterResources): as in Istio, mesh
   * config comes from the control plane's own cluster.
   */
  readonly resources?: readonly KubeResource[];
}

/** What a remote cluster's source reads: its service registry, and its quarantines (meshward.io). */
export const remoteClusterResources: readonly KubeResource[] = [...registryResources, ...meshwardResources.filter((r) => r.kind === "WorkloadEnforcement")];

function strings(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isFields(v)) for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

/** An apiserver object as the model's ConfigObject; EndpointSlices have no spec: their fields are it. */
export function toConfigObject(o: KubeObject, resource: KubeResource, cluster: string): ConfigObject {
  const m = o.metadata;
  const namespace = typeof m.namespace === "string" ? m.namespace : "";
  const metadata: ObjectMeta = {
    name: m.name,
    namespace,
    labels: strings(m["labels"]),
    annotations: strings(m["annotations"]),
    ...(typeof m["creationTimestamp"] === "string" ? { creationTimestamp: m["creationTimestamp"] } : {}),
    ...(typeof m["generation"] === "number" ? { generation: m["generation"] } : {}),
    ...(typeof m.uid === "string" ? { uid: m.uid } : {}),
  };
  const apiVersion = o.apiVersion ?? (resource.group === "" ? resource.version : `${resource.group}/${resource.version}`);
  const kind = o.kind ?? resource.kind;
  const spec = kind === "EndpointSlice" ? { addressType: o["addressType"], endpoints: o["endpoints"], ports: o["ports"] } : o["spec"];
  const ref = `${apiVersion}/${kind} ${namespace === "" ? "" : `${namespace}/`}${m.name}`;
  return {
    apiVersion,
    kind,
    metadata,
    spec,
    ...(o["status"] !== undefined ? { status: o["status"] } : {}),
    origin: { source: "kubernetes", cluster, resource: ref, file: `k8s://${cluster}/${ref}` },
  };
}

export class KubernetesSource implements ConfigSource {
  readonly name: string;
  readonly clusterId: string;
  readonly client: KubeClient;
  private readonly informers: { readonly resource: KubeResource; readonly informer: Informer }[] = [];
  private readonly log: (line: string) => void;
  private sink: SourceSink | undefined;
  /** Events held back until every informer has its first list. */
  private held: ObjectEvent[] | undefined = [];
  private readonly syncedAll: Promise<void>;

  constructor(opts: KubernetesSourceOptions) {
    this.clusterId = opts.clusterId ?? DEFAULT_CLUSTER_ID;
    this.name = `kubernetes:${this.clusterId}`;
    this.client = opts.client ?? new KubeClient(opts);
    this.log = opts.log ?? ((l) => console.error(l));
    const optional = new Set<KubeResource>([...istioResources, ...meshwardResources, ...gatewayApiResources]);
    for (const resource of opts.resources ?? [...registryResources, ...istioResources, ...meshwardResources, ...gatewayApiResources]) {
      const informer = new Informer({
        client: this.client,
        resource,
        optional: optional.has(resource),
        log: this.log,
        onEvents: (events) => this.report(resource, events),
      });
      this.informers.push({ resource, informer });
    }
    this.syncedAll = Promise.all(this.informers.map((i) => i.informer.waitForSync())).then(() => this.release());
  }

  start(sink: SourceSink): void {
    this.sink = sink;
    for (const { informer } of this.informers) informer.start();
  }

  /** Whether every resource has been listed and the first complete state reported. */
  get synced(): boolean {
    return this.held === undefined;
  }

  /** Resolves once every resource has been listed and the first complete state reported. */
  waitForSync(): Promise<void> {
    return this.syncedAll;
  }

  stop(): void {
    for (const { informer } of this.informers) informer.stop();
    this.client.close();
  }

  /** Informer statistics by resource, for /debug and tests. */
  stats(): Record<string, Informer["stats"]> {
    return Object.fromEntries(this.informers.map(({ resource, informer }) => [resourceName(resource), informer.stats]));
  }

  private report(resource: KubeResource, events: readonly InformerEvent[]): void {
    const prefix = `${resourceName(resource)} `;
    const out: ObjectEvent[] = events.map((e) =>
      e.type === "delete" ? { type: "delete", key: prefix + e.key } : { type: e.type, key: prefix + e.key, object: toConfigObject(e.object, resource, this.clusterId) },
    );
    if (this.held !== undefined) {
      this.held.push(...out);
      return;
    }
    this.sink?.({ events: out });
  }

  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.log(`meshward kube: cluster ${this.clusterId}: ${held.length} objects listed; watching`);
    this.sink?.({ events: held, errors: [] });
  }
}
