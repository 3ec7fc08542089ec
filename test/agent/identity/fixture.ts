// The node identity under test, all real: the eBPF node agent (AgentFixture: kubelet-shaped pod
// cgroups on this kernel, pod mapping file), meshward's CA on gRPC with node-scoped issuance (the
// pods placed on the agent's node), and the agent's identity socket with SDS and the Workload API.
// Workloads run inside the pods' cgroups (identity-client.ts) and reach the socket like a pod would.
import * as grpc from "@grpc/grpc-js";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CaClient } from "../../../src/ca/ca-api.js";
import type { CertificateAuthority } from "../../../src/ca/authority.js";
import { TrustedNodeAccounts, type PodPlacement } from "../../../src/ca/node-impersonation.js";
import { caPodIssuer, isCaRefusal } from "../../../src/agent/identity/ca-issuer.js";
import { WithheldWatch } from "../../../src/agent/identity/withheld-watch.js";
import { registerWithheldIdentities } from "../../../src/ca/withheld-identities.js";
import { SIGNALS_AUDIENCE } from "../../../src/signals/node-identity.js";
import { NodeIdentity, type NodeIdentityOptions } from "../../../src/agent/identity/node-identity.js";
import { systemClock } from "../../../src/risk/clock.js";
import { EnforcementSet, MemoryEnforcementStore } from "../../../src/risk/quarantine.js";
import { MeshwardTokenAuthenticator } from "../../../src/security/token-authenticator.js";
import { CA_AUDIENCE } from "../../../src/security/token-key.js";
import { NODE_NAMESPACE, nodeServiceAccount } from "../../../src/signals/node-identity.js";
import { newCa, startCaServer, TRUST_DOMAIN, type RunningCaServer } from "../../ca/helpers.js";
import { AgentFixture, skipUnlessRoot } from "../fixture.js";
import type { TestPod } from "../kube-cgroup.js";

export { TRUST_DOMAIN };

export class IdentityFixture {
  readonly agentFixture = new AgentFixture();
  ca: CertificateAuthority | undefined;
  caServer: RunningCaServer | undefined;
  identity: NodeIdentity | undefined;
  readonly socketPath = join(this.agentFixture.dir, "run", "identity.sock");
  /** The control plane's quarantines, as the risk stage keeps them; the CA consults them. */
  readonly enforcement = new EnforcementSet(new MemoryEnforcementStore(), systemClock);
  /** Pods the CA believes are on another node (to test refusals). */
  readonly elsewhere = new Set<string>();
  private caClient: CaClient | undefined;
  private readonly children = new Set<ChildProcess>();

  private withheldServer: grpc.Server | undefined;
  private withheldWatch: WithheldWatch | undefined;

  /** `followControlPlane`: the agent also watches the control plane's withheld identities (NodeIdentityService). */
  constructor(private readonly identityOptions: Partial<NodeIdentityOptions> = {}, private readonly followControlPlane = false) {}

  get node(): string {
    return this.agentFixture.node;
  }

  spiffeIdOf(pod: TestPod): string {
    return `spiffe://${TRUST_DOMAIN}/ns/${pod.namespace}/sa/${pod.containerName}-sa`;
  }

  async start(): Promise<void> {
    const fx = this.agentFixture;
    await fx.start();
    this.ca = await newCa(join(fx.dir, "ca"), "ecdsa-p256", { policy: (id, _caller, pods) => this.enforcement.issuanceDecision(id, { ips: [] }, pods) });
    const placement: PodPlacement = {
      source: "test pod list",
      podsOnNode: (node) =>
        fx.pods.map((p) => ({ namespace: p.namespace, name: p.name, uid: p.uid, serviceAccount: `${p.containerName}-sa`, node: this.elsewhere.has(p.uid) ? "other-node" : fx.node }))
          .filter((p) => p.node === node),
    };
    this.caServer = await startCaServer(
      this.ca,
      [new MeshwardTokenAuthenticator({ trustDomain: TRUST_DOMAIN, publicKeys: [fx.controlPlane.tokenKey.publicKey], audiences: [CA_AUDIENCE] })],
      grpc.ServerCredentials.createInsecure(),
      { trusted: TrustedNodeAccounts.parse("meshward-system/node-*", "test"), placement },
    );
    this.caClient = new CaClient(this.caServer.address, grpc.credentials.createInsecure());
    const token = fx.controlPlane.mintToken(NODE_NAMESPACE, nodeServiceAccount(fx.node), [CA_AUDIENCE]);
    const agent = fx.agent;
    if (agent === undefined) throw new Error("agent not started");
    this.identity = new NodeIdentity({
      node: fx.node, trustDomain: TRUST_DOMAIN, socketPath: this.socketPath, pods: agent.pods,
      issuer: caPodIssuer(this.caClient, () => token), isRefusal: isCaRefusal, reattestIntervalMs: 200,
      ...this.identityOptions,
    });
    agent.onSignal((s) => this.identity?.onSignal(s));
    await this.identity.start();
    if (this.followControlPlane) await this.startWithheld(fx, this.identity);
  }

