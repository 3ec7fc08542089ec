// The mesh's trust anchors in every namespace, as istiod's namespace controller writes them
// (pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go): ConfigMap
// `istio-ca-root-cert`, key `root-cert.pem`, label `istio.io/config=true`. Workloads mount it to
// verify the control plane and their peers, so it must follow the CA's roots and come back when a
// user edits or deletes it, and appear in every new namespace.
//
// Only the Lease holder writes (setActive): every replica watches, but a write from each would be
// N writers racing on every namespace. Other keys a user put into the ConfigMap are kept.
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Namespace } from "@kubernetes/client-node";
import { apiStatus, isConflict, isNotFound } from "./api-errors.js";
import { NamespaceResource, type KubeResource } from "./resources.js";
import { Watched } from "./watched.js";

const ConfigMapResource: KubeResource = { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true };

export const ROOT_CERT_CONFIGMAP = "istio-ca-root-cert";
export const ROOT_CERT_KEY = "root-cert.pem";
export const ISTIO_CONFIG_LABEL = "istio.io/config";

export interface RootCertPublisherOptions {
  readonly kubeConfig: KubeConfig;
  /** The PEM bundle to publish (every root the mesh trusts). */
  readonly rootsPem: () => string;
  readonly log?: (line: string) => void;
}

export class RootCertPublisher {
  private readonly api: CoreV1Api;
  private readonly log: (line: string) => void;
  private readonly namespaces: Watched<V1Namespace>;
  private readonly configMaps: Watched<V1ConfigMap>;
  private active = false;
  private readonly queue = new Set<string>();
  private draining: Promise<void> | undefined;
  /** Writes done (creates and updates), for tests and metrics. */
  writes = 0;

  constructor(private readonly opts: RootCertPublisherOptions) {
    this.api = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.log = opts.log ?? (() => undefined);
    const onNamespace = (n: V1Namespace): void => {
      if (n.metadata?.name) this.enqueue(n.metadata.name);
    };
    this.namespaces = new Watched<V1Namespace>(opts.kubeConfig, NamespaceResource, { add: onNamespace, update: onNamespace }, { log: this.log });
    const onConfigMap = (c: V1ConfigMap): void => {
      if (c.metadata?.name === ROOT_CERT_CONFIGMAP && c.metadata.namespace) this.enqueue(c.metadata.namespace);
    };
    // A ConfigMap that loses its label leaves the labelled watch as a delete: repaired the same way.
    this.configMaps = new Watched<V1ConfigMap>(opts.kubeConfig, ConfigMapResource, { add: onConfigMap, update: onConfigMap, delete: onConfigMap }, { labelSelector: `${ISTIO_CONFIG_LABEL}=true`, log: this.log });
  }

  async start(): Promise<void> {
    await Promise.all([this.namespaces.start(), this.configMaps.start()]);
  }

  async stop(): Promise<void> {
    this.active = false;
    this.namespaces.stop();
    this.configMaps.stop();
    await this.draining;
  }

  /** Leadership: only the holder writes; becoming it syncs every namespace. */
  setActive(active: boolean): void {
    this.active = active;
    if (active) this.resyncAll();
  }

  /** The roots changed (rotation, extra roots): every namespace is written again. */
  resyncAll(): void {
    for (const n of this.namespaces.list()) if (n.metadata?.name) this.enqueue(n.metadata.name);
  }

  /** Whether the namespace watch has seen this namespace. */
  knowsNamespace(name: string): boolean {
    return this.namespaces.get(name) !== undefined;
  }

  /** Resolves once every queued namespace has been handled. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private enqueue(namespace: string): void {
    if (!this.active) return;
    this.queue.add(namespace);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  private async drain(): Promise<void> {
    while (this.active && this.queue.size > 0) {
      const namespace = this.queue.values().next().value as string;
      this.queue.delete(namespace);
      try {
        await this.sync(namespace);
      } catch (e) {
        this.log(`meshward kube: ConfigMap ${namespace}/${ROOT_CERT_CONFIGMAP}: ${apiStatus(e)}`);
      }
    }
  }

  private async sync(namespace: string): Promise<void> {
    const ns = this.namespaces.get(namespace);
    // Gone, or being deleted (a create there would be refused).
    if (ns === undefined || ns.metadata?.deletionTimestamp !== undefined || ns.status?.phase === "Terminating") return;
    const want = this.opts.rootsPem();
    const cached = this.configMaps.get(ROOT_CERT_CONFIGMAP, namespace);
    if (cached !== undefined && isCurrent(cached, want)) return;
    for (let attempt = 0; attempt < 3; attempt++) {
      let current: V1ConfigMap | undefined;
      try {
        current = await this.api.readNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      try {
        if (current === undefined) {
          await this.api.createNamespacedConfigMap({
            namespace,
            body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: ROOT_CERT_CONFIGMAP, namespace, labels: { [ISTIO_CONFIG_LABEL]: "true" } }, data: { [ROOT_CERT_KEY]: want } },
          });
        } else {
          if (isCurrent(current, want)) return;
          const body: V1ConfigMap = {
            ...current,
            metadata: { ...current.metadata, labels: { ...(current.metadata?.labels ?? {}), [ISTIO_CONFIG_LABEL]: "true" } },
            data: { ...(current.data ?? {}), [ROOT_CERT_KEY]: want },
          };
          await this.api.replaceNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace, body });
        }
        this.writes += 1;
        return;
      } catch (e) {
        if (!isConflict(e)) throw e; // someone wrote it meanwhile: read again
      }
    }
    throw new Error(`still conflicting after 3 attempts`);
  }
}

function isCurrent(c: V1ConfigMap, want: string): boolean {
  return c.data?.[ROOT_CERT_KEY] === want && c.metadata?.labels?.[ISTIO_CONFIG_LABEL] === "true";
}
