// Risk score arithmetic: static risk read from a pod spec, points per detection severity, and
// exponential decay so that a workload that stays quiet returns to its baseline.
import type { Severity } from "./signal.js";

/** Detection points halve every 30 minutes: one `high` alone (40) falls under 10 in an hour. */
export const DEFAULT_RISK_HALF_LIFE_MS = 30 * 60_000;
export const MAX_RISK_SCORE = 100;
/** Static risk alone never reaches the top: a privileged pod is exposed, not yet compromised. */
export const MAX_STATIC_RISK = 60;

export const SEVERITY_POINTS: Readonly<Record<Severity, number>> = { low: 5, medium: 15, high: 40, critical: 70 };

/** The security-relevant facts of a pod spec, as a source reads them (see podSecurityFacts). */
export interface PodSecurityFacts {
  readonly privileged: boolean;
  readonly hostPath: boolean;
  readonly hostPID: boolean;
  readonly hostNetwork: boolean;
  readonly hostIPC: boolean;
  /** Capabilities added by any container, upper case without `CAP_`. */
  readonly addedCapabilities: readonly string[];
  /** Some container runs as uid 0 (explicitly, or by not asking for non-root). */
  readonly runAsRoot: boolean;
  /** Some container sets allowPrivilegeEscalation: true (setuid binaries may gain privileges). */
  readonly allowPrivilegeEscalation?: boolean;
}

export interface StaticRisk {
  readonly score: number;
  /** Why, for `meshward risk`: `privileged`, `hostPath`, `cap:SYS_ADMIN`, ... */
  readonly factors: readonly string[];
}

const FACT_POINTS = { privileged: 40, hostPID: 20, hostNetwork: 15, hostIPC: 10, hostPath: 15, runAsRoot: 10, allowPrivilegeEscalation: 5 } as const;
/** Capabilities that make an escape one step away weigh more than the rest (5 each). */
const CAPABILITY_POINTS: Readonly<Record<string, number>> = {
  SYS_ADMIN: 25,
  SYS_MODULE: 25,
  SYS_PTRACE: 15,
  NET_ADMIN: 10,
  DAC_READ_SEARCH: 10,
  BPF: 15,
};

export function staticPodRisk(f: PodSecurityFacts): StaticRisk {
  const factors: string[] = [];
  let score = 0;
  for (const k of Object.keys(FACT_POINTS) as (keyof typeof FACT_POINTS)[]) {
    if (f[k]) {
      factors.push(k);
      score += FACT_POINTS[k];
    }
  }
  for (const cap of [...new Set(f.addedCapabilities)].sort()) {
    factors.push(`cap:${cap}`);
    score += CAPABILITY_POINTS[cap] ?? 5;
  }
  return { score: Math.min(MAX_STATIC_RISK, score), factors };
}

/** The subset of a Kubernetes PodSpec that static risk reads. */
export interface KubeSecurityContext {
  readonly privileged?: boolean;
  readonly runAsUser?: number;
  readonly runAsNonRoot?: boolean;
  readonly allowPrivilegeEscalation?: boolean;
  readonly capabilities?: { readonly add?: readonly string[] };
}
export interface KubePodSpec {
  readonly hostPID?: boolean;
  readonly hostNetwork?: boolean;
  readonly hostIPC?: boolean;
  readonly securityContext?: { readonly runAsUser?: number; readonly runAsNonRoot?: boolean };
  readonly volumes?: readonly { readonly hostPath?: unknown }[];
  readonly containers?: readonly { readonly securityContext?: KubeSecurityContext }[];
  readonly initContainers?: readonly { readonly securityContext?: KubeSecurityContext }[];
}

export function podSecurityFacts(spec: KubePodSpec): PodSecurityFacts {
  const containers = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
  const caps = containers.flatMap((c) => c.securityContext?.capabilities?.add ?? []).map((c) => c.toUpperCase().replace(/^CAP_/, ""));
  const runAsRoot = containers.some((c) => {
    const uid = c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
    const nonRoot = c.securityContext?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
    // Without runAsUser the image's USER decides, which the spec does not show: unless the pod
    // demands non-root, assume root as the kubelet would allow it.
    return uid === 0 || (uid === undefined && nonRoot !== true);
  });
  return {
    privileged: containers.some((c) => c.securityContext?.privileged === true),
    hostPath: (spec.volumes ?? []).some((v) => v.hostPath !== undefined),
    hostPID: spec.hostPID === true,
    hostNetwork: spec.hostNetwork === true,
    hostIPC: spec.hostIPC === true,
    addedCapabilities: caps,
    runAsRoot,
    // Explicitly true only: Kubernetes' default (unset) is also "allowed", but every pod would then
    // score it and it would say nothing; privileged pods score privileged already.
    allowPrivilegeEscalation: containers.some((c) => c.securityContext?.allowPrivilegeEscalation === true),
  };
}

/** `points` after `elapsedMs` with the given half-life. */
export function decayed(points: number, elapsedMs: number, halfLifeMs: number): number {
  if (elapsedMs <= 0) return points;
  return points * Math.pow(2, -elapsedMs / halfLifeMs);
}

export function combinedScore(staticScore: number, dynamicPoints: number): number {
  return Math.min(MAX_RISK_SCORE, staticScore + dynamicPoints);
}
