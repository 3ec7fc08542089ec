// Why meshward rejected an object, on the object itself: a status condition in the apiserver, as
// istiod reports analysis and distribution on `status` (pilot/pkg/status). Users see it with
// `kubectl get authorizationpolicy x -o yaml`; the last good version keeps serving meanwhile (the
// model keeps it), and the condition goes away once the object is fixed.
//
// Condition (in status.conditions, other writers' conditions kept):
//   type: Accepted, status: "False", reason: Invalid,
//   message: "<field path>: <problem>; ..." (every error meshward found in the object),
//   observedGeneration: the generation it was found in, lastTransitionTime.
// Only the Lease holder writes (setActive). Becoming the holder also sweeps every Istio and
// meshward object once, so a condition a previous holder left on an object fixed since then is
// cleared too.
import type { KubeConfig } from "@kubernetes/client-node";
import type { ConfigError } from "../model/config.js";
import { KubeApiError, KubeClient } from "./client.js";
import { collectionPath, istioResources, meshwardResources, type KubeResource } from "./resources.js";

export const REJECTED_CONDITION = "Accepted";
export const REJECTED_REASON = "Invalid";
const STATUS_RETRY_MS = 2_000;

/** A status condition as Kubernetes objects carry them. */
export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

interface StatusObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number };
  status?: { conditions?: Condition[]; [k: string]: unknown };
  [k: string]: unknown;
}

/** An object in this cluster meshward can write status on, and its problems. */
interface Rejection {
  readonly resource: KubeResource;
  readonly namespace: string;
  readonly name: string;
  readonly message: string;
}

/** `k8s://<cluster>/<apiVersion>/<Kind> <ns>/<name>` (the Kubernetes source's origin) -> its parts. */
export function parseOrigin(file: string): { cluster: string; apiVersion: string; kind: string; namespace: string; name: string } | undefined {
  const m = /^k8s:\/\/([^/]+)\/(\S+)\/([A-Za-z0-9]+) (?:([^/\s]+)\/)?(\S+)$/.exec(file);
  if (m === null) return undefined;
  return { cluster: m[1]!, apiVersion: m[2]!, kind: m[3]!, namespace: m[4] ?? "", name: m[5]! };
}

const byKind = new Map([...istioResources, ...meshwardResources].map((r) => [r.kind, r]));

export interface StatusWriterOptions {
  readonly kubeConfig: KubeConfig;
  /** Only errors from this cluster's objects are written (`--cluster-id`). */
  readonly clusterId: string;
  readonly log?: (line: string) => void;
}

export class StatusWriter {
  private readonly client: KubeClient;
  private readonly log: (line: string) => void;
  private active = false;
  /** key -> the rejection wanted on the object now. */
  private desired = new Map<string, Rejection>();
  /** key -> the message this replica last wrote (cleared entries are removed). */
  private readonly written = new Map<string, Rejection>();
  private dirty = false;
  private sweepNeeded = false;
  private running: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** Writes done, for tests and /debug. */
  writes = 0;

  constructor(private readonly opts: StatusWriterOptions) {
    this.client = new KubeClient(opts.kubeConfig);
    this.log = opts.log ?? (() => undefined);
  }

  /** The model's current errors (every snapshot); only this cluster's Istio/meshward objects matter. */
  update(errors: readonly ConfigError[]): void {
    const next = new Map<string, { resource: KubeResource; namespace: string; name: string; messages: string[] }>();
    for (const e of errors) {
      if (e.severity !== "error") continue;
      const o = parseOrigin(e.file);
      if (o === undefined || o.cluster !== this.opts.clusterId) continue;
      const resource = byKind.get(o.kind);
      if (resource === undefined) continue;
      const key = `${o.kind} ${o.namespace}/${o.name}`;
      const entry = next.get(key) ?? { resource, namespace: o.namespace, name: o.name, messages: [] };
      entry.messages.push(e.path !== "" ? `${e.path}: ${e.message}` : e.message);
      next.set(key, entry);
    }
    this.desired = new Map([...next].map(([k, v]) => [k, { resource: v.resource, namespace: v.namespace, name: v.name, message: [...new Set(v.messages)].join("; ") }]));
    this.kick();
  }

