// Builders for risk tests: config objects as a file source would hand them over, and signals as
// the signal service would map them from the agent's protobuf.
import { parseAllDocuments } from "yaml";
import type { ConfigObject, ObjectMeta } from "../../src/model/config.js";
import type { RuntimeSignal, Severity, SignalPod } from "../../src/risk/signal.js";

/** Parses multi-document YAML into ConfigObjects the way the file source does (minimal). */
export function configObjects(text: string, file = "mesh-config/runtime-policy.yaml"): ConfigObject[] {
  return parseAllDocuments(text).map((doc, i) => {
    const o = doc.toJS() as { apiVersion: string; kind: string; metadata: Partial<ObjectMeta>; spec: unknown };
    return {
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: {
        name: o.metadata.name ?? "",
        namespace: o.metadata.namespace ?? "default",
        labels: o.metadata.labels ?? {},
        annotations: o.metadata.annotations ?? {},
        ...(o.metadata.creationTimestamp !== undefined ? { creationTimestamp: o.metadata.creationTimestamp } : {}),
      },
      spec: o.spec,
      origin: { file, document: i },
    };
  });
}

export function configObject(text: string, file?: string): ConfigObject {
  const [o] = configObjects(text, file);
  if (o === undefined) throw new Error("no document");
  return o;
}

export const podA: SignalPod = {
  uid: "0b6a1f3e-1111-4c1e-9a51-000000000001",
  namespace: "shop",
  name: "cart-7d9f-abcde",
  serviceAccount: "cart",
  labels: { app: "cart", version: "v1" },
  ip: "10.1.0.11",
};

export const podB: SignalPod = { ...podA, uid: "0b6a1f3e-1111-4c1e-9a51-000000000002", name: "cart-7d9f-fghij", ip: "10.1.0.12" };

/** Quarantine for an hour on any `escape.*` detection, mesh-wide. */
export const ESCAPE_QUARANTINE_POLICY = `apiVersion: meshward.io/v1alpha1
kind: RuntimePolicy
metadata: {name: escapes, namespace: istio-system}
spec:
  rules:
  - {name: escape, trigger: {detections: ['escape.*']}, action: QUARANTINE, duration: 1h}
`;

let seq = 0;

export function signal(opts: {
  id?: string;
  pod?: SignalPod;
  detection?: string;
  severity?: Severity;
  receivedAtMs?: number;
  eventTimeNs?: bigint;
} = {}): RuntimeSignal {
  const receivedAtMs = opts.receivedAtMs ?? 1_800_000_000_000;
  return {
    id: opts.id ?? `sig-${++seq}`,
    node: "node-1",
    pod: opts.pod ?? podA,
    container: { id: "c0ffee".padEnd(64, "0"), name: "app" },
    process: { pid: 4242, binary: "/usr/bin/nsenter", args: ["nsenter", "-t", "1", "-m", "sh"], uid: 0 },
    detection: { id: opts.detection ?? "escape.setns-host-mnt", severity: opts.severity ?? "high", technique: "T1611" },
    eventTimeNs: opts.eventTimeNs ?? BigInt(Math.round((receivedAtMs - 20) * 1000)) * 1000n,
    agentSentAtMs: receivedAtMs - 5,
    receivedAtMs,
  };
}
