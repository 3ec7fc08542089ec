// The risk stage as the control plane runs it: one object that owns the engine, the enforcement
// set and the audit store, takes signals from the signal service, and tells the model when the
// enforcement overlay changed. Wiring:
//
//   signal service: map the agent's proto to RuntimeSignal (receivedAtMs = now), then
//     handleSignal(s); acknowledge to the agent after it returns (duplicates too).
//   onEnforcementChange(u): snapshot = model + overlay(podsOfIdentity); translate; with the
//     proxies the change touches, audit.recordTranslation(u.causes, proxyIds, now).
//   xDS: per response carrying that snapshot, audit.recordPush({signalIds: causes, ...});
//     per ACK/NACK, audit.recordAck(...). audit.chainLatency feeds /metrics.
//   CA: isIssuanceAllowed(identity, peer IP). Sources: setPolicies, setPodSpec, podDeleted.
import type { ConfigError, ConfigObject } from "../model/config.js";
import type { WorkloadIdentity } from "../security/identity.js";
import type { ProxyChange } from "../xds/types.js";
import { AuditStore, type AuditStoreOptions } from "./audit.js";
import { systemClock, type Clock } from "./clock.js";
import { enforcementOverlay, enforcementProxyChange, type DenyPolicySpec, type OverlayOptions } from "./enforcement-overlay.js";
import { RiskEngine, type Evaluation } from "./engine.js";
import { EnforcementSet, type Enforcement, type EnforcementChange, type EnforcementStore } from "./quarantine.js";
import { compileRuntimePolicies, DEFAULT_ROOT_NAMESPACE, type RuntimePolicy } from "./runtime-policy.js";
import { podSecurityFacts, staticPodRisk, type KubePodSpec } from "./scoring.js";
import { signalProblem, type RuntimeSignal } from "./signal.js";

/** How often expiry, releases made by the CLI, and unanswered chains are checked. */
export const RISK_TICK_MS = 250;
/** How often the audit store is pruned by age and row count. */
const PRUNE_EVERY_MS = 300_000;

export interface EnforcementUpdate {
  /** Signals whose enforcement this change carries (for the latency chain); empty for expiry and release. */
  readonly causes: readonly string[];
  /** Entries created or extended. */
  readonly applied: readonly EnforcementChange[];
  /** Entries ended here (expiry, pod deletion); a release by the CLI shows as `reloaded`. */
  readonly ended: readonly Enforcement[];
  /** The set was re-read because another process changed it. */
  readonly reloaded: boolean;
  /** The proxies whose configuration this changes (to push to and to wait for ACKs from). */
  readonly proxies: ProxyChange;
}

export interface RiskServiceOptions extends Pick<AuditStoreOptions, "retentionMs" | "maxRows" | "onChainComplete"> {
  readonly dataDir: string;
  readonly clock?: Clock;
  readonly trustDomain?: string;
  readonly rootNamespace?: string;
  readonly halfLifeMs?: number;
  /** Shares the active set beyond the audit database (Kubernetes: WorkloadEnforcement objects). */
  readonly enforcementStore?: (local: EnforcementStore) => EnforcementStore;
  /**
   * The overlay changed: rebuild the snapshot with overlay(), translate, then call
   * `audit.recordTranslation(update.causes, affectedProxyIds, now)`.
   */
  readonly onEnforcementChange?: (update: EnforcementUpdate) => void;
}

/** The signal cannot be attributed or read; the signal service answers INVALID_ARGUMENT. */
export class InvalidSignalError extends Error {}

export interface SignalOutcome {
  /** Already recorded (the agent redelivered it): acknowledge again, nothing else happened. */
  readonly duplicate: boolean;
  readonly evaluation?: Evaluation;
  readonly changes: readonly EnforcementChange[];
}

