// The e2e quarantine fixture: three pods (web-a, its replica web-b with the same service account,
// and peer), each a kubelet-shaped cgroup v2 hierarchy (the agent attributes by it) and its own
// network namespace on a bridge (enforcement keys on the pod, so each pod calls from its own
// address); serve (startControlPlane) with a RuntimePolicy that quarantines namespace-setns,
// STRICT mTLS with certificates from serve's CA (`meshward workload-certs`), real grpc-js-xds
// servers and clients (RBAC on) in every pod reaching xDS through a node-local relay, and the
// real eBPF node agent. IPv6 or IPv4 pod network (see pod-network.ts for why that matters).
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client, credentials, Metadata, status } from "@grpc/grpc-js";
import { CERT_FILES } from "../../src/ca/grpc-bootstrap.js";
import { grpcXdsBootstrap } from "../../src/ca/grpc-bootstrap.js";
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from "../../src/mesh/control-plane.js";
import type { XdsEvent } from "../../src/xds/server.js";
import { createTestPod, removeTestPod, runInPod } from "../agent/kube-cgroup.js";
import { startNodeAgent, type AgentPod, type RunningAgent } from "./node-agent.js";
import { PodNetwork, XdsRelay, type PodNet } from "./pod-network.js";
import { eventually, freePort, type NodeSpec } from "./proxyless.js";
import { RbacWorkloads, type CallResult } from "./rbac-workloads.js";

export const NS = "meshward-test";
export const PORT = 7070;
export const bin = join(process.cwd(), "bin", "meshward");

export interface Pod extends AgentPod {
  readonly net: PodNet;
  readonly short: string;
  readonly host: string;
  workloads?: RbacWorkloads;
}

/** Calls to the pod's host use mTLS (ISTIO_MUTUAL), and its namespace accepts nothing else (STRICT). */
function mtlsConfig(p: Pod): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${p.short}, namespace: ${NS}}
spec:
  host: ${p.host}
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
`;
}

const STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: ${NS}}
spec:
  mtls: {mode: STRICT}
`;