  /** The control plane's NodeIdentityService over this fixture's quarantines, and the agent watching it. */
  private async startWithheld(fx: AgentFixture, identity: NodeIdentity): Promise<void> {
    const server = new grpc.Server();
    registerWithheldIdentities(server, {
      authenticators: [new MeshwardTokenAuthenticator({ trustDomain: TRUST_DOMAIN, publicKeys: [fx.controlPlane.tokenKey.publicKey], audiences: [SIGNALS_AUDIENCE] })],
      active: () => this.enforcement.active(),
      pollMs: 50,
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    this.withheldServer = server;
    const token = fx.controlPlane.mintNodeToken(fx.node);
    this.withheldWatch = new WithheldWatch({ address: `127.0.0.1:${port}`, credentials: grpc.credentials.createInsecure(), token: () => token, onUpdate: (e) => identity.applyWithheld(e) });
    this.withheldWatch.start();
  }

  /** A control-plane quarantine of the pod, as the risk engine records it from a verdict. */
  quarantine(pod: TestPod, reason: string): void {
    this.enforcement.apply({
      id: `${pod.uid}#0`, signalId: pod.uid, policy: "test", rule: "test", action: "quarantine", scope: "pod",
      pod: { uid: pod.uid, namespace: pod.namespace, name: pod.name, serviceAccount: `${pod.containerName}-sa`, labels: {}, ip: "" },
      identity: { trustDomain: TRUST_DOMAIN, namespace: pod.namespace, serviceAccount: `${pod.containerName}-sa` },
      riskScore: 100, reason, decidedAtMs: Date.now(),
    });
  }

  /** Starts identity-client.js inside the pod's container cgroup (or on the host); lines are its JSON output. */
  client(pod: TestPod | undefined, args: string[], program = "identity-client.js"): WorkloadClient {
    return this.run(pod, [process.execPath, join(import.meta.dirname, program), this.socketPath, ...args]);
  }

  /** Runs `argv` inside the pod's container cgroup (or on the host); its stdout is JSON lines. */
  run(pod: TestPod | undefined, argv: string[]): WorkloadClient {
    const child = pod === undefined
      ? spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] })
      : spawn("/bin/sh", ["-c", `echo $$ > "${pod.cgroupDir}/cgroup.procs" && exec "$@"`, "sh", ...argv], { stdio: ["pipe", "pipe", "inherit"] });
    this.children.add(child);
    child.on("exit", () => this.children.delete(child));
    return new WorkloadClient(child);
  }

  async stop(): Promise<void> {
    for (const c of this.children) c.kill("SIGKILL");
    this.withheldWatch?.stop();
    this.withheldServer?.forceShutdown();
    await this.identity?.stop();
    this.caClient?.close();
    await this.caServer?.stop();
    await this.agentFixture.stop();
  }
}

export interface SdsSecretLine {
  name?: string;
  kind?: string;
  san?: string;
  serial?: string;
  keyMatches?: boolean;
  rootIsCa?: boolean;
  version?: string;
}

/** For a describe block: an IdentityFixture started before its tests (root only) and stopped after. */
export function useIdentityFixture(options: Partial<NodeIdentityOptions> = {}, followControlPlane = false): IdentityFixture {
  const fx = new IdentityFixture(options, followControlPlane);
  before(async function () {
    skipUnlessRoot(this);
    await fx.start();
  });
  after(async () => {
    await fx.stop();
  });
  return fx;
}

export type ClientLine = Readonly<Record<string, unknown>> & {
  spiffeId?: string; san?: string; serial?: string; keyBytes?: number; bundles?: string[]; error?: string; details?: string;
  typeUrl?: string; versionInfo?: string; nonce?: string; secrets?: SdsSecretLine[]; resources?: SdsSecretLine[]; removed?: string[];
};

/** A workload process and the JSON lines it printed. */
export class WorkloadClient {
  readonly lines: ClientLine[] = [];
  private waiters: Array<() => void> = [];

  constructor(readonly child: ChildProcess) {
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (l) => {
      this.lines.push(JSON.parse(l) as ClientLine);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** The n-th line (0-based), waiting for it. */
  async line(n: number, timeoutMs = 15_000): Promise<ClientLine> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length <= n) {
      if (Date.now() > deadline) throw new Error(`workload printed ${this.lines.length} line(s), waited for ${n + 1}: ${JSON.stringify(this.lines)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return this.lines[n];
  }

  /** Writes one JSON line to the workload's stdin (sds-client.js sends it as a request). */
  send(request: unknown): void {
    this.child.stdin?.write(`${JSON.stringify(request)}\n`);
  }

  /** Waits `ms` and says whether the workload printed nothing more than `count` lines meanwhile. */
  async quietFor(ms: number, count = this.lines.length): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.lines.length === count;
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}
