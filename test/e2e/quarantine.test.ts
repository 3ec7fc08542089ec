// End to end on the real kernel: a workload escapes (setns into the node's mount namespace), the
// real eBPF node agent reports it, meshward's risk stage quarantines the pod per a RuntimePolicy,
// and real grpc-js-xds workloads (RBAC on, mTLS: STRICT PeerAuthentication and ISTIO_MUTUAL, with
// certificates from serve's CA via `meshward workload-certs`) then refuse calls from and to that
// pod with PERMISSION_DENIED while a healthy replica with the same service account keeps working. The quarantine survives a control-plane restart; `meshward
// quarantine release` restores traffic; the audit trail holds the chain with its timestamps.
//
// Each pod is a kubelet-shaped cgroup v2 hierarchy (the agent attributes by it) and its own network
// namespace on a bridge (enforcement keys on the pod IP, so each pod calls from its own address;
// IPv6, see test/support/pod-network.ts for why proxyless gRPC cannot enforce on IPv4 peers).
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client, credentials, Metadata, status } from "@grpc/grpc-js";
import { grpcXdsBootstrap } from "../../src/ca/grpc-bootstrap.js";
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from "../../src/mesh/control-plane.js";
import { AuditQuery } from "../../src/risk/audit-query.js";
import { openAuditDatabase } from "../../src/risk/audit-schema.js";
import type { XdsEvent } from "../../src/xds/server.js";
import { TypeUrl } from "../../src/xds/types.js";
import { createTestPod, removeTestPod, runInPod } from "../agent/kube-cgroup.js";
import { skipUnlessRoot } from "../agent/fixture.js";
import { startNodeAgent, type AgentPod, type RunningAgent } from "../support/node-agent.js";
import { PodNetwork, XdsRelay, type PodNet } from "../support/pod-network.js";
import { eventually, freePort, type NodeSpec } from "../support/proxyless.js";
import { RbacWorkloads, type CallResult } from "../support/rbac-workloads.js";

const NS = "meshward-test";
const PORT = 7070;

