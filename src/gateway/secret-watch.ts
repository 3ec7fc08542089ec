// Kubernetes Secrets as gateway credentials: one informer per gateway namespace named at start
// (`--gateway-secret-namespaces`), never across the cluster: the control plane reads Secrets only
// where it was granted them (a Role in each of those namespaces). Each Secret that holds a
// certificate or a CA goes into the credential store, its deletion takes it out. Only the parts a
// credential uses are kept; the informer's own store holds the objects as the apiserver sent them.
import { Informer, type InformerEvent } from "../kube/informer.js";
import type { KubeClient } from "../kube/client.js";
import { SecretResource } from "../kube/resources.js";
import { credentialFromSecret, type GatewayCredentialStore } from "./credential-store.js";


export interface SecretWatchOptions {
  readonly client: KubeClient;
  readonly clusterId: string;
  /** The namespaces whose Secrets may hold gateway credentials (one watch each). */
  readonly namespaces: readonly string[];
  readonly store: GatewayCredentialStore;
  readonly log?: (line: string) => void;
}

/** Starts watching; returns the stop function. */
export function watchGatewaySecrets(opts: SecretWatchOptions): () => void {
  const origin = (ns: string, name: string): string => `k8s://${opts.clusterId}/v1/Secret ${ns}/${name}`;
  const apply = (events: readonly InformerEvent[]): void => {
    for (const e of events) {
      const ns = e.object.metadata.namespace ?? "default";
      const name = e.object.metadata.name;
      if (e.type === "delete") {
        opts.store.delete(ns, name);
        continue;
      }
      const c = credentialFromSecret(e.object as { metadata: { name: string; namespace?: string }; data?: unknown }, origin(ns, name));
      if (c === undefined) opts.store.delete(ns, name);
      else opts.store.set(c);
    }
  };
  const informers = [...new Set(opts.namespaces)].map((namespace) => new Informer({ client: opts.client, resource: SecretResource, namespace, onEvents: apply, ...(opts.log ? { log: opts.log } : {}) }));
  for (const i of informers) i.start();
  return () => informers.forEach((i) => i.stop());
}