export class RiskService {
  readonly audit: AuditStore;
  readonly engine: RiskEngine;
  readonly enforcement: EnforcementSet;
  private policies: RuntimePolicy[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastPruneMs = 0;
  private readonly clock: Clock;

  constructor(private readonly opts: RiskServiceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.audit = AuditStore.open(opts.dataDir, {
      clock: this.clock,
      ...(opts.retentionMs !== undefined ? { retentionMs: opts.retentionMs } : {}),
      ...(opts.maxRows !== undefined ? { maxRows: opts.maxRows } : {}),
      ...(opts.onChainComplete ? { onChainComplete: opts.onChainComplete } : {}),
    });
    this.engine = new RiskEngine({
      clock: this.clock,
      ...(opts.halfLifeMs !== undefined ? { halfLifeMs: opts.halfLifeMs } : {}),
      ...(opts.trustDomain !== undefined ? { trustDomain: opts.trustDomain } : {}),
    });
    this.engine.restore(this.audit.query.riskStates());
    const local = this.audit.enforcementStore();
    this.enforcement = new EnforcementSet(opts.enforcementStore ? opts.enforcementStore(local) : local, this.clock);
  }

  /** RuntimePolicies from the sources (other kinds are ignored); a bad one is rejected alone and its last good version kept. */
  setPolicies(objects: readonly ConfigObject[]): ConfigError[] {
    const r = compileRuntimePolicies(objects, { rootNamespace: this.opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE }, this.policies);
    this.policies = r.policies;
    this.engine.setPolicies(r.policies);
    return r.errors;
  }

  setPodSpec(podUid: string, spec: KubePodSpec): void {
    this.engine.setStaticRisk(podUid, staticPodRisk(podSecurityFacts(spec)));
  }

  /**
   * The pod is deleted: its pod-scoped enforcement ends (its IP will be reused by another pod,
   * which must not inherit the DENY), and its score is forgotten.
   */
  podDeleted(podUid: string): void {
    this.engine.forgetPod(podUid);
    const ended = this.enforcement.active().filter((e) => e.scope === "pod" && e.pod.uid === podUid);
    for (const e of ended) this.enforcement.release(e.id, "pod-deleted");
    if (ended.length > 0) this.notify({ causes: [], applied: [], ended, reloaded: false });
  }

  /**
   * Records, evaluates and enforces one signal in a single durable transaction; acknowledge the
   * signal to the agent only after this returns. Throws InvalidSignalError, recording nothing,
   * for a signal that names no pod or has a malformed field. A crash before the commit loses nothing the
   * agent was told, and its redelivery is evaluated then.
   */
  handleSignal(signal: RuntimeSignal): SignalOutcome {
    const problem = signalProblem(signal);
    if (problem !== undefined) throw new InvalidSignalError(problem);
    const outcome = this.audit.db.transaction((): SignalOutcome => {
      if (this.audit.recordSignal(signal).duplicate) return { duplicate: true, changes: [] };
      const evaluation = this.engine.evaluate(signal);
      this.audit.recordEvaluation(evaluation);
      const changes: EnforcementChange[] = [];
      for (const v of evaluation.verdicts) {
        const c = this.enforcement.apply(v);
        if (c) changes.push(c);
      }
      return { duplicate: false, evaluation, changes };
    })();
    const applied = outcome.changes.filter((c) => c.event !== "unchanged");
    if (applied.length > 0) this.notify({ causes: [signal.id], applied, ended: [], reloaded: false });
    return outcome;
  }

  /**
   * Ends the entries `target` names (EnforcementSet.find) at once, here rather than through the
   * store (as `meshward quarantine release` does offline), so the proxies are pushed right away.
   */
  release(target: string, by: string): Enforcement[] {
    const ended = this.enforcement.release(target, by);
    if (ended.length > 0) this.notify({ causes: [], applied: [], ended, reloaded: false });
    return ended;
  }

  /** The AuthorizationPolicies enforcing the active set, for the model snapshot. */
  overlay(podsOfIdentity?: OverlayOptions["podsOfIdentity"]): ConfigObject<DenyPolicySpec>[] {
    return enforcementOverlay(this.enforcement.active(), {
      rootNamespace: this.opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE,
      ...(podsOfIdentity ? { podsOfIdentity } : {}),
    });
  }

  /** For the CA: pass the caller's pod IP (its peer address) so only the quarantined pod is refused. */
  isIssuanceAllowed(identity: WorkloadIdentity, podIp?: string): boolean {
    return this.enforcement.isIssuanceAllowed(identity, podIp);
  }

  /** Expiry, releases by the CLI, unanswered chains, retention; start() runs this on a timer. */
  tick(): void {
    const now = this.clock.nowMs();
    const expired = this.enforcement.expire();
    const reloaded = this.enforcement.reload();
    if (expired.length > 0 || reloaded) this.notify({ causes: [], applied: [], ended: expired, reloaded });
    this.audit.sweepChains();
    if (now - this.lastPruneMs >= PRUNE_EVERY_MS) {
      this.lastPruneMs = now;
      this.audit.prune(now);
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), RISK_TICK_MS);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.audit.close();
  }

  private notify(update: Omit<EnforcementUpdate, "proxies">): void {
    // A reload may have changed anything; otherwise only the entries named here changed.
    const proxies: ProxyChange = update.reloaded
      ? { all: true }
      : enforcementProxyChange([...update.applied.map((c) => c.enforcement), ...update.ended]);
    this.opts.onEnforcementChange?.({ ...update, proxies });
  }
}
