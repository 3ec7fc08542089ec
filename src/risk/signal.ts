// What the risk engine consumes: one detection from a node agent, already attributed to a pod.
// The agent's protobuf (proto/meshward/agent/...) is mapped onto this by the signal service; the
// engine depends on this shape only.
import { isIP } from "node:net";

export const SEVERITIES = ["low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export function isSeverity(v: unknown): v is Severity {
  return typeof v === "string" && (SEVERITIES as readonly string[]).includes(v);
}

/** The pod a signal is about, as the agent attributed it (cgroup -> pod UID -> kubelet pod list). */
export interface SignalPod {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Pod IP; enforcement keys peer-side DENY rules on it. */
  readonly ip: string;
  /** The Kubernetes cluster the control plane knows the pod in (multi-cluster audit trail). */
  readonly cluster?: string;
}

export interface RuntimeSignal {
  /** Unique per detection, assigned by the agent; delivery is at-least-once, so this de-duplicates. */
  readonly id: string;
  /** Node name of the reporting agent. */
  readonly node: string;
  readonly pod: SignalPod;
  readonly container: { readonly id: string; readonly name: string };
  readonly process: {
    readonly pid: number;
    readonly binary: string;
    readonly args: readonly string[];
    readonly uid: number;
  };
  readonly detection: {
    /** Detection id, dotted (`escape.setns-host-mnt`), matched by RuntimePolicy triggers. */
    readonly id: string;
    readonly severity: Severity;
    /** MITRE ATT&CK technique, e.g. `T1611`. */
    readonly technique: string;
  };
  /** Wall-clock time of the syscall in ns since the Unix epoch (the agent converts from kernel time). */
  readonly eventTimeNs: bigint;
  /** The kernel's monotonic timestamp, for ordering events of one node; optional. */
  readonly monotonicNs?: bigint;
  /** When the agent sent the signal, ms since the epoch (agent clock). */
  readonly agentSentAtMs?: number;
  /** When the control plane received it, ms since the epoch (control-plane clock). */
  readonly receivedAtMs: number;
  /**
   * The agent's whole record of the detection (its protobuf as JSON: evidence, exec ids, parent
   * chain, ...), kept verbatim in the audit trail so the signal API can return what was sent.
   */
  readonly agentRecord?: unknown;
}

/** `namespace/name`, how the CLI and audit name a pod. */
export function podRef(p: Pick<SignalPod, "namespace" | "name">): string {
  return `${p.namespace}/${p.name}`;
}

/**
 * What is wrong with a signal as mapped from the agent, or undefined if nothing is. The signal
 * service rejects such a signal (and tells the agent why) rather than enforce on a guessed pod.
 */
export function signalProblem(s: RuntimeSignal): string | undefined {
  const missing = (
    [
      ["id", s.id],
      ["node", s.node],
      ["pod.uid", s.pod.uid],
      ["pod.namespace", s.pod.namespace],
      ["pod.name", s.pod.name],
      ["pod.serviceAccount", s.pod.serviceAccount],
      ["detection.id", s.detection.id],
    ] as const
  ).find(([, v]) => v === "");
  if (missing) return `signal ${s.id || "(no id)"}: ${missing[0]} is empty`;
  if (!isSeverity(s.detection.severity)) return `signal ${s.id}: detection.severity "${String(s.detection.severity)}" is not one of ${SEVERITIES.join(", ")}`;
  if (s.pod.ip !== "" && isIP(s.pod.ip) === 0) return `signal ${s.id}: pod.ip "${s.pod.ip}" is not an IP address`;
  if (s.eventTimeNs <= 0n) return `signal ${s.id}: eventTimeNs must be positive`;
  return undefined;
}
