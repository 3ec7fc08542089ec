// An informer over one apiserver resource (Istio's kclient, client-go's reflector): list, then
// watch from the list's resourceVersion with bookmarks, and keep a store of the objects. It hands
// its listener per-object adds, updates and deletes, each object once per resourceVersion:
//  - a watch that ends (server timeout, apiserver restart, network error) is resumed from the last
//    resourceVersion seen (bookmarks keep it fresh), after a backoff when it ended in an error, so
//    nothing is lost and nothing is repeated;
//  - `410 Gone` (the resourceVersion was compacted away) re-lists, and the new list is diffed
//    against the store: only what changed meanwhile is reported, deletes included;
//  - errors back off exponentially (200 ms doubling to 30 s, with jitter), and recover.
// Events that arrive together are handed over together (one batch per turn of the event loop).
import { KubeApiError, type KubeClient } from "./client.js";
import { collectionPath, resourceName, type KubeResource } from "./resources.js";

/** The fields of an object an informer relies on. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly [k: string]: unknown;
  };
  readonly [k: string]: unknown;
}

export type InformerEvent =
  | { readonly type: "add" | "update"; readonly key: string; readonly object: KubeObject }
  | { readonly type: "delete"; readonly key: string; readonly object: KubeObject };

export interface InformerOptions {
  readonly client: KubeClient;
  readonly resource: KubeResource;
  /** Only this namespace (default: all). */
  readonly namespace?: string;
  readonly labelSelector?: string;
  /** e.g. `spec.nodeName=<node>`: a node agent watches its own node's pods only. */
  readonly fieldSelector?: string;
  /** Called with every batch of changes (the first one is the whole initial list). */
  readonly onEvents: (events: readonly InformerEvent[]) => void;
  readonly log?: (line: string) => void;
  /** Page size of a list (default 500). */
  readonly pageSize?: number;
  /** First and longest backoff (default 200 ms and 30 s). */
  readonly backoffMs?: { readonly initial: number; readonly max: number };
  /**
   * Not installed yet (404 on list: a CRD that is not applied) counts as synced and empty, and the
   * list is retried with backoff: the rest of the mesh is served meanwhile. Default false.
   */
  readonly optional?: boolean;
  /**
   * `403 Forbidden` on the first list counts as synced and empty too (retried with backoff): for
   * reads that are an opt-in of the installation (remote-cluster Secrets), never for policies.
   */
  readonly forbiddenIsEmpty?: boolean;
}

interface ListAnswer {
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items?: readonly KubeObject[];
}

