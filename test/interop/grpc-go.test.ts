// Interop with grpc-go (v1.85, built from the Go module proxy), the second real xDS implementation
// besides @grpc/grpc-js-xds. meshward runs for real (file source -> translators -> provider -> xDS
// server) on a temporary mesh-config; grpc-go xDS servers (xds.NewGRPCServer) and an xDS client
// (xds:///...) are configured only by it. grpc-go speaks SotW ADS only: v1.85 has no delta xDS
// client (its ADS stream opens StreamAggregatedResources alone), which the last test pins down.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { TypeUrl } from "../../src/xds/types.js";
import { PushRecorder } from "../support/push-recorder.js";
import { grpcGoBootstrap, grpcGoPeerOrSkip, proxylessNode, spawnPeer, type Peer, type PeerEvent, type ProxylessNode } from "../support/grpc-go-peer.js";

const SERVICE = "echo.default.svc.cluster.local";
const PORT = 7070;
const TARGET = `xds:///${SERVICE}:${PORT}`;
const NS = "default";

const meshYaml = "trustDomain: cluster.local\nrootNamespace: istio-system\n";
const serviceYaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: ${NS}}
spec:
  hosts: [${SERVICE}]
  ports:
  - {number: ${PORT}, name: grpc, protocol: GRPC}
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector:
    labels: {app: echo}
`;

function workloadEntryYaml(name: string, port: number): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: ${NS}}
spec:
  address: 127.0.0.1
  ports: {grpc: ${port}}
  labels: {app: echo}
  serviceAccount: ${name}
`;
}

