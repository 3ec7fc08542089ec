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
import { LeaderWrites, replaceStatus, type StatusObject } from "./leader-writes.js";

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
  private readonly loop = new LeaderWrites(() => this.pass(), STATUS_RETRY_MS);
  /** key -> the rejection wanted on the object now. */
  private desired = new Map<string, Rejection>();
  /** key -> the message this replica last wrote (cleared entries are removed). */
  private readonly written = new Map<string, Rejection>();
  private sweepNeeded = false;
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
    this.loop.kick();
  }

  setActive(active: boolean): void {
    if (active) this.sweepNeeded = true;
    this.loop.setActive(active);
  }

  /** Resolves when every wanted write is done. */
  idle(): Promise<void> {
    return this.loop.idle();
  }

  /** One pass over what is wanted; false if a write failed. */
  private async pass(): Promise<boolean> {
    let ok = true;
    if (this.sweepNeeded) {
      this.sweepNeeded = false;
      await this.sweep();
    }
    for (const [key, want] of this.desired) {
      if (this.written.get(key)?.message === want.message) continue;
      if (await this.write(want, want.message)) this.written.set(key, want);
      else ok = false;
    }
    for (const [key, had] of [...this.written]) {
      if (this.desired.has(key)) continue;
      if (await this.write(had, undefined)) this.written.delete(key);
      else ok = false;
    }
    return ok;
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
    const result = await replaceStatus(
      this.client,
      `${collectionPath(r.resource, r.namespace)}/${r.name}`,
      (o) => {
        const conditions = o.status?.conditions ?? [];
        const current = conditions.find((c) => c.type === REJECTED_CONDITION);
        const others = conditions.filter((c) => c.type !== REJECTED_CONDITION);
        let next: Condition[];
        if (message === undefined) {
          if (current === undefined || current.reason !== REJECTED_REASON) return undefined;
          next = others;
        } else {
          if (current?.status === "False" && current.reason === REJECTED_REASON && current.message === message && current.observedGeneration === o.metadata.generation) return undefined;
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
        const status: Record<string, unknown> = { ...(o.status ?? {}), conditions: next };
        if (next.length === 0) delete status["conditions"];
        return status;
      },
      (why) => this.log(`meshward status: ${r.resource.kind} ${r.namespace}/${r.name}: ${why}`),
    );
    if (result === "written") this.writes += 1;
    return result !== "failed";
  }
}
