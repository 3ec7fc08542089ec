// The active enforcement actions (quarantine, isolate-egress, revoke): created from verdicts,
// persisted through an EnforcementStore so a control-plane restart keeps them in force, ended by
// expiry or by hand. The overlay they contribute to the model is in enforcement-overlay.ts.
import { createHash } from "node:crypto";
import type { WorkloadIdentity } from "../security/identity.js";
import type { Clock } from "./clock.js";
import type { Verdict } from "./engine.js";
import type { EnforcementAction, EnforcementScope } from "./runtime-policy.js";
import { podRef, type SignalPod } from "./signal.js";

export type EnforcingAction = Exclude<EnforcementAction, "alert">;

export interface Enforcement {
  /** Stable per (action, scope, target): a repeated verdict extends the existing entry. */
  readonly id: string;
  readonly action: EnforcingAction;
  readonly scope: EnforcementScope;
  readonly pod: SignalPod;
  readonly identity: WorkloadIdentity;
  readonly reason: string;
  readonly signalId: string;
  readonly verdictId: string;
  readonly policy: string;
  readonly createdAtMs: number;
  /** Absent: until released by hand. */
  readonly expiresAtMs?: number;
}

export type EnforcementEvent = "created" | "extended" | "released" | "expired";

/** Persistence for the active set; the SQLite one is enforcement-store.ts. */
export interface EnforcementStore {
  loadActive(): Enforcement[];
  /** Records a created or extended entry (and the audit action) durably before returning. */
  put(e: Enforcement, event: "created" | "extended", atMs: number): void;
  /** Ends an entry (and records the audit action) durably before returning. */
  end(e: Enforcement, event: "released" | "expired", atMs: number, by: string): void;
  /** Whether another process (for example `meshward quarantine release`) changed the store since the last load. */
  changedElsewhere(): boolean;
  /** Records an alert about an active entry in its audit trail (it stays in force). */
  alert(e: Enforcement, event: EnforcementAlert, reason: string, atMs: number): void;
}

/** Something kept part of an entry from being enforced: an address refused, an overlay object rejected. */
/**
 * `observed`: not an alert about a part that failed, but the record that this control plane
 * enforces a decision made in another cluster (multi-cluster: its WorkloadEnforcement was read there);
 * `refused`: this control plane's CA refused a certificate under such a decision.
 */
export type EnforcementAlert = "address-rejected" | "overlay-rejected" | "observed" | "refused";

export interface EnforcementChange {
  /** `unchanged`: the entry already covers this verdict (same or later expiry). */
  readonly event: "created" | "extended" | "unchanged";
  readonly enforcement: Enforcement;
}

const ID_PREFIX: Readonly<Record<EnforcingAction, string>> = { quarantine: "q", "isolate-egress": "e", revoke: "r" };

export function enforcementId(action: EnforcingAction, scope: EnforcementScope, pod: SignalPod): string {
  const target = scope === "identity" ? `sa:${pod.namespace}/${pod.serviceAccount}` : `pod:${pod.uid}`;
  return ID_PREFIX[action] + "-" + createHash("sha256").update(`${action}|${target}`).digest("hex").slice(0, 10);
}

/** A pod the CA is asked to issue for by a node agent, as the control plane places it. */
export interface IssuancePod {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  readonly ip?: string;
}

/** The caller of the CA as the policy sees it: its pod IPs (peer address, announced) and its pod when known. */
export interface IssuanceCaller {
  readonly ips: readonly string[];
  readonly pod?: { readonly namespace: string; readonly name: string };
}

function sameIdentity(a: WorkloadIdentity, b: WorkloadIdentity): boolean {
  return a.namespace === b.namespace && a.serviceAccount === b.serviceAccount && a.trustDomain === b.trustDomain;
}

/** The CA's refusal reason, the same for a local decision and another cluster's (`cluster`). */
export function withheldReason(blocking: readonly { readonly e: Enforcement; readonly cluster?: string }[]): string {
  return `certificates are withheld: ${blocking.map(({ e, cluster }) => `${e.action} ${e.id} (${e.reason})${cluster !== undefined ? ` decided in cluster ${cluster}` : ""}`).join("; ")}`;
}

