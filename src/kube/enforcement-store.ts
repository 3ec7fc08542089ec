// Enforcement shared by every replica through the apiserver. The replica that receives a signal
// decides; its decision is written as a WorkloadEnforcement (meshward.io/v1alpha1, name = the
// enforcement id, in the pod's namespace, the whole decision in spec.enforcement); every replica
// watches those objects and enforces them for the proxies connected to it and in its CA. The
// object outlives the deciding replica; deleting it (release, expiry, pod deletion, or
// `kubectl delete workloadenforcement`) ends the enforcement everywhere.
//
// The EnforcementStore contract is synchronous and durable-before-return; the apiserver is not.
// So put/end first go to the local store (the replica's audit database: the action is recorded and
// the replica enforces at once), then the apiserver write is queued and retried until it lands.
// Until the watch has listed once, the local store's set is served, so a replica that starts
// while the apiserver is away keeps enforcing what it knew (fail closed).
import { CustomObjectsApi, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Enforcement, EnforcementStore } from "../risk/quarantine.js";
import { WORKLOAD_ENFORCEMENT_API_VERSION, WORKLOAD_ENFORCEMENT_KIND, type WorkloadEnforcementSpec } from "../model/workload-enforcement.js";
import { apiStatus, isConflict, isNotFound } from "./api-errors.js";
import { WORKLOAD_ENFORCEMENT_DEFINITION } from "./crds.js";
import { Watched } from "./watched.js";

interface WorkloadEnforcementObject extends KubernetesObject {
  spec?: Partial<WorkloadEnforcementSpec>;
}

const [GROUP, VERSION] = WORKLOAD_ENFORCEMENT_API_VERSION.split("/") as [string, string];
const PLURAL = WORKLOAD_ENFORCEMENT_DEFINITION.plural;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

/** The decision an object carries, or why it is not one. */
export function enforcementOf(o: WorkloadEnforcementObject): Enforcement | string {
  const e = o.spec?.enforcement as Partial<Enforcement> | undefined;
  const where = `WorkloadEnforcement ${o.metadata?.namespace}/${o.metadata?.name}`;
  if (e === undefined) return `${where}: spec.enforcement: missing (not written by meshward's risk stage)`;
  for (const k of ["id", "action", "scope", "reason", "signalId", "verdictId", "policy"] as const) {
    if (typeof e[k] !== "string") return `${where}: spec.enforcement.${k}: must be a string`;
  }
  if (typeof e.createdAtMs !== "number") return `${where}: spec.enforcement.createdAtMs: must be a number`;
  if (e.expiresAtMs !== undefined && typeof e.expiresAtMs !== "number") return `${where}: spec.enforcement.expiresAtMs: must be a number`;
  if (typeof e.pod !== "object" || e.pod === null || typeof e.pod.ip !== "string" || typeof e.pod.uid !== "string") return `${where}: spec.enforcement.pod: must name the pod (uid, ip)`;
  if (typeof e.identity !== "object" || e.identity === null || typeof e.identity.serviceAccount !== "string") return `${where}: spec.enforcement.identity: must be a workload identity`;
  if (e.id !== o.metadata?.name) return `${where}: spec.enforcement.id: "${e.id}" is not the object's name`;
  return e as Enforcement;
}

export function workloadEnforcementObject(e: Enforcement): WorkloadEnforcementObject {
  return {
    apiVersion: WORKLOAD_ENFORCEMENT_API_VERSION,
    kind: WORKLOAD_ENFORCEMENT_KIND,
    metadata: { name: e.id, namespace: e.pod.namespace, labels: { "app.kubernetes.io/managed-by": "meshward", "meshward.io/action": e.action } },
    spec: { action: e.action, addresses: e.pod.ip !== "" ? [e.pod.ip] : [], enforcement: { ...e } },
  };
}

type Pending = { readonly kind: "put"; readonly e: Enforcement } | { readonly kind: "end"; readonly e: Enforcement };

