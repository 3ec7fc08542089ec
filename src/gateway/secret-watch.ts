// Kubernetes Secrets as gateway credentials: one informer over every namespace's Secrets (what
// istiod's credentials controller watches for gateways), each Secret that holds a certificate or a
// CA put into the credential store, its deletion taking it out. Only the parts a credential uses
// are kept; the informer's own store holds the objects as the apiserver sent them.
import { Informer, type InformerEvent } from "../kube/informer.js";
import type { KubeClient } from "../kube/client.js";
import type { KubeResource } from "../kube/resources.js";
import { credentialFromSecret, type GatewayCredentialStore } from "./credential-store.js";

const SecretResource: KubeResource = { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true };

export interface SecretWatchOptions {
  readonly client: KubeClient;
  readonly clusterId: string;
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
  const informer = new Informer({ client: opts.client, resource: SecretResource, onEvents: apply, ...(opts.log ? { log: opts.log } : {}) });
  informer.start();
  return () => informer.stop();
}
