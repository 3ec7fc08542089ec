// The agent's signals in the risk stage: the signal service's records go to the audit database
// (the system of record) through RiskService.handleSignal, so a batch is acknowledged to the agent
// only once each of its signals is recorded, evaluated and enforced durably. The agent attributes
// a signal to a pod (uid, namespace, name, service account); the pod's IP, which enforcement keys
// on, and the node it runs on come from the pod directory (the connected proxies announce both).
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Severity, SignalSchema, StoredSignalSchema, type Signal, type StoredSignal } from "../gen/meshward/agent/v1/signals_pb.js";
import { create } from "@bufbuild/protobuf";
import type { SignalPodRef, SignalRecorder } from "../signals/service.js";
import type { SignalQuery } from "../signals/store.js";
import type { WorkloadIdentity } from "../security/identity.js";
import type { Clock } from "./clock.js";
import type { RiskService } from "./risk-service.js";
import { signalProblem, type RuntimeSignal, type Severity as RiskSeverity } from "./signal.js";

/** Where a pod runs and which IP it has, as far as the control plane knows. */
export interface PodLocation {
  readonly ip: string;
  readonly node?: string;
  /** The pod's service account as the control plane knows it; it overrides the agent's word. */
  readonly serviceAccount?: string;
  /** Known to the control plane (Kubernetes Pods): they replace what the agent reported. */
  readonly uid?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** The Kubernetes cluster the pod runs in, when the control plane knows it. */
  readonly cluster?: string;
}

/**
 * Where the control plane learns which pods exist, their addresses and nodes: the one seam between
 * the risk stage and a pod source. Today the connected proxies (proxy-pods.ts); a Kubernetes
 * source supplies Pods instead, so addresses then come from the apiserver, not from proxies.
 */
export interface PodDirectory {
  /** The pod a node agent names (namespace and name), if known. */
  locate(pod: SignalPodRef): PodLocation | undefined;
  /** Every known pod of an identity with its IP, for identity-scoped enforcement. */
  podsOfIdentity(id: WorkloadIdentity): readonly { readonly ip: string }[];
}

/** The agent reports INFO too; the risk engine's lowest severity is low. */
const SEVERITIES: Readonly<Partial<Record<Severity, RiskSeverity>>> = {
  [Severity.INFO]: "low",
  [Severity.LOW]: "low",
  [Severity.MEDIUM]: "medium",
  [Severity.HIGH]: "high",
  [Severity.CRITICAL]: "critical",
};

/** The agent's protobuf as the risk engine's signal; `pod.ip` from the directory ("" if unknown). */
export function runtimeSignalOf(s: Signal, location: PodLocation | undefined, receivedAtMs: number, agentSentAtMs?: number): RuntimeSignal {
  const t = s.eventTime;
  return {
    id: s.id,
    node: s.node,
    pod: {
      uid: s.pod?.uid ?? "",
      namespace: s.pod?.namespace ?? "",
      name: s.pod?.name ?? "",
      // The identity an identity-scoped enforcement hits: never only the agent's word.
      serviceAccount: location?.serviceAccount ?? s.pod?.serviceAccount ?? "",
      labels: { ...(location?.labels ?? s.pod?.labels ?? {}) },
      ip: location?.ip ?? "",
      ...(location?.cluster !== undefined ? { cluster: location.cluster } : {}),
    },
    container: { id: s.container?.id ?? "", name: s.container?.name ?? "" },
    process: { pid: s.process?.pid ?? 0, binary: s.process?.binary ?? "", args: [...(s.process?.args ?? [])], uid: s.process?.uid ?? 0 },
    detection: {
      id: s.detection?.id ?? "",
      // An unknown severity stays as its enum name, which signalProblem rejects by name.
      severity: SEVERITIES[s.severity] ?? (Severity[s.severity] as RiskSeverity),
      technique: s.detection?.mitreTechnique ?? "",
    },
    eventTimeNs: t === undefined ? 0n : t.seconds * 1_000_000_000n + BigInt(t.nanos),
    receivedAtMs,
    ...(agentSentAtMs !== undefined ? { agentSentAtMs } : {}),
    agentRecord: toJson(SignalSchema, s),
  };
}

interface SignalRow {
  raw: string;
  received_us: number;
}

/** The signal service's recorder over the risk stage. */
export class AuditSignalRecorder implements SignalRecorder {
  constructor(
    private readonly risk: RiskService,
    private readonly pods: PodDirectory,
    private readonly clock: Clock,
  ) {}

  /** For the service's admission: a signal the risk stage would refuse is rejected for good. */
  problem(s: Signal): string | undefined {
    if (s.pod === undefined || s.pod.uid === "") return undefined; // recorded only, see add()
    return signalProblem(runtimeSignalOf(s, this.pods.locate(s.pod), this.clock.nowMs()));
  }

  podNode(pod: SignalPodRef): string | undefined {
    return this.pods.locate(pod)?.node;
  }

  add(signals: readonly Signal[], _received?: Date, agentSentAtMs?: number): Signal[] {
    const fresh: Signal[] = [];
    for (const s of signals) {
      const rs = runtimeSignalOf(s, s.pod ? this.pods.locate(s.pod) : undefined, this.clock.nowMs(), agentSentAtMs);
      // A detection outside any pod cannot be enforced on; it is still part of the record.
      const duplicate = rs.pod.uid === "" ? this.risk.audit.recordSignal(rs).duplicate : this.risk.handleSignal(rs).duplicate;
      if (!duplicate) fresh.push(s);
    }
    return fresh;
  }

  query(q: SignalQuery): StoredSignal[] {
    const parts: string[] = [];
    const params: (string | number)[] = [];
    const eq = (col: string, v: string | undefined): void => {
      if (v) (parts.push(`${col} = ?`), params.push(v));
    };
    eq("node", q.node);
    eq("pod_uid", q.podUid);
    eq("namespace", q.namespace);
    eq("detection", q.detectionId);
    if (q.since) (parts.push("event_us >= ?"), params.push(q.since.getTime() * 1000));
    const where = parts.length > 0 ? `WHERE ${parts.join(" AND ")}` : "";
    const rows = this.risk.audit.db
      .prepare(`SELECT raw, received_us FROM signals ${where} ORDER BY received_us DESC LIMIT ?`)
      .all(...params, q.limit ?? 1000) as SignalRow[];
    const out: StoredSignal[] = [];
    for (const r of rows.reverse()) {
      const record = (JSON.parse(r.raw) as { agentRecord?: JsonValue }).agentRecord;
      if (record === undefined) continue; // recorded by another path (tests, replays), not an agent's
      out.push(create(StoredSignalSchema, { signal: fromJson(SignalSchema, record), receivedTime: timestampFromMs(Math.floor(r.received_us / 1000)) }));
    }
    return out;
  }
}
