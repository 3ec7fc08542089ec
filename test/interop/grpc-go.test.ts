// Interop with grpc-go (v1.85, built from the Go module proxy), the second real xDS implementation
// besides @grpc/grpc-js-xds. meshward runs for real (file source -> translators -> provider -> xDS
// server) on a temporary mesh-config; grpc-go xDS servers (xds.NewGRPCServer) and an xDS client
// (xds:///...) are configured only by it. grpc-go speaks SotW ADS only: v1.85 has no delta xDS
// client (its ADS stream opens StreamAggregatedResources alone), which the last test pins down.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";
import { startControlPlane, type ControlPlane } from "../../src/mesh/control-plane.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { TypeUrl, type EncodedResource } from "../../src/xds/types.js";
import type { XdsAckEvent, XdsNackEvent, XdsPushEvent } from "../../src/xds/server.js";
import { expectEnvoyValidResources } from "../support/envoy-valid.js";
import { grpcGoBootstrap, grpcGoPeer, spawnPeer, type Peer, type PeerEvent } from "../support/grpc-go-peer.js";

const SERVICE = "echo.default.svc.cluster.local";
const PORT = 7070;
const TARGET = `xds:///${SERVICE}:${PORT}`;
const NS = "default";

interface Node {
  readonly id: string;
  readonly metadata: JsonObject;
}