interface Pod extends AgentPod {
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

const outcome = (r: CallResult): string => (r.ok ? `ok:${r.value}` : r.code === status.PERMISSION_DENIED ? "denied" : `error:${r.code}:${r.details}`);

describe("e2e: a container escape quarantines the pod in the mesh (real kernel, agent, grpc-js-xds)", function () {
  this.timeout(180_000);
  const node = `node-q${process.pid}`;
  let dir = "";
  let dataDir = "";
  let net: PodNetwork | undefined;
  let relay: XdsRelay | undefined;
  /** Where the pods find xDS: the node-local relay on the bridge. */
  let podXds = "";
  let cp: ControlPlane | undefined;
  let cpOptions: ControlPlaneOptions;
  let agent: RunningAgent | undefined;
  const pods: Pod[] = [];
  const events: XdsEvent[] = [];
  let bad: Pod, good: Pod, peer: Pod;
  let signalId = "";

  const nodeSpec = (p: Pod): NodeSpec => ({ ip: p.net.ip, pod: p.name, namespace: NS, serviceAccount: p.serviceAccount, labels: p.labels, node });
  const call = async (from: Pod, to: Pod): Promise<string> => outcome(await from.workloads!.call(`to-${to.short}`, { timeoutMs: 3000 }));
  const until = (from: Pod, to: Pod, want: string): Promise<true> =>
    eventually(`${from.short} -> ${to.short} to be ${want}`, async () => ((await call(from, to)) === want ? true : undefined), 30_000);
  const watch = (c: ControlPlane): void => {
    for (const kind of ["push", "ack", "nack"] as const) c.xds.on(kind, (e: XdsEvent) => events.push(e));
  };

  before(async function () {
    skipUnlessRoot(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-quarantine-"));
    dataDir = join(dir, "data");
    const configDir = join(dir, "mesh-config");
    mkdirSync(configDir);
    net = new PodNetwork();
    const make = (short: string, sa: string, app: string, host: number): Pod => {
      const t = createTestPod(short, { app });
      const p: Pod = { ...t, serviceAccount: sa, labels: { app }, net: net!.addPod(host), short, host: `${short}.${NS}.svc.cluster.local` };
      pods.push(p);
      return p;
    };
    bad = make("web-a", "web", "web", 11);
    good = make("web-b", "web", "web", 12);
    peer = make("peer", "peer", "peer", 13);
    writeFileSync(join(configDir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(configDir, "services.yaml"), [...pods.map(serviceEntry), ...pods.map(mtlsConfig), STRICT].join("---\n"));
    writeFileSync(join(configDir, "runtime-policy.yaml"), RUNTIME_POLICY);
    // A fixed loopback port: the relay must find the restarted control plane there.
    const cpPort = await freePort();
    cpOptions = { configDir, xdsAddress: `127.0.0.1:${cpPort}`, monitoringAddress: "127.0.0.1:0", dataDir, debounceMs: 20, log: () => undefined };
    cp = await startControlPlane(cpOptions);
    watch(cp);
    ({ relay, address: podXds } = await XdsRelay.start(net.gateway, 0, () => ({ host: "127.0.0.1", port: cpPort })));
    // Each service account's certificates, from serve's CA (as istio-agent would keep them).
    const certs = new Map<string, string>();
    for (const sa of new Set(pods.map((p) => p.serviceAccount))) {
      const out = join(dir, `certs-${sa}`);
      await promisify(execFile)(join(process.cwd(), "bin", "meshward"), [
        "workload-certs", "--namespace", NS, "--service-account", sa, "--data-dir", dataDir, "--ca-address", cp.xdsAddress, "--out", out, "--once",
      ]);
      certs.set(sa, out);
    }
    const bootstrapOf = (p: Pod): string =>
      JSON.stringify(grpcXdsBootstrap({
        xdsAddress: podXds, certDir: certs.get(p.serviceAccount)!, namespace: NS, serviceAccount: p.serviceAccount, podName: p.name, podIp: p.net.ip, labels: p.labels, nodeName: node,
      }));
    for (const p of pods) {
      const w = new RbacWorkloads(["/bin/sh", "-c", `echo $$ > "${p.cgroupDir}/cgroup.procs" && exec "$@"`, "sh", ...net.enter(p.net)]);
      p.workloads = w;
      await w.startServer(p.short, PodNetwork.hostPort(p.net.ip, PORT), podXds, nodeSpec(p), bootstrapOf(p));
      for (const to of pods) if (to !== p) await w.startClient(`to-${to.short}`, `${to.host}:${PORT}`, podXds, nodeSpec(p), bootstrapOf(p));
    }
    agent = await startNodeAgent({ dir, node, pods, address: cp.xdsAddress, dataDir });
  });

  after(async () => {
    for (const p of pods) p.workloads?.stop();
    await agent?.stop();
    relay?.close();
    await cp?.stop();
    for (const p of pods) await removeTestPod(p);
    net?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("before anything happens every pod calls every other, over mTLS only", async () => {
    for (const [from, to] of [[peer, bad], [peer, good], [bad, peer], [good, peer], [bad, good]] as const) await until(from, to, `ok:${to.short}`);
    // A plaintext caller (no xDS, no certificate) is refused by the STRICT server.
    const plain = new Client(PodNetwork.hostPort(peer.net.ip, PORT), credentials.createInsecure());
    try {
      const code = await new Promise<number>((resolve) =>
        plain.makeUnaryRequest("/meshward.test.Echo/Echo", (b: Buffer) => b, (b: Buffer) => b, Buffer.from("ping"), new Metadata(), { deadline: Date.now() + 3000 }, (err) => resolve(err?.code ?? status.OK)),
      );
      assert.notEqual(code, status.OK, "plaintext is not served under STRICT");
    } finally {
      plain.close();
    }
  });

  it("the escape is detected, and calls from and to the pod are denied while its replica keeps working", async () => {
    // The node's mount namespace is the test runner's (PID 1's may be out of reach in a CI sandbox).
    const r = await runInPod(bad, ["nsenter", `--mount=/proc/${process.pid}/ns/mnt`, "true"]);
    assert.equal(r.code, 0, `nsenter into the host mount namespace: ${r.stderr}`);
    await until(peer, bad, "denied");
    await until(bad, peer, "denied");
    assert.equal(await call(good, peer), "ok:peer", "the healthy replica (same service account) still calls");
    assert.equal(await call(peer, good), "ok:web-b", "the healthy replica is still called");
    assert.equal(await call(bad, good), "denied");
    const q = new AuditQuery(cp!.risk.risk.audit.db);
    const sig = q.signals({ pod: bad.uid, detection: "namespace-setns" });
    assert.equal(sig.length >= 1, true, "the signal is in the audit trail");
    signalId = sig[0]!.id;
  });

  it("the audit trail times the chain syscall -> agent -> control plane -> translation -> push -> last ACK", async () => {
    const q = new AuditQuery(cp!.risk.risk.audit.db);
    const chain = await eventually("the chain to complete", () => {
      const c = q.chain(signalId);
      return c?.latencyUs !== undefined ? c : undefined;
    });
    const stages = [chain.eventUs, chain.agentSentUs, chain.receivedUs, chain.verdictUs, chain.translatedUs, chain.firstPushUs, chain.lastAckUs];
    for (const s of stages) assert.equal(typeof s, "number");
    for (let i = 1; i < stages.length; i++) assert.ok(stages[i]! >= stages[i - 1]!, `stage ${i} after stage ${i - 1}: ${stages.join(", ")}`);
    assert.equal(chain.latencyUs, chain.lastAckUs! - chain.eventUs);
    assert.equal(chain.proxies, pods.length, "every workload's proxy had to take the enforcement");
    assert.equal(chain.acked, pods.length);
    const deliveries = q.deliveries(signalId);
    assert.ok(deliveries.some((d) => d.typeUrl === TypeUrl.Listener && d.answeredMs !== undefined && !d.nack));
    const metrics = await (await fetch(`http://${cp!.monitoringAddress}/metrics`)).text();
    assert.match(metrics, /^meshward_enforcement_chain_seconds_count [1-9]/m);
    console.log(`      syscall -> last ACK: ${(chain.latencyUs! / 1000).toFixed(1)} ms over ${chain.proxies} proxies`);
    // The same, as an operator sees it next to the running serve.
    const bin = join(process.cwd(), "bin", "meshward");
    const { stdout: trail } = await promisify(execFile)(bin, ["events", "--signal", signalId, "--data-dir", dataDir]);
    assert.match(trail, new RegExp(`chain .*signal=${signalId} syscall->last ACK [0-9.]+ms over ${pods.length} proxies \\(${pods.length} ACK, 0 NACK\\): agent \\+[0-9.]+ms received \\+[0-9.]+ms verdict \\+[0-9.]+ms translated \\+[0-9.]+ms first push \\+[0-9.]+ms last ACK \\+[0-9.]+ms`));
    assert.match(trail, /\bquarantine pod q-/);
    const { stdout: list } = await promisify(execFile)(bin, ["quarantine", "list", "--data-dir", dataDir]);
    assert.match(list, new RegExp(`quarantine +pod +${NS}/${bad.name} +${bad.net.ip.replace(/[.]/g, "\\.")}`));
  });

  it("a restarted control plane keeps the quarantine in force", async () => {
    await cp!.stop();
    cp = await startControlPlane(cpOptions);
    watch(cp);
    const restartedAt = events.length;
    assert.ok(
      (cp.provider.snapshot.others.get("AuthorizationPolicy") ?? []).some((a) => a.object.metadata.name.startsWith("meshward-quarantine-")),
      "the first snapshot after the restart carries the quarantine",
    );
    // Every workload took its listeners from the new control plane ...
    for (const p of pods) {
      const id = `sidecar~${p.net.ip}~${p.name}.${NS}~${NS}.svc.cluster.local`;
      await eventually(`${p.short} to ACK listeners from the restarted control plane`, () =>
        events.slice(restartedAt).some((e) => e.kind === "ack" && e.proxyId === id && e.typeUrl === TypeUrl.Listener) ? true : undefined, 30_000);
    }
    // ... and they still enforce it.
    assert.equal(await call(peer, bad), "denied");
    assert.equal(await call(bad, peer), "denied");
    assert.equal(await call(good, peer), "ok:peer");
  });

  it("meshward quarantine release restores traffic", async () => {
    const bin = join(process.cwd(), "bin", "meshward");
    const { stdout } = await promisify(execFile)(bin, ["quarantine", "release", `${NS}/${bad.name}`, "--data-dir", dataDir]);
    assert.match(stdout, /^released q-/m);
    await until(peer, bad, "ok:web-a");
    await until(bad, peer, "ok:peer");
    const db = openAuditDatabase(dataDir, { readonly: true, mustExist: true });
    try {
      const actions = new AuditQuery(db).actions({ pod: bad.uid });
      assert.deepEqual(actions.map((a) => a.event), ["created", "released"]);
    } finally {
      db.close();
    }
  });

  it("nothing meshward sent was NACKed", () => {
    assert.deepEqual(events.filter((e) => e.kind === "nack"), []);
  });
});
