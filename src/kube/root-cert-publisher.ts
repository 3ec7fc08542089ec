// The mesh's trust anchors in every namespace, as istiod's namespace controller writes them
// (pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go): ConfigMap
// `istio-ca-root-cert`, key `root-cert.pem`, label `istio.io/config=true`. Workloads mount it to
// verify the control plane and their peers, so it must follow the CA's roots and come back when a
// user edits or deletes it, and appear in every new namespace.
//
// Only the Lease holder writes (setActive): every replica watches, but a write from each would be
// N writers racing on every namespace. Other keys a user put into the ConfigMap are kept.
import { CoreV1Api, makeInformer, type Informer, type KubeConfig, type KubernetesObject, type ObjectCache, type V1ConfigMap, type V1Namespace } from "@kubernetes/client-node";
import { apiStatus, isConflict, isNotFound } from "./api-errors.js";

export const ROOT_CERT_CONFIGMAP = "istio-ca-root-cert";
export const ROOT_CERT_KEY = "root-cert.pem";
export const ISTIO_CONFIG_LABEL = "istio.io/config";
/** How long a failed watch waits before it lists again (doubling up to RESTART_MAX_MS). */
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 10_000;

export interface RootCertPublisherOptions {
  readonly kubeConfig: KubeConfig;
  /** The PEM bundle to publish (every root the mesh trusts). */
  readonly rootsPem: () => string;
  readonly log?: (line: string) => void;
}

/** A client-node informer restarted with backoff when its watch fails (client-node 1.4 stops it). */
export function resilientInformer<T extends KubernetesObject>(informer: Informer<T> & ObjectCache<T>, what: string, log: (l: string) => void): { informer: Informer<T> & ObjectCache<T>; stop: () => Promise<void> } {
  let stopped = false;
  let delay = RESTART_MIN_MS;
  let timer: NodeJS.Timeout | undefined;
  informer.on("connect", () => void (delay = RESTART_MIN_MS));
  informer.on("error", (err?: unknown) => {
    if (stopped) return;
    log(`meshward kube: watch of ${what} failed (${err instanceof Error ? err.message : String(err)}); listing again in ${delay} ms`);
    timer = setTimeout(() => {
      if (!stopped) informer.start().catch(() => undefined);
    }, delay);
    timer.unref();
    delay = Math.min(delay * 2, RESTART_MAX_MS);
  });
  return {
    informer,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop();
    },
  };
}

export class RootCertPublisher {
  private readonly api: CoreV1Api;
  private readonly log: (line: string) => void;
  private readonly namespaces: ReturnType<typeof resilientInformer<V1Namespace>>;
  private readonly configMaps: ReturnType<typeof resilientInformer<V1ConfigMap>>;
  private active = false;
  private readonly queue = new Set<string>();
  private draining: Promise<void> | undefined;
  /** Writes done (creates and updates), for tests and metrics. */
  writes = 0;

  constructor(private readonly opts: RootCertPublisherOptions) {
    this.api = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.log = opts.log ?? (() => undefined);
    const ns = makeInformer<V1Namespace>(opts.kubeConfig, "/api/v1/namespaces", () => this.api.listNamespace());
    const cm = makeInformer<V1ConfigMap>(opts.kubeConfig, "/api/v1/configmaps", () => this.api.listConfigMapForAllNamespaces({ labelSelector: `${ISTIO_CONFIG_LABEL}=true` }), `${ISTIO_CONFIG_LABEL}=true`);
    this.namespaces = resilientInformer(ns, "namespaces", this.log);
    this.configMaps = resilientInformer(cm, "configmaps", this.log);
    const onNamespace = (n: V1Namespace): void => {
      if (n.metadata?.name) this.enqueue(n.metadata.name);
    };
    ns.on("add", onNamespace);
    ns.on("update", onNamespace);
    const onConfigMap = (c: V1ConfigMap): void => {
      if (c.metadata?.name === ROOT_CERT_CONFIGMAP && c.metadata.namespace) this.enqueue(c.metadata.namespace);
    };
    // A ConfigMap that loses its label leaves the labelled watch as a delete: repaired the same way.
    for (const verb of ["add", "update", "delete"] as const) cm.on(verb, onConfigMap);
  }

  async start(): Promise<void> {
    await Promise.all([this.namespaces.informer.start(), this.configMaps.informer.start()]);
  }

  async stop(): Promise<void> {
    this.active = false;
    await Promise.all([this.namespaces.stop(), this.configMaps.stop()]);
    await this.draining;
  }

  /** Leadership: only the holder writes; becoming it syncs every namespace. */
  setActive(active: boolean): void {
    this.active = active;
    if (active) this.resyncAll();
  }

  /** The roots changed (rotation, extra roots): every namespace is written again. */
  resyncAll(): void {
    for (const n of this.namespaces.informer.list()) if (n.metadata?.name) this.enqueue(n.metadata.name);
  }

  /** Whether the namespace watch has seen this namespace. */
  knowsNamespace(name: string): boolean {
    return this.namespaces.informer.get(name) !== undefined;
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
    const ns = this.namespaces.informer.get(namespace);
    // Gone, or being deleted (a create there would be refused).
    if (ns === undefined || ns.metadata?.deletionTimestamp !== undefined || ns.status?.phase === "Terminating") return;
    const want = this.opts.rootsPem();
    const cached = this.configMaps.informer.get(ROOT_CERT_CONFIGMAP, namespace);
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