  setActive(active: boolean): void {
    this.active = active;
    if (!active && this.retry !== undefined) {
      clearTimeout(this.retry);
      this.retry = undefined;
    }
    if (active) this.sweepNeeded = true;
    this.kick();
  }

  /** Resolves when every wanted write is done. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    this.dirty = true;
    if (!this.active) return;
    this.running ??= this.run().finally(() => (this.running = undefined));
  }

  private async run(): Promise<void> {
    let failed = false;
    while (this.active && this.dirty) {
      this.dirty = false;
      if (this.sweepNeeded) {
        this.sweepNeeded = false;
        await this.sweep();
      }
      for (const [key, want] of this.desired) {
        if (this.written.get(key)?.message === want.message) continue;
        if (await this.write(want, want.message)) this.written.set(key, want);
        else failed = true;
      }
      for (const [key, had] of [...this.written]) {
        if (this.desired.has(key)) continue;
        if (await this.write(had, undefined)) this.written.delete(key);
        else failed = true;
      }
    }
    // The apiserver refused or was away: try again later (the model may not change for a while).
    if (failed && this.active && this.retry === undefined) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.kick();
      }, STATUS_RETRY_MS);
      this.retry.unref();
    }
  }

  /** Clears meshward's condition from every object not rejected now (after a change of holder). */
  private async sweep(): Promise<void> {
    for (const resource of byKind.values()) {
      let list: { items?: StatusObject[] };
      try {
        list = await this.client.request<{ items?: StatusObject[] }>("GET", collectionPath(resource));
      } catch (e) {
        if (e instanceof KubeApiError && e.status === 404) continue; // CRD not installed
        this.log(`meshward status: listing ${resource.plural}: ${(e as Error).message}`);
        this.sweepNeeded = true;
        continue;
      }
      for (const o of list.items ?? []) {
        const key = `${resource.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;
        const mine = o.status?.conditions?.some((c) => c.type === REJECTED_CONDITION && c.reason === REJECTED_REASON);
        if (mine && !this.desired.has(key)) await this.write({ resource, namespace: o.metadata.namespace ?? "", name: o.metadata.name, message: "" }, undefined);
      }
    }
  }

  /** Sets (message) or clears (undefined) the condition; true when the object has it as wanted. */
  private async write(r: Rejection, message: string | undefined): Promise<boolean> {
    const base = `${collectionPath(r.resource, r.namespace)}/${r.name}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      let o: StatusObject;
      try {
        o = await this.client.request<StatusObject>("GET", base);
      } catch (e) {
        if (e instanceof KubeApiError && e.status === 404) return true; // deleted: nothing to say
        this.log(`meshward status: ${r.resource.kind} ${r.namespace}/${r.name}: ${(e as Error).message}`);
        return false;
      }
      const conditions = o.status?.conditions ?? [];
      const current = conditions.find((c) => c.type === REJECTED_CONDITION);
      const others = conditions.filter((c) => c.type !== REJECTED_CONDITION);
      let next: Condition[];
      if (message === undefined) {
        if (current === undefined || current.reason !== REJECTED_REASON) return true;
        next = others;
      } else {
        if (current?.status === "False" && current.reason === REJECTED_REASON && current.message === message && current.observedGeneration === o.metadata.generation) return true;
        const condition: Condition = {
          type: REJECTED_CONDITION,
          status: "False",
          reason: REJECTED_REASON,
          message,
          ...(o.metadata.generation !== undefined ? { observedGeneration: o.metadata.generation } : {}),
          lastTransitionTime: current?.status === "False" && current.lastTransitionTime ? current.lastTransitionTime : new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        };
        next = [...others, condition];
      }
      const status = { ...(o.status ?? {}), conditions: next };
      if (next.length === 0) delete (status as { conditions?: Condition[] }).conditions;
      try {
        await this.client.request("PUT", `${base}/status`, { ...o, status });
        this.writes += 1;
        return true;
      } catch (e) {
        if (e instanceof KubeApiError && e.status === 409) continue; // changed meanwhile: read again
        if (e instanceof KubeApiError && e.status === 404) return true;
        this.log(`meshward status: ${r.resource.kind} ${r.namespace}/${r.name}: ${(e as Error).message}`);
        return false;
      }
    }
    return false;
  }
}