describe("xds interop with grpc-go (xdspeer)", function () {
  this.timeout(120_000);
  let binary = "";
  let dir = "";
  let cp: ControlPlane | undefined;
  const peers: Peer[] = [];
  const logs: string[] = [];
  let rec: PushRecorder;
  let serverA: Peer;
  let serverB: Peer;
  let client: Peer;
  let portA = 0;
  let portB = 0;
  const nodeA = proxylessNode("echo-a", NS, { app: "echo" });
  const nodeB = proxylessNode("echo-b", NS, { app: "echo" });
  const nodeClient = proxylessNode("client", NS, { app: "client" });

  /** Writes a mesh-config file the way an editor does: to a temp name, then rename. */
  function writeConfig(file: string, text: string): void {
    const tmp = join(dir, `.${file}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, file));
  }

  async function startServer(name: string, n: ProxylessNode, extra: string[] = []): Promise<{ peer: Peer; port: number }> {
    const peer = spawnPeer(binary, name, ["server", "--xds", "--addr", "127.0.0.1:0", "--id", name, ...extra], {
      bootstrap: grpcGoBootstrap({ xdsAddress: cp!.xdsAddress, node: n }),
    });
    peers.push(peer);
    return { peer, port: await peer.listeningPort() };
  }

  const serving = (p: Peer, mode: "SERVING" | "NOT_SERVING", from = 0): Promise<PeerEvent> =>
    p.waitFor((e) => e.event === "serving-mode" && e["mode"] === mode, `serving-mode ${mode}`, 30_000, from);

  /** Calls in batches until `pred` holds for a batch; the change under test has then reached grpc-go. */
  async function callUntil(pred: (calls: PeerEvent[]) => boolean, what: string, batches = 20): Promise<PeerEvent[]> {
    let last: PeerEvent[] = [];
    for (let i = 0; i < batches; i++) {
      last = await client.call(6, 3_000);
      if (pred(last)) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw client.failure(`${what} not seen in ${batches} batches; last batch: ${JSON.stringify(last)}`);
  }

  before(async function () {
    binary = await grpcGoPeerOrSkip(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-grpc-go-"));
    writeConfig("mesh.yaml", meshYaml);
    writeConfig("echo.yaml", serviceYaml);
    cp = await startTestControlPlane(dir, { log: (l) => logs.push(l) });
    rec = new PushRecorder(cp.xds, cp.provider);
    for (const n of [nodeA, nodeB, nodeClient]) rec.expect(n);
    ({ peer: serverA, port: portA } = await startServer("echo-a", nodeA));
    // echo-b and the client use xDS credentials: with no TLS configured by meshward (mTLS comes
    // with the CA) they fall back to plaintext, which is what an Istio mesh without mTLS does.
    ({ peer: serverB, port: portB } = await startServer("echo-b", nodeB, ["--xds-creds"]));
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await rec?.untilDisconnected();
    if (cp) await PushRecorder.bounded("meshward control plane stop()", cp.stop());
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a grpc-go xDS server serves once meshward has its inbound listener (WorkloadEntry added)", async () => {
    // No WorkloadEntry selects it yet: its listener does not exist, so it must not serve.
    await serving(serverA, "NOT_SERVING");
    const from = serverA.events.length;
    writeConfig("echo-a.yaml", workloadEntryYaml("echo-a", portA));
    await serving(serverA, "SERVING", from);
  });

  it(`a grpc-go client dials ${TARGET} and every call reaches echo-a`, async () => {
    // The bootstrap as a file (GRPC_XDS_BOOTSTRAP) here; the servers use GRPC_XDS_BOOTSTRAP_CONFIG.
    const bootstrapFile = join(dir, ".client-bootstrap.json");
    writeFileSync(bootstrapFile, JSON.stringify(grpcGoBootstrap({ xdsAddress: cp!.xdsAddress, node: nodeClient })));
    client = spawnPeer(binary, "client", ["client", "--target", TARGET, "--calls", "0", "--xds-creds"], { env: { GRPC_XDS_BOOTSTRAP: bootstrapFile } });
    peers.push(client);
    const calls = await client.call(5);
    assert.equal(calls.length, 5);
    for (const c of calls) assert.deepEqual([c["ok"], c["code"], c["server"], c["peer"]], [true, "OK", "echo-a", `127.0.0.1:${portA}`], client.failure(JSON.stringify(c)).message);
    // The server saw the calls, in plaintext (no mTLS configured).
    // (Waited for: the server's stdout may be read after the client's.)
    await serverA.waitFor((e) => e.event === "served" && e["method"] === "UnaryCall" && e["tls"] === false, "a plaintext UnaryCall served");
  });

  it("a new WorkloadEntry reaches grpc-go without a restart: echo-b serves and gets calls", async () => {
    const fromB = serverB.events.length;
    writeConfig("echo-b.yaml", workloadEntryYaml("echo-b", portB));
    await serving(serverB, "SERVING", fromB);
    const batch = await callUntil((calls) => calls.some((c) => c["server"] === "echo-b"), "a call answered by echo-b");
    assert.ok(batch.every((c) => c["ok"] === true), JSON.stringify(batch));
    await serverB.waitFor((e) => e.event === "served" && e["tls"] === false, "a plaintext call served");
    assert.ok(client.events.every((e) => e.event !== "fatal"));
  });

  it("removing echo-a's WorkloadEntry drains it from grpc-go's endpoints and stops its server", async () => {
    const fromA = serverA.events.length;
    unlinkSync(join(dir, "echo-a.yaml"));
    // Its inbound listener is gone from LDS (SotW full state means deletion): not serving.
    await serving(serverA, "NOT_SERVING", fromA);
    const batch = await callUntil((calls) => calls.every((c) => c["ok"] === true && c["server"] === "echo-b"), "a batch answered by echo-b alone");
    assert.equal(batch.length, 6);
  });

  it("meshward recorded grpc-go's ACKs for LDS, RDS, CDS and EDS and no NACK", async () => {
    assert.deepEqual(rec.nacks.map((n) => `${n.proxyId} ${n.typeUrl}: ${n.error}`), []);
    assert.deepEqual(rec.ackedTypes(nodeClient.id), new Set([TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment]));
    for (const n of [nodeA, nodeB]) assert.ok(rec.ackedTypes(n.id).has(TypeUrl.Listener), `no LDS ACK from ${n.id}`);
    // Each push to grpc-go was acknowledged: nothing is left pending on any stream.
    const open = cp!.xds.status().filter((s) => rec.knows(s.proxyId));
    assert.equal(open.length, 3);
    for (const s of open) for (const t of s.types) assert.equal(t.pending, false, `${s.proxyId} ${t.typeUrl} unacknowledged`);
    assert.equal(await cp!.metrics.counter("pilot_total_xds_rejects", "").get({ type: "lds" }), 0);
  });

  it("every resource sent to grpc-go passes Envoy's validation rules", () => {
    assert.ok(rec.pushes.length > 0 && rec.validated.size > 0);
    assert.deepEqual(rec.invalid, []);
  });

  it("grpc-go v1.85 uses SotW ADS, not delta, for every stream", () => {
    const open = cp!.xds.status().filter((s) => rec.knows(s.proxyId));
    assert.deepEqual(
      open.map((s) => [s.protocol, s.service]),
      open.map(() => ["sotw", "envoy.service.discovery.v3.AggregatedDiscoveryService"]),
    );
  });
});