/**
 * Whether one entry stops the CA from issuing to this caller: a quarantine or revoke of its
 * identity, or of its pod (any of its IPs, its namespace and name, or its uid).
 */
export function blocksIssuance(e: Enforcement, identity: WorkloadIdentity, ips: readonly string[], pod?: { readonly namespace: string; readonly name: string; readonly uid?: string }): boolean {
  if (e.action !== "quarantine" && e.action !== "revoke") return false;
  if (e.scope === "identity") return sameIdentity(e.identity, identity);
  return (
    (e.pod.ip !== "" && ips.includes(e.pod.ip)) ||
    (pod !== undefined && pod.name !== "" && e.pod.namespace === pod.namespace && e.pod.name === pod.name) ||
    (pod?.uid !== undefined && pod.uid !== "" && e.pod.uid === pod.uid)
  );
}

/** Later of two expiries, where absent means never. */
function laterExpiry(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : Math.max(a, b);
}

export class EnforcementSet {
  private readonly byId = new Map<string, Enforcement>();

  constructor(
    private readonly store: EnforcementStore,
    private readonly clock: Clock,
  ) {
    this.load();
  }

  private load(): void {
    this.byId.clear();
    for (const e of this.store.loadActive()) this.byId.set(e.id, e);
  }

  /** Re-reads the store if another process changed it; true if the active set may have changed. */
  reload(): boolean {
    if (!this.store.changedElsewhere()) return false;
    this.load();
    return true;
  }

  active(): readonly Enforcement[] {
    return [...this.byId.values()].sort((a, b) => a.createdAtMs - b.createdAtMs || a.id.localeCompare(b.id));
  }

  /** Turns a verdict into an enforcement; `alert` verdicts enforce nothing and return undefined. */
  apply(v: Verdict): EnforcementChange | undefined {
    if (v.action === "alert") return undefined;
    const now = this.clock.nowMs();
    const id = enforcementId(v.action, v.scope, v.pod);
    const expiresAtMs = v.durationMs === undefined ? undefined : now + v.durationMs;
    const existing = this.byId.get(id);
    if (existing) {
      const later = laterExpiry(existing.expiresAtMs, expiresAtMs);
      if (later === existing.expiresAtMs) return { event: "unchanged", enforcement: existing };
      const { expiresAtMs: _old, ...rest } = existing;
      const extended: Enforcement = { ...rest, ...(later !== undefined ? { expiresAtMs: later } : {}) };
      this.store.put(extended, "extended", now);
      this.byId.set(id, extended);
      return { event: "extended", enforcement: extended };
    }
    const e: Enforcement = {
      id,
      action: v.action,
      scope: v.scope,
      pod: v.pod,
      identity: v.identity,
      reason: v.reason,
      signalId: v.signalId,
      verdictId: v.id,
      policy: v.policy,
      createdAtMs: now,
      ...(expiresAtMs !== undefined ? { expiresAtMs } : {}),
    };
    this.store.put(e, "created", now);
    this.byId.set(id, e);
    return { event: "created", enforcement: e };
  }

  /**
   * Entries a user means by `target`: an enforcement id, a pod UID, a pod IP, `namespace/pod`, or a
   * bare pod name when it is unique across namespaces.
   */
  find(target: string): Enforcement[] {
    const all = this.active();
    const exact = all.filter((e) => e.id === target || e.pod.uid === target || e.pod.ip === target || podRef(e.pod) === target);
    if (exact.length > 0) return exact;
    const byName = all.filter((e) => e.pod.name === target);
    const namespaces = new Set(byName.map((e) => e.pod.namespace));
    if (namespaces.size > 1) {
      throw new Error(`"${target}" names pods in ${[...namespaces].sort().join(", ")}: use namespace/${target}`);
    }
    return byName;
  }

