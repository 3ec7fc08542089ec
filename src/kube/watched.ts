// One resource watched through the source's informer (src/kube/informer.ts: resourceVersion,
// bookmarks, re-list on 410 Gone, backoff), for the replica's controllers (root ConfigMaps, Pods,
// WorkloadEnforcements): their objects typed as client-node's models, one callback per change.
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "./client.js";
import { Informer, type KubeObject } from "./informer.js";
import type { KubeResource } from "./resources.js";

export interface WatchHandlers<T> {
  readonly add?: (o: T) => void;
  readonly update?: (o: T) => void;
  readonly delete?: (o: T) => void;
}

export class Watched<T> {
  private readonly informer: Informer;

  constructor(kubeConfig: KubeConfig, resource: KubeResource, handlers: WatchHandlers<T>, opts: { readonly labelSelector?: string; readonly log: (line: string) => void }) {
    this.informer = new Informer({
      client: new KubeClient(kubeConfig),
      resource,
      log: opts.log,
      ...(opts.labelSelector !== undefined ? { labelSelector: opts.labelSelector } : {}),
      onEvents: (events) => {
        for (const e of events) handlers[e.type]?.(e.object as unknown as T);
      },
    });
  }

  /** Starts and resolves once the first list has been handed to the handlers. */
  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  stop(): void {
    this.informer.stop();
  }

  /** By `namespace/name` (`name` for cluster-scoped objects). */
  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(namespace !== undefined ? `${namespace}/${name}` : name) as T | undefined;
  }

  list(): T[] {
    return this.informer.list() as unknown as T[];
  }
}

export type { KubeObject };
