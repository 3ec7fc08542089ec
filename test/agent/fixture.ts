// A real control plane (gRPC signal service on an ephemeral port, durable store) and a real node
// agent (eBPF tracer on this kernel) wired together with a node token, for the kernel tests.
import * as grpc from "@grpc/grpc-js";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Signal } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import { NodeAgent, type NodeAgentOptions } from "../../src/agent/node-agent.js";
import { SignalSender } from "../../src/agent/signal-sender.js";
import { MeshwardTokenAuthenticator } from "../../src/security/token-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { NODE_NAMESPACE, nodeServiceAccount, SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { registerSignalService } from "../../src/signals/service.js";
import { SignalStore } from "../../src/signals/store.js";
import { createTestPod, removeTestPod, type TestPod } from "./kube-cgroup.js";
import { streamSignals, writePodsFile } from "../support/node-agent.js";

/** Kernel tests need root; outside CI they skip with a printed reason. */
export function skipUnlessRoot(ctx: Mocha.Context): void {
  if (process.getuid?.() !== 0 && process.env.CI !== "true") {
    console.log("    skipped: kernel tests need root (set CI=true to force)");
    ctx.skip();
  }
}

export function compileBehaviours(outDir: string): string {
  const src = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "test", "agent", "behaviours.c");
  const out = join(outDir, "behaviours");
  execFileSync("cc", ["-O1", "-o", out, src]);
  return out;
}

export class ControlPlane {
  server: grpc.Server | undefined;
  store: SignalStore | undefined;
  port = 0;
  readonly received: Signal[] = [];

  /** Signs the tokens the control plane accepts (meshward's token key, as `meshward token create`). */
  readonly tokenKey = TokenKey.generate();

  constructor(private readonly dir: string, private readonly podNodes: () => Map<string, string>) {}

  /** A token for the signal API, as `meshward token create --namespace ... --audience meshward-signals`. */
  mintToken(namespace: string, serviceAccount: string, audiences = [SIGNALS_AUDIENCE]): string {
    return this.tokenKey.mint({ namespace, serviceAccount, audiences });
  }

  mintNodeToken(node: string): string {
    return this.mintToken(NODE_NAMESPACE, nodeServiceAccount(node));
  }

  async start(port = 0): Promise<void> {
    this.store = new SignalStore(join(this.dir, "signals.jsonl"));
    const server = new grpc.Server();
    registerSignalService(server, {
      authenticators: [new MeshwardTokenAuthenticator({ trustDomain: "cluster.local", publicKeys: [this.tokenKey.publicKey], audiences: [SIGNALS_AUDIENCE] })],
      store: this.store,
      podNode: (pod) => this.podNodes().get(pod.uid),
      onSignals: (s) => this.received.push(...s),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
  }

  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
    this.store?.close();
  }
}

export class AgentFixture {
  constructor(private readonly agentOptions: Partial<NodeAgentOptions> = {}) {}

  readonly dir = mkdtempSync(join(tmpdir(), "meshward-agent-"));
  readonly node = `node-${process.pid}`;
  readonly pods: Array<TestPod & { labels: Record<string, string> }> = [];
  readonly controlPlane = new ControlPlane(this.dir, () => new Map(this.pods.map((p) => [p.uid, this.node])));
  agent: NodeAgent | undefined;
  sender: SignalSender | undefined;
  readonly podsFile = join(this.dir, "pods.yaml");
  readonly rulesFile = join(this.dir, "rules.yaml");
  /** The node's token for the signal API. */
  token = "";
  readonly tokenFile = join(this.dir, "node-token");

  writePods(): void {
    writePodsFile(this.podsFile, this.node, this.pods.map((p) => ({ ...p, serviceAccount: `${p.containerName}-sa` })));
  }

  /** A new kubelet-shaped pod cgroup known to the agent and the control plane; removed by stop(). */
  newPod(name: string, labels: Record<string, string> = {}): TestPod {
    const pod = createTestPod(name, labels);
    this.addPod(pod);
    return pod;
  }

  addPod(pod: TestPod & { labels: Record<string, string> }): void {
    this.pods.push(pod);
    this.writePods();
    // The agent also notices both by polling; doing it now keeps the tests quick.
    this.agent?.reloadPods();
    this.agent?.refreshWatchRoots();
  }

  async start(): Promise<void> {
    this.writePods();
    writeFileSync(this.rulesFile, "rules: []\n");
    await this.controlPlane.start();
    const token = this.controlPlane.mintNodeToken(this.node);
    this.token = token;
    writeFileSync(this.tokenFile, token, { mode: 0o600 });
    this.agent = new NodeAgent({ node: this.node, dataDir: this.dir, podsFile: this.podsFile, rulesFile: this.rulesFile, ...this.agentOptions });
    await this.agent.start();
    this.sender = streamSignals(this.agent, { node: this.node, address: `127.0.0.1:${this.controlPlane.port}`, token, healthIntervalMs: 300 });
  }

  /** Waits until the control plane has stored a signal matching `pred`. */
  async waitForSignal(pred: (s: Signal) => boolean, timeoutMs = 10_000): Promise<Signal> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.controlPlane.received.find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seen = this.controlPlane.received.map((s) => `${s.detection?.id}@${s.pod?.name}`).join(", ");
    throw new Error(`no matching signal within ${timeoutMs} ms (received: ${seen || "none"})`);
  }

  signalsFor(pod: TestPod): Signal[] {
    return this.controlPlane.received.filter((s) => s.pod?.uid === pod.uid);
  }

  async stop(): Promise<void> {
    try {
      for (const p of this.pods) await removeTestPod(p);
      await this.agent?.stop();
      this.sender?.close();
      this.controlPlane.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
