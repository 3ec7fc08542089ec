// A real node agent (eBPF tracer on this kernel, pod attribution from a mapping file) streaming to
// a running meshward's signal service with a node token signed by that meshward's token key, for
// end-to-end tests and benchmarks. Pods are kubelet-shaped cgroups from test/agent/kube-cgroup.ts.
import * as grpc from "@grpc/grpc-js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { stringify } from "yaml";
import { AgentHelloSchema } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import { NodeAgent } from "../../src/agent/node-agent.js";
import { SignalSender } from "../../src/agent/signal-sender.js";
import { NODE_NAMESPACE, nodeServiceAccount, SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { TokenKey } from "../../src/security/token-key.js";
import type { TestPod } from "../agent/kube-cgroup.js";

export interface AgentPod extends TestPod {
  readonly serviceAccount: string;
  readonly labels: Record<string, string>;
}

export interface RunningAgent {
  readonly agent: NodeAgent;
  readonly sender: SignalSender;
  stop(): Promise<void>;
}

/** The agent's pod mapping file, as mesh-config/agent/pods.yaml lays it out. */
export function writePodsFile(file: string, node: string, pods: readonly AgentPod[]): void {
  writeFileSync(file, stringify({
    pods: pods.map((p) => ({
      uid: p.uid, namespace: p.namespace, name: p.name, serviceAccount: p.serviceAccount, node, labels: p.labels,
      containers: { [p.containerId]: p.containerName },
    })),
  }));
}

/** A started agent's signal stream to `address`, authenticated with the node's `token`. */
export function streamSignals(agent: NodeAgent, o: { node: string; address: string; token: string; healthIntervalMs?: number; bufferFile?: string }): SignalSender {
  const sender = new SignalSender({
    address: o.address, credentials: grpc.credentials.createInsecure(), token: () => o.token,
    hello: create(AgentHelloSchema, { node: o.node, hooksAttached: agent.tracerHello?.attached ?? [], hooksFailed: agent.tracerHello?.failed ?? [] }),
    health: () => ({ ringbufDrops: agent.counters.ringbufDrops, throttled: agent.counters.throttled, events: agent.counters.events }),
    ...(o.healthIntervalMs !== undefined ? { healthIntervalMs: o.healthIntervalMs } : {}),
    ...(o.bufferFile !== undefined ? { bufferFile: o.bufferFile } : {}),
  });
  agent.attachSender(sender);
  sender.start();
  return sender;
}

/** Starts the agent for `node` in `dir`; `address` is meshward's gRPC address, `dataDir` its data directory. */
export async function startNodeAgent(o: { dir: string; node: string; pods: readonly AgentPod[]; address: string; dataDir: string }): Promise<RunningAgent> {
  const podsFile = join(o.dir, "pods.yaml");
  const rulesFile = join(o.dir, "rules.yaml");
  writePodsFile(podsFile, o.node, o.pods);
  writeFileSync(rulesFile, "rules: []\n");
  // As `meshward token create --namespace meshward-system --service-account node-<node> --audience meshward-signals`.
  const token = (await TokenKey.loadOrCreate(o.dataDir)).mint({ namespace: NODE_NAMESPACE, serviceAccount: nodeServiceAccount(o.node), audiences: [SIGNALS_AUDIENCE] });
  const agent = new NodeAgent({ node: o.node, dataDir: o.dir, podsFile, rulesFile });
  await agent.start();
  const sender = streamSignals(agent, { node: o.node, address: o.address, token });
  return {
    agent,
    sender,
    async stop() {
      await agent.stop();
      sender.close();
    },
  };
}
