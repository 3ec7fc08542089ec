// The risk engine: a signal in, the workload's updated risk score and the verdicts of every
// RuntimePolicy rule it triggers out. Pure state machine over an injected clock: no I/O, no timers.
import type { WorkloadIdentity } from "../security/identity.js";
import type { Clock } from "./clock.js";
import { selectsPod, triggerMatches, type EnforcementAction, type EnforcementScope, type RuntimePolicy } from "./runtime-policy.js";
import { combinedScore, decayed, DEFAULT_RISK_HALF_LIFE_MS, SEVERITY_POINTS, type StaticRisk } from "./scoring.js";
import { podRef, type RuntimeSignal, type SignalPod } from "./signal.js";

export const DEFAULT_TRUST_DOMAIN = "cluster.local";

/** What the engine remembers of one pod; persisted by the audit store so restarts keep scores. */
export interface WorkloadRiskState {
  readonly podUid: string;
  readonly namespace: string;
  readonly podName: string;
  readonly serviceAccount: string;
  readonly staticScore: number;
  readonly staticFactors: readonly string[];
  /** Detection points at `asOfMs`, before decay since then. */
  readonly dynamicPoints: number;
  readonly asOfMs: number;
  readonly signals: number;
  readonly lastDetection?: string;
}

export interface WorkloadRisk extends WorkloadRiskState {
  /** Static plus decayed dynamic points at the time asked, capped at 100. */
  readonly score: number;
}

export interface Verdict {
  /** `<signal id>#<n>`: deterministic, so a replayed signal yields the same ids. */
  readonly id: string;
  readonly signalId: string;
  readonly policy: string;
  readonly rule: string;
  readonly action: EnforcementAction;
  readonly scope: EnforcementScope;
  readonly durationMs?: number;
  readonly pod: SignalPod;
  readonly identity: WorkloadIdentity;
  readonly riskScore: number;
  readonly reason: string;
  readonly decidedAtMs: number;
}

export interface Evaluation {
  readonly signal: RuntimeSignal;
  readonly scoreBefore: number;
  readonly scoreAfter: number;
  readonly risk: WorkloadRiskState;
  readonly verdicts: readonly Verdict[];
  readonly evaluatedAtMs: number;
}

export interface RiskEngineOptions {
  readonly clock: Clock;
  readonly halfLifeMs?: number;
  readonly trustDomain?: string;
}

export class RiskEngine {
  private policies: readonly RuntimePolicy[] = [];
  private readonly pods = new Map<string, WorkloadRiskState>();
  private readonly staticRisk = new Map<string, StaticRisk>();
  readonly halfLifeMs: number;
  private readonly trustDomain: string;

  constructor(private readonly opts: RiskEngineOptions) {
    this.halfLifeMs = opts.halfLifeMs ?? DEFAULT_RISK_HALF_LIFE_MS;
    this.trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  }

  setPolicies(policies: readonly RuntimePolicy[]): void {
    this.policies = policies;
  }

  /** Static risk from the pod spec (scoring.ts podSecurityFacts + staticPodRisk); a source calls this per pod. */
  setStaticRisk(podUid: string, risk: StaticRisk): void {
    this.staticRisk.set(podUid, risk);
    const s = this.pods.get(podUid);
    if (s) this.pods.set(podUid, { ...s, staticScore: risk.score, staticFactors: risk.factors });
  }

  /** The static risk a source set for this pod, if any. */
  staticRiskOf(podUid: string): StaticRisk | undefined {
    return this.staticRisk.get(podUid);
  }

  /** The pod is gone: its score must not follow a later pod that reuses nothing but the name. */
  forgetPod(podUid: string): void {
    this.pods.delete(podUid);
    this.staticRisk.delete(podUid);
  }

  /** Scores persisted before a restart. */
  restore(states: readonly WorkloadRiskState[]): void {
    for (const s of states) this.pods.set(s.podUid, s);
  }

  states(): WorkloadRiskState[] {
    return [...this.pods.values()];
  }

  private scoreAt(s: WorkloadRiskState, atMs: number): number {
    return combinedScore(s.staticScore, decayed(s.dynamicPoints, atMs - s.asOfMs, this.halfLifeMs));
  }

  risk(podUid: string): WorkloadRisk | undefined {
    const s = this.pods.get(podUid);
    return s && { ...s, score: this.scoreAt(s, this.opts.clock.nowMs()) };
  }

  /** Every known workload, highest score first. */
  risks(): WorkloadRisk[] {
    const now = this.opts.clock.nowMs();
    return [...this.pods.values()]
      .map((s) => ({ ...s, score: this.scoreAt(s, now) }))
      .sort((a, b) => b.score - a.score || a.podUid.localeCompare(b.podUid));
  }

  evaluate(signal: RuntimeSignal): Evaluation {
    const now = this.opts.clock.nowMs();
    const pod = signal.pod;
    const stat = this.staticRisk.get(pod.uid);
    const prev: WorkloadRiskState = this.pods.get(pod.uid) ?? {
      podUid: pod.uid,
      namespace: pod.namespace,
      podName: pod.name,
      serviceAccount: pod.serviceAccount,
      staticScore: stat?.score ?? 0,
      staticFactors: stat?.factors ?? [],
      dynamicPoints: 0,
      asOfMs: now,
      signals: 0,
    };
    const scoreBefore = this.scoreAt(prev, now);
    const risk: WorkloadRiskState = {
      ...prev,
      dynamicPoints: decayed(prev.dynamicPoints, now - prev.asOfMs, this.halfLifeMs) + SEVERITY_POINTS[signal.detection.severity],
      asOfMs: now,
      signals: prev.signals + 1,
      lastDetection: signal.detection.id,
    };
    this.pods.set(pod.uid, risk);
    const scoreAfter = this.scoreAt(risk, now);
    const identity: WorkloadIdentity = { trustDomain: this.trustDomain, namespace: pod.namespace, serviceAccount: pod.serviceAccount };
    const verdicts: Verdict[] = [];
    for (const policy of this.policies) {
      if (!selectsPod(policy, pod)) continue;
      for (const rule of policy.rules) {
        if (!triggerMatches(rule.trigger, signal, scoreAfter)) continue;
        verdicts.push({
          id: `${signal.id}#${verdicts.length}`,
          signalId: signal.id,
          policy: policy.ref,
          rule: rule.name,
          action: rule.action,
          scope: rule.scope,
          ...(rule.durationMs !== undefined ? { durationMs: rule.durationMs } : {}),
          pod,
          identity,
          riskScore: scoreAfter,
          reason: `${signal.detection.id} (${signal.detection.severity}, ${signal.detection.technique}) in ${podRef(pod)}, risk ${Math.round(scoreAfter)}: ${policy.ref} ${rule.name}`,
          decidedAtMs: now,
        });
      }
    }
    return { signal, scoreBefore, scoreAfter, risk, verdicts, evaluatedAtMs: now };
  }
}