function serviceEntry(p: Pod): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${p.short}, namespace: ${NS}}
spec:
  hosts: [${p.host}]
  ports: [{number: ${PORT}, name: grpc, protocol: GRPC}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints: [{address: "${p.net.ip}", serviceAccount: ${p.serviceAccount}, labels: {app: ${p.labels.app}}}]
`;
}

const RUNTIME_POLICY = `apiVersion: meshward.io/v1alpha1
kind: RuntimePolicy
metadata: {name: container-escape, namespace: istio-system}
spec:
  rules:
  - name: quarantine-escapes
    trigger: {detections: [namespace-setns], minSeverity: HIGH}
    action: QUARANTINE
`;

/** `ok:<backend>`, `denied` (PERMISSION_DENIED), `unavailable` (UNAVAILABLE), else `error:<code>:<details>`. */
export function outcome(r: CallResult): string {
  if (r.ok) return `ok:${r.value}`;
  if (r.code === status.PERMISSION_DENIED) return "denied";
  if (r.code === status.UNAVAILABLE) return "unavailable";
  return `error:${r.code}:${r.details}`;
}

/**
 * An mTLS call straight to `ip:PORT` (no xDS, no EDS) with the `sa` certificates; the status code. It bypasses
 * EDS, as a caller that knows the pod's address would, so the pod's own proxy has to refuse it.
 */
export async function directCall(mesh: QuarantineMesh, ip: string, sa: string): Promise<number> {
  const dir = join(mesh.dir, `certs-${sa}`);
  const read = (f: string): Buffer => readFileSync(join(dir, f));
  const creds = credentials.createSsl(read(CERT_FILES.root), read(CERT_FILES.key), read(CERT_FILES.chain), { checkServerIdentity: () => undefined });
  const c = new Client(PodNetwork.hostPort(ip, PORT), creds);
  try {
    return await new Promise<number>((resolve) =>
      c.makeUnaryRequest("/meshward.test.Echo/Echo", (b: Buffer) => b, (b: Buffer) => b, Buffer.from("ping"), new Metadata(), { deadline: Date.now() + 3000 }, (err) => resolve(err?.code ?? status.OK)),
    );
  } finally {
    c.close();
  }
}

export class QuarantineMesh {
  readonly node = `node-q${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  readonly pods: Pod[] = [];
  readonly events: XdsEvent[] = [];
  dir = "";
  dataDir = "";
  net: PodNetwork | undefined;
  cp: ControlPlane | undefined;
  cpOptions!: ControlPlaneOptions;
  private relay: XdsRelay | undefined;
  private agent: RunningAgent | undefined;
  bad!: Pod;
  good!: Pod;
  peer!: Pod;

  constructor(private readonly family: 4 | 6) {}

  call = async (from: Pod, to: Pod): Promise<string> => outcome(await from.workloads!.call(`to-${to.short}`, { timeoutMs: 3000 }));

  until = (from: Pod, to: Pod, want: string): Promise<true> =>
    eventually(`${from.short} -> ${to.short} to be ${want}`, async () => ((await this.call(from, to)) === want ? true : undefined), 30_000);

  watch(c: ControlPlane): void {
    for (const kind of ["push", "ack", "nack"] as const) c.xds.on(kind, (e: XdsEvent) => this.events.push(e));
  }

  /** The escape: setns into the node's (the test runner's) mount namespace from inside the pod. */
  async escape(p: Pod): Promise<{ code: number | null; stderr: string }> {
    return runInPod(p, ["nsenter", `--mount=/proc/${process.pid}/ns/mnt`, "true"]);
  }

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), "meshward-quarantine-"));
    this.dataDir = join(this.dir, "data");
    const configDir = join(this.dir, "mesh-config");
    mkdirSync(configDir);
    const net = (this.net = new PodNetwork(this.family));
    const make = (short: string, sa: string, app: string, host: number): Pod => {
      const t = createTestPod(`${short}${this.family === 4 ? "-v4" : ""}`, { app });
      const p: Pod = { ...t, serviceAccount: sa, labels: { app }, net: net.addPod(host), short, host: `${short}.${NS}.svc.cluster.local` };
      this.pods.push(p);
      return p;
    };
    this.bad = make("web-a", "web", "web", 11);
    this.good = make("web-b", "web", "web", 12);
    this.peer = make("peer", "peer", "peer", 13);
    writeFileSync(join(configDir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(configDir, "services.yaml"), [...this.pods.map(serviceEntry), ...this.pods.map(mtlsConfig), STRICT].join("---\n"));
    writeFileSync(join(configDir, "runtime-policy.yaml"), RUNTIME_POLICY);
    // A fixed loopback port: the relay must find the restarted control plane there.
    const cpPort = await freePort();
    this.cpOptions = { configDir, xdsAddress: `127.0.0.1:${cpPort}`, monitoringAddress: "127.0.0.1:0", dataDir: this.dataDir, debounceMs: 20, log: () => undefined };
    const cp = (this.cp = await startControlPlane(this.cpOptions));
    this.watch(cp);
    let podXds: string;
    ({ relay: this.relay, address: podXds } = await XdsRelay.start(net.gateway, 0, () => ({ host: "127.0.0.1", port: cpPort })));
    // Each service account's certificates, from serve's CA (as istio-agent would keep them).
    const certs = new Map<string, string>();
    for (const sa of new Set(this.pods.map((p) => p.serviceAccount))) {
      const out = join(this.dir, `certs-${sa}`);
      await promisify(execFile)(bin, ["workload-certs", "--namespace", NS, "--service-account", sa, "--data-dir", this.dataDir, "--ca-address", cp.xdsAddress, "--out", out, "--once"]);
      certs.set(sa, out);
    }
    const nodeSpec = (p: Pod): NodeSpec => ({ ip: p.net.ip, pod: p.name, namespace: NS, serviceAccount: p.serviceAccount, labels: p.labels, node: this.node });
    const bootstrapOf = (p: Pod): string =>
      JSON.stringify(grpcXdsBootstrap({
        xdsAddress: podXds, certDir: certs.get(p.serviceAccount)!, namespace: NS, serviceAccount: p.serviceAccount, podName: p.name, podIp: p.net.ip, labels: p.labels, nodeName: this.node,
      }));
    for (const p of this.pods) {
      const w = new RbacWorkloads(["/bin/sh", "-c", `echo $$ > "${p.cgroupDir}/cgroup.procs" && exec "$@"`, "sh", ...net.enter(p.net)]);
      p.workloads = w;
      await w.startServer(p.short, PodNetwork.hostPort(p.net.ip, PORT), podXds, nodeSpec(p), bootstrapOf(p));
      for (const to of this.pods) if (to !== p) await w.startClient(`to-${to.short}`, `${to.host}:${PORT}`, podXds, nodeSpec(p), bootstrapOf(p));
    }
    this.agent = await startNodeAgent({ dir: this.dir, node: this.node, pods: this.pods, address: cp.xdsAddress, dataDir: this.dataDir });
  }

  async restart(): Promise<number> {
    await this.cp!.stop();
    this.cp = await startControlPlane(this.cpOptions);
    this.watch(this.cp);
    return this.events.length;
  }

  async stop(): Promise<void> {
    for (const p of this.pods) p.workloads?.stop();
    await this.agent?.stop();
    this.relay?.close();
    await this.cp?.stop();
    for (const p of this.pods) await removeTestPod(p);
    this.net?.close();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