export class KubeEnforcementSync {
  private readonly api: CustomObjectsApi;
  private readonly watch: Watched<WorkloadEnforcementObject>;
  private readonly remote = new Map<string, Enforcement>();
  /** id -> the write this replica still owes the apiserver. */
  private readonly pending = new Map<string, Pending>();
  private synced = false;
  private changed = false;
  private writing: Promise<void> | undefined;
  private retryMs = RETRY_MIN_MS;
  private stopped = false;

  constructor(
    kubeConfig: KubeConfig,
    private readonly log: (line: string) => void,
  ) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
    const seen = (o: WorkloadEnforcementObject): void => {
      const e = enforcementOf(o);
      if (typeof e === "string") return void this.log(`meshward enforcement: ignored ${e}`);
      this.remote.set(e.id, e);
      this.changed = true;
    };
    const gone = (o: WorkloadEnforcementObject): void => {
      if (o.metadata?.name !== undefined && this.remote.delete(o.metadata.name)) this.changed = true;
    };
    this.watch = new Watched<WorkloadEnforcementObject>(
      kubeConfig,
      { group: GROUP, version: VERSION, kind: WORKLOAD_ENFORCEMENT_KIND, plural: PLURAL, namespaced: true },
      { add: seen, update: seen, delete: gone },
      { log },
    );
  }

  async start(): Promise<void> {
    await this.watch.start();
    // The first list is in: from now on the apiserver's set is the one served.
    this.synced = true;
    this.changed = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch.stop();
    await this.writing;
  }

  /** Writes not yet accepted by the apiserver (for tests and /debug). */
  get unwritten(): number {
    return this.pending.size;
  }

  /** Resolves once every queued write has reached the apiserver (or stop). */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** The EnforcementStore a risk stage uses on Kubernetes, over its local (audit) store. */
  storeOver(local: EnforcementStore): EnforcementStore {
    return {
      loadActive: () => {
        this.changed = false;
        if (!this.synced) return local.loadActive();
        const byId = new Map(this.remote);
        for (const [id, p] of this.pending) {
          if (p.kind === "put") byId.set(id, p.e);
          else byId.delete(id);
        }
        return [...byId.values()];
      },
      put: (e, event, atMs) => {
        local.put(e, event, atMs);
        this.queue({ kind: "put", e });
      },
      end: (e, event, atMs, by) => {
        local.end(e, event, atMs, by);
        this.queue({ kind: "end", e });
      },
      alert: (e, event, reason, atMs) => local.alert(e, event, reason, atMs),
      // A `meshward quarantine release` on this replica's database is not shared: on Kubernetes,
      // release by deleting the WorkloadEnforcement (README, Kubernetes).
      changedElsewhere: () => this.changed,
    };
  }

  private queue(p: Pending): void {
    this.pending.set(p.e.id, p);
    this.writing ??= this.drain().finally(() => (this.writing = undefined));
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.pending.size > 0) {
      const [id, p] = this.pending.entries().next().value as [string, Pending];
      try {
        await (p.kind === "put" ? this.write(p.e) : this.remove(p.e));
        // A newer write for the same id may have been queued meanwhile: keep that one.
        if (this.pending.get(id) === p) this.pending.delete(id);
        this.retryMs = RETRY_MIN_MS;
      } catch (e) {
        this.log(`meshward enforcement: writing WorkloadEnforcement ${p.e.pod.namespace}/${id} failed, retrying in ${this.retryMs} ms: ${apiStatus(e)}`);
        await new Promise((r) => setTimeout(r, this.retryMs).unref());
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      }
    }
  }

  private async write(e: Enforcement): Promise<void> {
    const body = workloadEnforcementObject(e);
    const namespace = e.pod.namespace;
    try {
      await this.api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, body });
      return;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    // Exists (an extension, or another replica decided the same): replace at its version.
    const current = (await this.api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name: e.id })) as WorkloadEnforcementObject;
    await this.api.replaceNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      name: e.id,
      body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } },
    });
  }

  private async remove(e: Enforcement): Promise<void> {
    try {
      await this.api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: e.pod.namespace, plural: PLURAL, name: e.id });
    } catch (err) {
      if (!isNotFound(err)) throw err; // another replica ended it first
    }
  }
}
