// The node identity service of the agent: the socket, its two APIs, the pods' certificates and the
// identity cut. A detection at or above the cut severity on a pod cuts that pod's identity here, in
// the agent, as the signal is raised: before and independently of the control plane's verdict and
// push. `meshward agent` builds one from its flags (src/cli/agent.ts).
import { Severity, type Signal } from "../../gen/meshward/agent/v1/signals_pb.js";
import type { WithheldIdentity } from "../../gen/meshward/agent/v1/identity_pb.js";
import type { PodDirectory } from "../attribution/pod-directory.js";
import { WorkloadAttestor, type ExecutableSelector } from "./attestation.js";
import { IdentitySocket } from "./identity-socket.js";
import { PodCertificates, type PodCertificateIssuer, type RefusalTest } from "./pod-certificates.js";
import { registerSecretDiscovery } from "./sds-service.js";
import { registerWorkloadApi } from "./workload-api.js";

/** Detections at this severity or above cut the pod's identity unless configured otherwise. */
export const DEFAULT_CUT_SEVERITY = Severity.HIGH;

export interface NodeIdentityOptions {
  readonly node: string;
  readonly trustDomain: string;
  readonly socketPath: string;
  readonly socketMode?: number;
  readonly pods: PodDirectory;
  readonly cgroupV1Controller?: string;
  /** Optional: by `namespace/serviceAccount`, the only executables that get that identity. */
  readonly executableSelectors?: ReadonlyMap<string, readonly ExecutableSelector[]>;
  readonly issuer: PodCertificateIssuer;
  readonly isRefusal: RefusalTest;
  readonly ttlSeconds?: number;
  readonly cutHoldMs?: number;
  /** Re-issue every held certificate at least this often (see PodCertificatesOptions.recheckMs). */
  readonly recheckMs?: number;
  readonly cutSeverity?: Severity;
  readonly reattestIntervalMs?: number;
  readonly maxStreamsPerPod?: number;
  readonly maxConnectionsPerPod?: number;
  readonly log?: (msg: string) => void;
}

export class NodeIdentity {
  readonly certificates: PodCertificates;
  readonly socket: IdentitySocket;
  readonly attestor: WorkloadAttestor;
  private withheld: readonly WithheldIdentity[] = [];
  private reapply: NodeJS.Timeout | undefined;

  constructor(private readonly opts: NodeIdentityOptions) {
    this.attestor = new WorkloadAttestor({
      node: opts.node, trustDomain: opts.trustDomain, pods: opts.pods,
      ...(opts.cgroupV1Controller !== undefined ? { cgroupV1Controller: opts.cgroupV1Controller } : {}),
      ...(opts.executableSelectors !== undefined ? { executableSelectors: opts.executableSelectors } : {}),
    });
    this.certificates = new PodCertificates({
      issuer: opts.issuer, trustDomain: opts.trustDomain, isRefusal: opts.isRefusal,
      stillPlaced: (uid) => opts.pods.get(uid) !== undefined,
      ...(opts.ttlSeconds !== undefined ? { ttlSeconds: opts.ttlSeconds } : {}),
      ...(opts.cutHoldMs !== undefined ? { cutHoldMs: opts.cutHoldMs } : {}),
      ...(opts.recheckMs !== undefined ? { recheckMs: opts.recheckMs } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
    this.socket = new IdentitySocket({
      path: opts.socketPath, attestor: this.attestor,
      ...(opts.socketMode !== undefined ? { mode: opts.socketMode } : {}),
      ...(opts.reattestIntervalMs !== undefined ? { reattestIntervalMs: opts.reattestIntervalMs } : {}),
      ...(opts.maxStreamsPerPod !== undefined ? { maxStreamsPerPod: opts.maxStreamsPerPod } : {}),
      ...(opts.maxConnectionsPerPod !== undefined ? { maxConnectionsPerPod: opts.maxConnectionsPerPod } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
    const deps = { socket: this.socket, certificates: this.certificates, ...(opts.log ? { log: opts.log } : {}) };
    registerSecretDiscovery(deps);
    registerWorkloadApi(deps);
  }

  start(): Promise<void> {
    return this.socket.start();
  }

  /** A detection from this agent: cuts the pod's identity when severe enough. */
  onSignal(s: Signal): void {
    const uid = s.pod?.uid;
    if (uid === undefined || uid === "" || s.severity < (this.opts.cutSeverity ?? DEFAULT_CUT_SEVERITY)) return;
    const what = `${s.detection?.id ?? "detection"} (${Severity[s.severity].toLowerCase()}) by ${s.process?.binary ?? "?"} pid ${s.process?.pid ?? "?"}`;
    this.certificates.cut(uid, `runtime detection ${what}`, this.opts.pods.get(uid));
  }

  /**
   * The control plane's list of withheld identities (NodeIdentityService): every pod of this node it
   * names is cut now, and a pod it no longer names is released (the control plane released it).
   * Kept and applied again each second, for pods that appear on the node later.
   */
  applyWithheld(entries: readonly WithheldIdentity[]): void {
    this.withheld = entries;
    const pods = this.opts.pods.all();
    const now = new Map<string, string>();
    for (const e of entries) {
      for (const p of pods) {
        const hit = e.scope === "identity"
          ? p.namespace === e.namespace && p.serviceAccount === e.serviceAccount
          : (e.podUid !== "" && p.uid === e.podUid) || (p.namespace === e.namespace && p.name === e.podName);
        if (hit && !now.has(p.uid)) now.set(p.uid, e.reason);
      }
    }
    for (const [uid, reason] of now) this.certificates.cut(uid, `the control plane withholds it: ${reason}`, this.opts.pods.get(uid), true);
    for (const uid of this.certificates.cutByControlPlane()) if (!now.has(uid)) this.certificates.release(uid);
    if (this.reapply === undefined) {
      this.reapply = setInterval(() => this.applyWithheld(this.withheld), 1000);
      this.reapply.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.reapply !== undefined) clearInterval(this.reapply);
    this.certificates.close();
    await this.socket.stop();
  }
}
