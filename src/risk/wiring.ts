// The risk stage inside `meshward serve`: signals from the node agents' stream go through the
// RiskService (recorded, evaluated, enforced durably before the agent's ACK); RuntimePolicies come
// from the model; the enforcement overlay (AuthorizationPolicies) joins the config set before the
// model is built, so the authorization translators apply it unchanged and only the proxies whose
// resources change are pushed; the xDS server's pushes and ACKs complete each signal's chain,
// exported as meshward_enforcement_chain_seconds and stored in the audit database. Quarantines
// live in that database, so a restarted control plane serves them again from its first snapshot.
//
// Order of use: configSet() and accepted() around every model build (from the first one on),
// then attach() once the xDS server exists, and serveSignals() on each gRPC server.
import type * as grpc from "@grpc/grpc-js";
import type { IssuanceDecision, IssuancePolicy } from "../ca/authority.js";
import type { ConfigSet, MeshSnapshot } from "../model/snapshot.js";
import { parseMeshConfig } from "../model/mesh-config.js";
import { FieldProblems } from "../model/fields.js";
import type { Counter, Metrics } from "../telemetry/metrics.js";
import type { Log } from "../telemetry/log.js";
import type { Authenticator, WorkloadIdentity } from "../security/identity.js";
import type { Proxy } from "../model/proxy.js";
import type { XdsStreams } from "../xds/server.js";
import type { FirstTypes } from "../xds/push-round.js";
import { TypeUrl } from "../xds/types.js";
import { proxyEnforcement } from "../model/workload-enforcement.js";
import { registerSignalService } from "../signals/service.js";
import { AgentRegistry } from "../signals/agents.js";
import type { SignalLimits } from "../signals/rate-limit.js";
import { AuditSignalRecorder, type PodDirectory } from "./agent-signals.js";
import { CHAIN_LATENCY_BUCKETS_S, CHAIN_LATENCY_METRIC } from "./chain-latency.js";
import { systemClock, type Clock } from "./clock.js";
import { ENFORCEMENT_ORIGIN, enforcedAddresses, enforcementOverlay, type EnforcedAddresses } from "./enforcement-overlay.js";
import { routingOverlay } from "./routing-overlay.js";
import { PushChainRecorder } from "./push-chain.js";
import { RiskService, type EnforcementUpdate, type RiskServiceOptions } from "./risk-service.js";
import type { Enforcement, EnforcementAlert } from "./quarantine.js";
import { RUNTIME_POLICY_KIND } from "./runtime-policy.js";
import { peerIp, proxyPodDirectory } from "./proxy-pods.js";

/** What the risk stage needs of the SDS provider (ca/sds.ts). */
export interface WithdrawableSecrets {
  revoke(matches: (identity: WorkloadIdentity, proxy: Proxy) => boolean): void;
  reconsider(): void;
}

export interface RiskWiringOptions {
  readonly dataDir: string;
  readonly metrics: Metrics;
  readonly log: Log;
  /**
   * Builds and installs a snapshot from the last config set again (the overlay changed); true if
   * the new snapshot may change some proxy's resources (false: nothing will be pushed).
   */
  readonly rebuild: () => boolean;
  /**
   * The snapshot being served: with it, an enforcement's round sends what cuts the pod off first
   * (cutOffTypes); without it, the round goes out in one phase.
   */
  readonly snapshot?: () => MeshSnapshot;
  readonly clock?: Clock;
  /** Per-node signal limits (signals/rate-limit.ts). */
  readonly signalLimits?: SignalLimits;
  /** Shares the active enforcement set between replicas (see RiskServiceOptions). */
  readonly enforcementStore?: RiskServiceOptions["enforcementStore"];
  /**
   * Where pods and their addresses come from (Kubernetes: from Pods); default: as their connected
   * proxies announce them (set by attach()).
   */
  readonly podDirectory?: PodDirectory;
}