  /** Ends the entries `target` names (see find); `by` is recorded in the audit trail. */
  release(target: string, by: string): Enforcement[] {
    const found = this.find(target);
    const now = this.clock.nowMs();
    for (const e of found) {
      this.store.end(e, "released", now, by);
      this.byId.delete(e.id);
    }
    return found;
  }

  /** Records in the entry's audit trail that part of it could not be enforced (see EnforcementAlert). */
  alert(e: Enforcement, event: EnforcementAlert, reason: string): void {
    this.store.alert(e, event, reason, this.clock.nowMs());
  }

  /** Ends every entry whose expiry has passed. */
  expire(): Enforcement[] {
    const now = this.clock.nowMs();
    const due = this.active().filter((e) => e.expiresAtMs !== undefined && e.expiresAtMs <= now);
    for (const e of due) {
      this.store.end(e, "expired", now, "expiry");
      this.byId.delete(e.id);
    }
    return due;
  }

  /** When the next entry expires, for the caller's timer. */
  nextExpiryMs(): number | undefined {
    let next: number | undefined;
    for (const e of this.byId.values()) {
      if (e.expiresAtMs !== undefined && (next === undefined || e.expiresAtMs < next)) next = e.expiresAtMs;
    }
    return next;
  }

  /**
   * The entries that stop the CA from issuing to this caller: quarantine and revoke, by identity,
   * or by pod: any of the caller's pod IPs, or its pod's namespace and name (or uid) when known.
   */
  blockingIssuance(identity: WorkloadIdentity, podIps?: string | readonly string[], pod?: { readonly namespace: string; readonly name: string; readonly uid?: string }): Enforcement[] {
    const ips = podIps === undefined ? [] : typeof podIps === "string" ? [podIps] : podIps;
    return this.active().filter((e) => blocksIssuance(e, identity, ips, pod));
  }

  /**
   * The CA's decision: refused while an entry blocks the identity, the caller's own pod (its IPs, or
   * the pod its xDS stream announced) or, for a node agent's request, any of the `pods` it asks for
   * (by IP, uid or namespace/name; the agent's own address says nothing about them).
   */
  issuanceDecision(identity: WorkloadIdentity, caller: IssuanceCaller, pods?: readonly IssuancePod[]): { allowed: true } | { allowed: false; reason: string } {
    const blocking =
      pods === undefined
        ? this.blockingIssuance(identity, caller.ips, caller.pod)
        : [...new Set(pods.flatMap((p) => this.blockingIssuance(identity, p.ip !== undefined ? [p.ip] : [], p)))];
    if (blocking.length === 0) return { allowed: true };
    return { allowed: false, reason: withheldReason(blocking.map((e) => ({ e }))) };
  }

  /**
   * Whether the CA may issue a certificate. Pass the caller's pod IP (its peer address): a
   * pod-scoped quarantine blocks only that pod, other pods of the same service account still get
   * certificates.
   */
  isIssuanceAllowed(identity: WorkloadIdentity, podIp?: string): boolean {
    return this.blockingIssuance(identity, podIp).length === 0;
  }
}

/** Keeps entries in memory only; for unit tests and for a control plane run without a data dir. */
export class MemoryEnforcementStore implements EnforcementStore {
  readonly entries = new Map<string, Enforcement>();
  readonly events: { event: EnforcementEvent | EnforcementAlert; id: string; atMs: number; by?: string }[] = [];
  loadActive(): Enforcement[] {
    return [...this.entries.values()];
  }
  put(e: Enforcement, event: "created" | "extended", atMs: number): void {
    this.entries.set(e.id, e);
    this.events.push({ event, id: e.id, atMs });
  }
  end(e: Enforcement, event: "released" | "expired", atMs: number, by: string): void {
    this.entries.delete(e.id);
    this.events.push({ event, id: e.id, atMs, by });
  }
  changedElsewhere(): boolean {
    return false;
  }
  alert(e: Enforcement, event: EnforcementAlert, reason: string, atMs: number): void {
    this.events.push({ event, id: e.id, atMs, by: reason });
  }
}