/** `namespace/name` (just `name` for cluster-scoped objects): the store's key. */
export function objectKey(o: KubeObject): string {
  return o.metadata.namespace !== undefined && o.metadata.namespace !== "" ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export class Informer {
  private readonly store = new Map<string, KubeObject>();
  private resourceVersion = "";
  private stopWatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: InformerEvent[] = [];
  private flushScheduled = false;
  private failures = 0;
  private stopped = false;
  private hasSynced = false;
  private readonly syncWaiters: (() => void)[] = [];
  /** Counters for tests and /debug: how the informer got to where it is. */
  readonly stats = { lists: 0, watches: 0, relistsOnGone: 0, errors: 0, bookmarks: 0, watchEvents: 0 };
  private readonly log: (line: string) => void;
  private readonly name: string;

  constructor(private readonly opts: InformerOptions) {
    this.log = opts.log ?? ((l) => console.error(l));
    this.name = `${resourceName(opts.resource)}${opts.namespace !== undefined ? ` in ${opts.namespace}` : ""}`;
  }

  get synced(): boolean {
    return this.hasSynced;
  }

  /** Resolves once the first list has been handed to the listener. */
  waitForSync(): Promise<void> {
    return this.hasSynced ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** The objects as of the last batch handed over. */
  list(): KubeObject[] {
    return [...this.store.values()];
  }

  get(key: string): KubeObject | undefined {
    return this.store.get(key);
  }

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    this.stopWatch?.();
    this.stopWatch = undefined;
    if (this.timer) clearTimeout(this.timer);
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const items: KubeObject[] = [];
      let cont = "";
      let rv = "";
      do {
        const query = new URLSearchParams({ limit: String(this.opts.pageSize ?? 500) });
        if (cont !== "") query.set("continue", cont);
        if (this.opts.labelSelector !== undefined) query.set("labelSelector", this.opts.labelSelector);
        if (this.opts.fieldSelector !== undefined) query.set("fieldSelector", this.opts.fieldSelector);
        const page = await this.opts.client.request<ListAnswer>("GET", `${collectionPath(this.opts.resource, this.opts.namespace)}?${query}`);
        items.push(...(page.items ?? []));
        cont = page.metadata?.continue ?? "";
        rv = page.metadata?.resourceVersion ?? rv;
      } while (cont !== "" && !this.stopped);
      if (this.stopped) return;
      this.stats.lists++;
      this.replace(items);
      this.resourceVersion = rv;
      this.failures = 0;
      this.flush();
      this.markSynced();
      void this.watch();
    } catch (e) {
      if (this.opts.optional === true && e instanceof KubeApiError && e.status === 404 && !this.hasSynced) this.markSynced();
      if (this.opts.forbiddenIsEmpty === true && e instanceof KubeApiError && e.status === 403 && !this.hasSynced) this.markSynced();
      this.retry(() => void this.relist(), e);
    }
  }

  private markSynced(): void {
    if (this.hasSynced) return;
    this.hasSynced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /** Diffs a fresh list against the store: adds, updates (new resourceVersion) and deletes. */
  private replace(items: readonly KubeObject[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      // Lists leave out each item's kind and apiVersion; the resource says them.
      const o = { ...item, apiVersion: item.apiVersion ?? this.apiVersion(), kind: item.kind ?? this.opts.resource.kind };
      const key = objectKey(o);
      seen.add(key);
      this.upsert(key, o);
    }
    for (const [key, o] of this.store) {
      if (seen.has(key)) continue;
      this.store.delete(key);
      this.pending.push({ type: "delete", key, object: o });
    }
  }

  private apiVersion(): string {
    const r = this.opts.resource;
    return r.group === "" ? r.version : `${r.group}/${r.version}`;
  }

  private upsert(key: string, raw: KubeObject): void {
    const before = this.store.get(key);
    // The same version again (a resumed watch may replay the last one): nothing happened.
    if (before !== undefined && before.metadata.resourceVersion === raw.metadata.resourceVersion) return;
    // managedFields is often the bulk of an object and nobody here reads it.
    const { managedFields: _managed, ...metadata } = raw.metadata;
    const o: KubeObject = { ...raw, metadata };
    this.store.set(key, o);
    this.pending.push({ type: before === undefined ? "add" : "update", key, object: o });
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    this.stats.watches++;
    let ended = false;
    let gone = false;
    const end = (err: unknown): void => {
      if (ended) return;
      ended = true;
      this.stopWatch = undefined;
      if (this.stopped) return;
      if (gone || (err instanceof Error && (err as { statusCode?: number }).statusCode === 410)) {
        this.stats.relistsOnGone++;
        this.log(`meshward kube: ${this.name}: resourceVersion ${this.resourceVersion} is gone (410); listing again`);
        void this.relist();
        return;
      }
      if (err === null || err === undefined) {
        // The server closed the watch (its timeout): resume at once.
        void this.watch();
        return;
      }
      this.retry(() => void this.watch(), err);
    };
    const onEvent = (type: string, object: unknown): void => {
      if (ended || this.stopped) return;
      const o = object as KubeObject;
      this.stats.watchEvents++;
      switch (type) {
        case "ADDED":
        case "MODIFIED":
          this.upsert(objectKey(o), { ...o, apiVersion: o.apiVersion ?? this.apiVersion(), kind: o.kind ?? this.opts.resource.kind });
          break;
        case "DELETED": {
          const key = objectKey(o);
          const before = this.store.get(key);
          if (before !== undefined) {
            this.store.delete(key);
            this.pending.push({ type: "delete", key, object: before });
          }
          break;
        }
        case "BOOKMARK":
          this.stats.bookmarks++;
          break;
        case "ERROR": {
          const status = object as { code?: number; message?: string };
          if (status.code === 410) gone = true;
          else this.log(`meshward kube: ${this.name}: watch error ${status.code ?? "?"}: ${status.message ?? ""}`);
          this.stopWatch?.();
          end(gone ? null : new KubeApiError(status.code ?? 500, "", status.message ?? "watch error"));
          return;
        }
        default:
          return;
      }
      const rv = o.metadata?.resourceVersion;
      if (rv !== undefined && rv !== "") this.resourceVersion = rv;
      this.failures = 0;
      this.scheduleFlush();
    };
    try {
      const stop = await this.opts.client.watch(
        collectionPath(this.opts.resource, this.opts.namespace),
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          // Servers close watches after this; client-go picks 5-10 minutes at random.
          timeoutSeconds: 300 + Math.floor(Math.random() * 300),
          ...(this.opts.labelSelector !== undefined ? { labelSelector: this.opts.labelSelector } : {}),
          ...(this.opts.fieldSelector !== undefined ? { fieldSelector: this.opts.fieldSelector } : {}),
        },
        onEvent,
        end,
      );
      if (ended || this.stopped) stop();
      else this.stopWatch = stop;
    } catch (e) {
      end(e);
    }
  }

  private retry(again: () => void, err: unknown): void {
    if (this.stopped) return;
    this.stats.errors++;
    this.failures++;
    const { initial, max } = this.opts.backoffMs ?? { initial: 200, max: 30_000 };
    const base = Math.min(max, initial * 2 ** Math.min(this.failures - 1, 20));
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    const message = (err instanceof Error ? err.message : String(err)).trim();
    if (this.failures === 1 || this.failures % 10 === 0) this.log(`meshward kube: ${this.name}: ${message}; retrying in ${delay} ms (attempt ${this.failures})`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      again();
    }, delay);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.pending.length === 0 || this.stopped) return;
    const events = this.pending;
    this.pending = [];
    this.opts.onEvents(events);
  }
}
