// One control-plane replica on Kubernetes: what `meshward serve --kubeconfig` adds beside the
// sources. Every replica signs with the root kept in Secrets and serves xDS and the CA; the holder
// of the Lease does the work that must happen once (the istio-ca-root-cert ConfigMaps here; status
// and enforcement clean-up hook onto `elector`).
import type { KubeConfig } from "@kubernetes/client-node";
import { hostname } from "node:os";
import type { TrustBundle } from "../ca/trust-bundle.js";
import { loadOrCreateKubeSigner, type KubeSigner } from "../ca/kube-signer-store.js";
import type { CaKeyType } from "../ca/signer-store.js";
import { LeaderElector } from "./leader.js";
import { KubePodDirectory, type PodRiskSink } from "./pods.js";
import { KubeEnforcementSync } from "./enforcement-store.js";
import { ensureCrd, WORKLOAD_ENFORCEMENT_DEFINITION } from "./crds.js";
import { StatusWriter } from "./status.js";
import { GatewayStatusWriter } from "./gateway-status.js";
import { DEFAULT_CLUSTER_ID } from "../sources/kubernetes.js";
import { RootCertPublisher } from "./root-cert-publisher.js";

/** istiod's namespace. */
export const DEFAULT_CONTROL_PLANE_NAMESPACE = "istio-system";

export interface KubeReplicaOptions {
  readonly kubeConfig: KubeConfig;
  /** Where the CA Secrets and the Lease live (default istio-system). */
  readonly namespace?: string;
  /** holderIdentity in the Lease (default $POD_NAME, else <hostname>-<pid>). */
  readonly replicaId?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** The cluster's id in the Kubernetes source's origins (default Kubernetes): whose objects get status. */
  readonly clusterId?: string;
}

export function defaultReplicaId(): string {
  return process.env["POD_NAME"] || `${hostname()}-${process.pid}`;
}

export class KubeReplica {
  readonly namespace: string;
  readonly elector: LeaderElector;
  /** Pods from the apiserver, for the risk stage (set the sink with `podRisk`). */
  readonly pods: KubePodDirectory;
  /** Quarantines shared through WorkloadEnforcement objects (give `enforcement.storeOver` to the risk stage). */
  readonly enforcement: KubeEnforcementSync;
  /** Rejected objects' status conditions (feed it every snapshot's errors). */
  readonly status: StatusWriter;
  /** Gateway API objects' status (feed it every snapshot's conversion statuses). */
  readonly gatewayStatus: GatewayStatusWriter;
  private sink: PodRiskSink | undefined;
  private publisher: RootCertPublisher | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    readonly opts: KubeReplicaOptions,
    private readonly log: (line: string) => void,
  ) {
    this.namespace = opts.namespace ?? DEFAULT_CONTROL_PLANE_NAMESPACE;
    this.elector = new LeaderElector({
      kubeConfig: opts.kubeConfig,
      namespace: this.namespace,
      identity: opts.replicaId ?? defaultReplicaId(),
      log,
      ...(opts.leaseDurationMs !== undefined ? { leaseDurationMs: opts.leaseDurationMs } : {}),
      ...(opts.renewDeadlineMs !== undefined ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
      ...(opts.retryPeriodMs !== undefined ? { retryPeriodMs: opts.retryPeriodMs } : {}),
    });
    this.pods = new KubePodDirectory(opts.kubeConfig, () => this.sink, log, opts.clusterId ?? DEFAULT_CLUSTER_ID);
    this.enforcement = new KubeEnforcementSync(opts.kubeConfig, log);
    this.status = new StatusWriter({ kubeConfig: opts.kubeConfig, clusterId: opts.clusterId ?? DEFAULT_CLUSTER_ID, log });
    this.gatewayStatus = new GatewayStatusWriter({ kubeConfig: opts.kubeConfig, clusterId: opts.clusterId ?? DEFAULT_CLUSTER_ID, log });
    this.elector.on("leading", () => {
      this.status.setActive(true);
      this.gatewayStatus.setActive(true);
    });
    this.elector.on("stopped-leading", () => {
      this.status.setActive(false);
      this.gatewayStatus.setActive(false);
    });
  }

  /** Where pod specs (static risk) and deletions go. */
  set podRisk(sink: PodRiskSink) {
    this.sink = sink;
  }

  /** The CA's root from Secret cacerts or istio-ca-secret (created if absent; one root for all replicas). */
  loadSigner(trustDomain: string, keyType?: CaKeyType): Promise<KubeSigner> {
    return loadOrCreateKubeSigner({ kubeConfig: this.opts.kubeConfig, namespace: this.namespace, trustDomain, log: this.log, ...(keyType ? { keyType } : {}) });
  }

  /**
   * Lists what the risk stage needs before anything is served (shared enforcement, Pods), so a
   * replica never issues a certificate or serves a proxy before it knows the cluster's quarantines.
   */
  async startWatches(): Promise<void> {
    await ensureCrd(this.opts.kubeConfig, WORKLOAD_ENFORCEMENT_DEFINITION);
    await Promise.all([this.pods.start(), this.enforcement.start()]);
  }

  /** Starts the root ConfigMaps and campaigning (after startWatches); the ConfigMaps follow `bundle`. */
  async start(bundle: TrustBundle): Promise<void> {
    const publisher = new RootCertPublisher({ kubeConfig: this.opts.kubeConfig, rootsPem: () => bundle.pem(), log: this.log });
    this.publisher = publisher;
    this.unsubscribe = bundle.onChange(() => publisher.resyncAll());
    await publisher.start();
    this.elector.on("leading", () => publisher.setActive(true));
    this.elector.on("stopped-leading", () => publisher.setActive(false));
    this.elector.start();
  }

  get rootCertPublisher(): RootCertPublisher | undefined {
    return this.publisher;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.elector.stop();
    this.status.setActive(false);
    this.gatewayStatus.setActive(false);
    await this.status.idle();
    await this.gatewayStatus.idle();
    await this.publisher?.stop();
    this.pods.stop();
    await this.enforcement.stop();
  }
}