/** How long proxy connects and disconnects are gathered before the enforced addresses are compared. */
export const IDENTITY_ADDRESS_DEBOUNCE_MS = 100;

/** A comparable form of the addresses every enforcement matches. */
function addressKey(addresses: EnforcedAddresses): string {
  return JSON.stringify([...addresses.byId].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * What cuts an enforced pod off, sent and ACKed before the rest of its round (issue 18): every
 * peer's EDS (the pod's endpoints leave it), and the enforced proxy's own EDS (empty) and LDS
 * (deny-all). The rest (LDS with the IP-keyed DENY policies, defense in depth) follows.
 */
export function cutOffTypes(snapshot: () => MeshSnapshot): FirstTypes {
  const peers = [TypeUrl.ClusterLoadAssignment];
  const enforced = [TypeUrl.ClusterLoadAssignment, TypeUrl.Listener];
  return (proxy) => (proxyEnforcement(snapshot(), proxy) === "" ? peers : enforced);
}

export class RiskWiring {
  private service: RiskService | undefined;
  private xds: XdsStreams | undefined;
  private chain: PushChainRecorder | undefined;
  private recorder: AuditSignalRecorder | undefined;
  /** One registry for the plaintext and TLS ports: an agent's health shows whichever it uses. */
  private readonly agents = new AgentRegistry();
  private pods: PodDirectory | undefined;
  /** What the signal recorder and the overlay ask: whichever directory is in use at the time. */
  private readonly podDirectory: PodDirectory = {
    locate: (pod) => this.pods?.locate(pod),
    podsOfIdentity: (id) => this.pods?.podsOfIdentity(id) ?? [],
  };
  private rootNamespace = "";
  private readonly clock: Clock;
  /** `<enforcement id>|<what>` already alerted on, so each rebuild does not repeat the alert. */
  private readonly alerted = new Set<string>();
  private readonly alerts: Counter;

  constructor(private readonly opts: RiskWiringOptions) {
    this.clock = opts.clock ?? systemClock;
    this.pods = opts.podDirectory;
    this.alerts = opts.metrics.counter(
      "meshward_enforcement_alerts_total",
      "Parts of an active enforcement that could not be enforced (an address that is no single pod IP, an overlay object the model rejected).",
      ["event"],
    );
  }

  /** The risk service; there is one once the first config set has been seen. */
  get risk(): RiskService {
    if (this.service === undefined) throw new Error("risk stage not started: no configuration loaded yet");
    return this.service;
  }

  /** The config set plus the enforcement overlay, for the model to build. */
  configSet(set: ConfigSet): ConfigSet {
    const risk = this.start(set);
    const active = risk.enforcement.active();
    const addresses = enforcedAddresses(active, { podsOfIdentity: this.podDirectory.podsOfIdentity });
    this.enforcedAddressKey = addressKey(addresses);
    for (const r of addresses.rejected) this.alert(r.enforcement, "address-rejected", `address ${r.reason}; the enforcement holds for its other addresses`, r.address);
    const opts = { rootNamespace: this.rootNamespace, addresses };
    // Authorization (Envoy enforces by IP and principal) and routing (no data-plane IP matching).
    const overlay = [...enforcementOverlay(active, opts), ...routingOverlay(active, opts)];
    return overlay.length === 0 ? set : { ...set, objects: [...set.objects, ...overlay] };
  }

  /** The model accepted a snapshot: its RuntimePolicies (validated on admission) take effect. */
  accepted(snapshot: MeshSnapshot): void {
    // The overlay is built to be valid; if the model still rejects a part of it, say so loudly.
    for (const e of snapshot.errors) {
      if (e.severity !== "error" || !e.file.startsWith(`${ENFORCEMENT_ORIGIN}/`)) continue;
      const id = e.file.slice(ENFORCEMENT_ORIGIN.length + 1);
      const enforcement = this.risk.enforcement.active().find((a) => a.id === id);
      if (enforcement) this.alert(enforcement, "overlay-rejected", `${e.object ?? "overlay object"}: ${e.path}: ${e.message}`, `${e.object}|${e.path}`);
    }
    const objects = (snapshot.others.get(RUNTIME_POLICY_KIND) ?? []).map((a) => a.object);
    for (const e of this.risk.setPolicies(objects)) this.opts.log(`meshward risk: ${e.object ?? e.file}: ${e.path}: ${e.message}`);
    if (snapshot.mesh.rootNamespace !== this.rootNamespace) {
      this.opts.log(`meshward risk: rootNamespace changed to ${snapshot.mesh.rootNamespace}; RuntimePolicies follow after a restart`);
    }
  }

  /** Pushes, ACKs and connected proxies from the xDS server. */
  attach(xds: XdsStreams): void {
    this.xds = xds;
    this.pods = this.opts.podDirectory ?? proxyPodDirectory(() => xds.proxies());
    this.chain = new PushChainRecorder(this.risk.audit, xds, this.clock);
    this.recorder = new AuditSignalRecorder(this.risk, this.podDirectory, this.clock);
    // An identity-scoped enforcement denies every pod of the identity by IP too (plaintext calls
    // carry no principal): a pod of it that connects later must join the overlay. Proxies come and
    // go in storms (reconnects), so the check is debounced and rebuilds only when the enforced
    // addresses really changed. A disconnect triggers nothing: a pod must not be able to lift the
    // DENY on its IP by dropping its own proxy (fail closed; the IP leaves at the next rebuild).
    xds.on("connect", () => this.scheduleAddressCheck());
  }

  /**
   * The node agents' signal service on `server` (after attach). Agents authenticate with a node
   * certificate from the CA or a meshward token for the meshward-signals audience.
   */
  serveSignals(server: grpc.Server, authenticators: readonly Authenticator[]): void {
    const recorder = this.recorder;
    if (recorder === undefined) throw new Error("serveSignals before attach");
    registerSignalService(server, {
      authenticators,
      store: recorder,
      podNode: (pod) => recorder.podNode(pod),
      problem: (s) => recorder.problem(s),
      agents: this.agents,
      log: this.opts.log,
      ...(this.opts.signalLimits !== undefined ? { limits: this.opts.signalLimits } : {}),
    });
  }

  /**
   * For the CA: no certificate for a quarantined or revoked identity, or pod: the caller's own (by
   * its peer IP, or the pod its xDS stream announced: SDS over ADS is judged like the CSR API) or,
   * for a node agent's request, any of the pods it asks for.
   */
  readonly issuancePolicy: IssuancePolicy = (identity, caller, pods): IssuanceDecision => {
    const ips = [caller ? peerIp(caller.peer) : undefined, ...(caller?.pod?.ips ?? [])].filter((ip): ip is string => ip !== undefined);
    return this.risk.enforcement.issuanceDecision(identity, { ips, ...(caller?.pod ? { pod: caller.pod } : {}) }, pods);
  };

  /**
   * SDS secrets already pushed: a new quarantine or revoke withdraws those it blocks, an ended
   * one lets the refused be asked again.
   */
  attachSecrets(secrets: WithdrawableSecrets): void {
    this.secrets = secrets;
  }

  /** An alert about an active enforcement: log, metric and audit row, once per enforcement and cause. */
  private alert(e: Enforcement, event: EnforcementAlert, reason: string, key: string): void {
    const k = `${e.id}|${event}|${key}`;
    if (this.alerted.has(k)) return;
    if (this.alerted.size >= 10_000) this.alerted.clear();
    this.alerted.add(k);
    this.opts.log(`meshward risk: ALERT ${e.action} ${e.id} (${e.pod.namespace}/${e.pod.name}): ${reason}`, {
      level: "warn", stage: "risk", enforcement: e.id, pod: `${e.pod.namespace}/${e.pod.name}`,
    });
    this.alerts.inc({ event });
    this.risk.enforcement.alert(e, event, reason);
  }

  close(): void {
    if (this.addressTimer !== undefined) clearTimeout(this.addressTimer);
    this.chain?.close();
    this.service?.close();
  }

  private start(set: ConfigSet): RiskService {
    if (this.service) return this.service;
    const p = new FieldProblems();
    const mesh = set.mesh ? parseMeshConfig(set.mesh.doc, p) : undefined;
    this.rootNamespace = mesh?.rootNamespace ?? "istio-system";
    const chainSeconds = this.opts.metrics.histogram(CHAIN_LATENCY_METRIC, "Time from the syscall to the last affected proxy's ACK of its enforcement.", CHAIN_LATENCY_BUCKETS_S);
    const active = this.opts.metrics.gauge("meshward_enforcements_active", "Enforcement actions in force, by action.", ["action"]);
    const service = new RiskService({
      dataDir: this.opts.dataDir,
      clock: this.clock,
      rootNamespace: this.rootNamespace,
      ...(mesh ? { trustDomain: mesh.trustDomain } : {}),
      onChainComplete: (c) => {
        if (!c.timedOut && c.latencyMs !== undefined) chainSeconds.observe({}, c.latencyMs / 1000);
      },
      onEnforcementChange: (u) => this.enforcementChanged(u),
      ...(this.opts.enforcementStore ? { enforcementStore: this.opts.enforcementStore } : {}),
    });
    const countActive = (): void => {
      for (const action of ["quarantine", "isolate-egress", "revoke"] as const) active.set({ action }, service.enforcement.active().filter((e) => e.action === action).length);
    };
    countActive();
    this.countActive = countActive;
    service.start();
    this.service = service;
    return service;
  }

  private countActive: () => void = () => undefined;
  /** The enforced addresses the current snapshot was built with (see configSet). */
  private enforcedAddressKey = "";
  private addressTimer: NodeJS.Timeout | undefined;

  private scheduleAddressCheck(): void {
    if (this.addressTimer !== undefined || this.service === undefined) return;
    if (!this.risk.enforcement.active().some((e) => e.scope === "identity" && e.action !== "revoke")) return;
    this.addressTimer = setTimeout(() => {
      this.addressTimer = undefined;
      const now = addressKey(enforcedAddresses(this.risk.enforcement.active(), { podsOfIdentity: this.podDirectory.podsOfIdentity }));
      if (now !== this.enforcedAddressKey) this.opts.rebuild();
    }, IDENTITY_ADDRESS_DEBOUNCE_MS);
    this.addressTimer.unref();
  }
  private secrets: WithdrawableSecrets | undefined;

  private enforcementChanged(u: EnforcementUpdate): void {
    this.countActive();
    if (this.secrets !== undefined) {
      const blocking = u.applied.some((c) => c.enforcement.action === "quarantine" || c.enforcement.action === "revoke");
      if (blocking || u.reloaded) {
        const set = this.risk.enforcement;
        this.secrets.revoke((identity, proxy) => set.blockingIssuance(identity, proxy.ips, { namespace: proxy.namespace, name: proxy.podName }).length > 0);
      }
      if (u.ended.length > 0 || u.reloaded) this.secrets.reconsider();
    }
    const touched = this.opts.rebuild();
    // Nothing to push (revoke: only the CA enforces it): the chain ends at translation.
    if (!touched) return void this.chain?.translated(u.causes, this.clock.nowMs(), false);
    this.chain?.translated(u.causes, this.clock.nowMs());
    // Only a new (or extended) enforcement is cut first. A release must not restore the routes
    // (EDS) before the pod's deny-all is lifted: peers would connect while it still refuses, and
    // a proxyless server keeps such a connection's old filter chain while it drains. It goes out
    // in one phase, each proxy in make-before-break order.
    const cutting = u.applied.length > 0 && u.ended.length === 0 && !u.reloaded;
    const snapshot = this.opts.snapshot;
    this.xds?.pushNow(cutting && snapshot !== undefined ? { first: cutOffTypes(snapshot) } : {});
  }
}