function node(pod: string, labels: Record<string, string>): Node {
  return { id: `sidecar~127.0.0.1~${pod}.${NS}~${NS}.svc.cluster.local`, metadata: { GENERATOR: "grpc", NAMESPACE: NS, SERVICE_ACCOUNT: pod, LABELS: labels } };
}

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
  const acks: XdsAckEvent[] = [];
  const nacks: XdsNackEvent[] = [];
  const pushes: XdsPushEvent[] = [];
  const invalid: string[] = [];
  const validated = new Set<string>();
  const proxies = new Map<string, Proxy>();
  let serverA: Peer;
  let serverB: Peer;
  let client: Peer;
  let portA = 0;
  let portB = 0;
  const nodeA = node("echo-a", { app: "echo" });
  const nodeB = node("echo-b", { app: "echo" });
  const nodeClient = node("client", { app: "client" });

  /** Writes a mesh-config file the way an editor does: to a temp name, then rename. */
  function writeConfig(file: string, text: string): void {
    const tmp = join(dir, `.${file}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, file));
  }

  /** Every resource named in a push must pass Envoy's validation rules (checked as it is sent). */
  function checkPush(e: XdsPushEvent): void {
    pushes.push(e);
    const proxy = proxies.get(e.proxyId);
    if (proxy === undefined || cp === undefined) {
      invalid.push(`push to unknown proxy ${e.proxyId}`);
      return;
    }
    const all = cp.provider.resources(proxy, e.typeUrl);
    const sent: EncodedResource[] = [];
    for (const name of e.names) {
      const r = all.get(name);
      if (r === undefined) invalid.push(`push to ${e.proxyId} names ${name}, which the provider does not hold`);
      else if (!validated.has(`${r.typeUrl}|${r.name}|${r.version}`)) sent.push(r);
    }
    try {
      expectEnvoyValidResources(sent);
    } catch (err) {
      invalid.push(err instanceof Error ? err.message : String(err));
    }
    for (const r of sent) validated.add(`${r.typeUrl}|${r.name}|${r.version}`);
  }

  async function startServer(name: string, n: Node): Promise<{ peer: Peer; port: number }> {
    const peer = spawnPeer(binary, name, ["server", "--xds", "--addr", "127.0.0.1:0", "--id", name], {
      bootstrap: grpcGoBootstrap({ xdsAddress: cp!.xdsAddress, nodeId: n.id, metadata: n.metadata }),
    });
    peers.push(peer);
    const listening = await peer.waitFor((e) => e.event === "listening", "listening line");
    const port = Number(String(listening["addr"]).split(":").pop());
    assert.ok(port > 0, `bad listening address ${String(listening["addr"])}`);
    return { peer, port };
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
    // The first run builds the peer (about 1-2 minutes on 2 cores, more with a cold module cache).
    this.timeout(600_000);
    const built = await grpcGoPeer();
    if ("skip" in built) {
      console.log(`      skipping grpc-go interop: ${built.skip}`);
      return this.skip();
    }
    binary = built.path;
    dir = mkdtempSync(join(tmpdir(), "meshward-grpc-go-"));
    writeConfig("mesh.yaml", meshYaml);
    writeConfig("echo.yaml", serviceYaml);
    cp = await startControlPlane({
      configDir: dir,
      xdsAddress: "127.0.0.1:0",
      monitoringAddress: "127.0.0.1:0",
      dataDir: join(dir, ".data"),
      debounceMs: 20,
      log: (l) => logs.push(l),
    });
    for (const n of [nodeA, nodeB, nodeClient]) proxies.set(n.id, parseProxyNode(n));
    cp.xds.on("push", checkPush);
    cp.xds.on("ack", (e) => acks.push(e));
    cp.xds.on("nack", (e) => nacks.push(e));
    ({ peer: serverA, port: portA } = await startServer("echo-a", nodeA));
    ({ peer: serverB, port: portB } = await startServer("echo-b", nodeB));
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await cp?.stop();
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
    writeFileSync(bootstrapFile, JSON.stringify(grpcGoBootstrap({ xdsAddress: cp!.xdsAddress, nodeId: nodeClient.id, metadata: nodeClient.metadata })));
    client = spawnPeer(binary, "client", ["client", "--target", TARGET, "--calls", "0"], { env: { GRPC_XDS_BOOTSTRAP: bootstrapFile } });
    peers.push(client);
    const calls = await client.call(5);
    assert.equal(calls.length, 5);
    for (const c of calls) assert.deepEqual([c["ok"], c["code"], c["server"], c["peer"]], [true, "OK", "echo-a", `127.0.0.1:${portA}`], client.failure(JSON.stringify(c)).message);
    // The server saw the calls, in plaintext (no mTLS configured).
    assert.ok(serverA.events.some((e) => e.event === "served" && e["method"] === "UnaryCall" && e["tls"] === false));
  });

  it("a new WorkloadEntry reaches grpc-go without a restart: echo-b serves and gets calls", async () => {
    const fromB = serverB.events.length;
    writeConfig("echo-b.yaml", workloadEntryYaml("echo-b", portB));
    await serving(serverB, "SERVING", fromB);
    const batch = await callUntil((calls) => calls.some((c) => c["server"] === "echo-b"), "a call answered by echo-b");
    assert.ok(batch.every((c) => c["ok"] === true), JSON.stringify(batch));
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

  it("meshward recorded grpc-go's ACKs for LDS, RDS, CDS and EDS and no NACK", () => {
    assert.deepEqual(nacks.map((n) => `${n.proxyId} ${n.typeUrl}: ${n.error}`), []);
    const ackedTypes = (id: string): Set<string> => new Set(acks.filter((a) => a.proxyId === id).map((a) => a.typeUrl));
    assert.deepEqual(ackedTypes(nodeClient.id), new Set([TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment]));
    for (const n of [nodeA, nodeB]) assert.ok(ackedTypes(n.id).has(TypeUrl.Listener), `no LDS ACK from ${n.id}`);
    // Each push to grpc-go was acknowledged: nothing is left pending on any stream.
    const open = cp!.xds.status().filter((s) => proxies.has(s.proxyId));
    assert.equal(open.length, 3);
    for (const s of open) for (const t of s.types) assert.equal(t.pending, false, `${s.proxyId} ${t.typeUrl} unacknowledged`);
    assert.equal(cp!.metrics.counter("meshward_xds_nacks_total", "").get({ type: "lds" }), 0);
  });

  it("every resource sent to grpc-go passes Envoy's validation rules", () => {
    assert.ok(pushes.length > 0 && validated.size > 0);
    assert.deepEqual(invalid, []);
  });

  it("grpc-go v1.85 uses SotW ADS, not delta, for every stream", () => {
    const open = cp!.xds.status().filter((s) => proxies.has(s.proxyId));
    assert.deepEqual(
      open.map((s) => [s.protocol, s.service]),
      open.map(() => ["sotw", "envoy.service.discovery.v3.AggregatedDiscoveryService"]),
    );
  });
});
