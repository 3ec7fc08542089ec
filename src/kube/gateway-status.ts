// The status of Kubernetes Gateway API objects, as istiod writes it: GatewayClass and Gateway
// conditions (Accepted, Programmed, ResolvedRefs) and per-listener conditions with attachedRoutes,
// and on HTTPRoutes / GRPCRoutes one `parents[]` entry per Gateway of ours (controllerName
// istio.io/gateway-controller) with Accepted and ResolvedRefs. Computed by the conversion
// (src/gateway-api/convert.ts) from every snapshot's input; only the Lease holder writes, and only
// what changed. A condition whose status is unchanged keeps its lastTransitionTime; other
// controllers' `parents[]` entries are kept.
import type { GatewayApiStatus, GatewayCondition } from "../gateway-api/convert.js";
import { ISTIO_CONTROLLER } from "../gateway-api/objects.js";
import { KubeClient } from "./client.js";
import { collectionPath, gatewayApiResources } from "./resources.js";
import type { Condition, StatusWriterOptions } from "./status.js";
import { LeaderWrites, replaceStatus } from "./leader-writes.js";

const RETRY_MS = 2_000;
const byKind = new Map(gatewayApiResources.map((r) => [r.kind, r]));

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `wanted` as Kubernetes conditions, keeping the transition time of those whose status did not change. */
function conditions(wanted: readonly GatewayCondition[], current: readonly Condition[] | undefined, generation: number | undefined): Condition[] {
  return wanted.map((w) => {
    const had = current?.find((c) => c.type === w.type);
    return {
      type: w.type,
      status: w.status,
      reason: w.reason,
      message: w.message,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime: had?.status === w.status && had.lastTransitionTime ? had.lastTransitionTime : now(),
    };
  });
}

/** The object's next status (the parts meshward owns replaced), from its current one. */
export function nextStatus(want: GatewayApiStatus, current: Record<string, unknown> | undefined, generation: number | undefined): Record<string, unknown> {
  const status: Record<string, unknown> = { ...(current ?? {}) };
  if (want.conditions !== undefined) status["conditions"] = conditions(want.conditions, current?.["conditions"] as Condition[] | undefined, generation);
  if (want.listeners !== undefined) {
    const before = (current?.["listeners"] as { name: string; conditions?: Condition[] }[] | undefined) ?? [];
    status["listeners"] = want.listeners.map((l) => ({
      name: l.name,
      attachedRoutes: l.attachedRoutes,
      supportedKinds: l.supportedKinds,
      conditions: conditions(l.conditions, before.find((b) => b.name === l.name)?.conditions, generation),
    }));
  }
  if (want.parents !== undefined) {
    const before = (current?.["parents"] as { controllerName?: string; parentRef: Record<string, unknown>; conditions?: Condition[] }[] | undefined) ?? [];
    const sameRef = (a: Record<string, unknown>, b: Record<string, unknown>): boolean => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
    status["parents"] = [
      ...before.filter((p) => p.controllerName !== ISTIO_CONTROLLER),
      ...want.parents.map((p) => ({
        parentRef: p.parentRef,
        controllerName: p.controllerName,
        conditions: conditions(p.conditions, before.find((b) => b.controllerName === ISTIO_CONTROLLER && sameRef(b.parentRef, p.parentRef))?.conditions, generation),
      })),
    ];
  }
  return status;
}

/** Equal but for transition times (which only change with a status). */
function sameStatus(a: unknown, b: unknown): boolean {
  const strip = (v: unknown): string => JSON.stringify(v, (k, x: unknown) => (k === "lastTransitionTime" ? undefined : x));
  return strip(a) === strip(b);
}

/** Writes the Gateway API statuses of every snapshot while this replica holds the Lease. */
export class GatewayStatusWriter {
  private readonly client: KubeClient;
  private readonly log: (line: string) => void;
  private readonly loop = new LeaderWrites(() => this.pass(), RETRY_MS);
  private desired = new Map<string, GatewayApiStatus>();
  /** key -> the status last written (as computed), so an unchanged one is not written again. */
  private readonly written = new Map<string, { readonly text: string; readonly want: GatewayApiStatus }>();
  /** Writes done, for tests and /debug. */
  writes = 0;

  constructor(private readonly opts: StatusWriterOptions) {
    this.client = new KubeClient(opts.kubeConfig);
    this.log = opts.log ?? (() => undefined);
  }

  /** The statuses of the current snapshot's Gateway API objects. */
  update(statuses: readonly GatewayApiStatus[]): void {
    const next = new Map<string, GatewayApiStatus>();
    for (const s of statuses) {
      if (s.origin.source !== "kubernetes" || s.origin.cluster !== this.opts.clusterId) continue;
      next.set(`${s.kind} ${s.namespace}/${s.name}`, s);
    }
    this.desired = next;
    this.loop.kick();
  }

  setActive(active: boolean): void {
    if (active) this.written.clear(); // a new holder checks every object once
    this.loop.setActive(active);
  }

  /** Resolves when every wanted write is done. */
  idle(): Promise<void> {
    return this.loop.idle();
  }

  /** One pass over what is wanted; false if a write failed. */
  private async pass(): Promise<boolean> {
    let ok = true;
    for (const [key, want] of this.desired) {
      const text = JSON.stringify([want.generation, want.conditions, want.listeners, want.parents]);
      if (this.written.get(key)?.text === text) continue;
      if (await this.write(want)) this.written.set(key, { text, want });
      else ok = false;
    }
    for (const [key, had] of [...this.written]) {
      if (this.desired.has(key)) continue;
      // A route no longer attached to any Gateway of ours loses our parents[] entries (others' stay).
      if (had.want.parents !== undefined && !(await this.write({ ...had.want, parents: [] }))) {
        ok = false;
        continue;
      }
      this.written.delete(key);
    }
    return ok;
  }

  private async write(want: GatewayApiStatus): Promise<boolean> {
    const resource = byKind.get(want.kind);
    if (resource === undefined) return true;
    const result = await replaceStatus(
      this.client,
      `${collectionPath(resource, want.namespace)}/${want.name}`,
      (o) => {
        const status = nextStatus(want, o.status, o.metadata.generation);
        return sameStatus(status, o.status) ? undefined : status;
      },
      (why) => this.log(`meshward gateway status: ${want.kind} ${want.namespace}/${want.name}: ${why}`),
    );
    if (result === "written") this.writes += 1;
    return result !== "failed";
  }
}
