// What grpc-go (v1.85) accepts from meshward: every service of the embedded mesh-config dialed by
// the names proxyless clients use, a consistent-hash DestinationRule (RING_HASH cluster and route
// hash policy) in front of plain grpc-go servers, and an invalid resource it must NACK.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { startControlPlane, type ControlPlane } from "../../src/mesh/control-plane.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { TypeUrl } from "../../src/xds/types.js";
import type { XdsNackEvent } from "../../src/xds/server.js";
import { MemoryProvider } from "../support/memory-provider.js";
import { applyChange, startXds } from "../support/xds-harness.js";
import { PushRecorder } from "../support/push-recorder.js";
import { grpcGoBootstrap, grpcGoPeerOrSkip, proxylessNode, repoRoot, spawnPeer, type Peer, type PeerEvent } from "../support/grpc-go-peer.js";

const ALL_TYPES = new Set<string>([TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment]);

describe("grpc-go accepts meshward's proxyless resources", function () {
  this.timeout(120_000);
  let binary = "";
  const peers: Peer[] = [];
  const stops: (() => Promise<void>)[] = [];

  before(async function () {
    binary = await grpcGoPeerOrSkip(this);
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    for (const stop of stops.reverse()) await stop();
  });

  async function controlPlane(configDir: string): Promise<{ cp: ControlPlane; rec: PushRecorder }> {
    const data = mkdtempSync(join(tmpdir(), "meshward-grpc-go-data-"));
    const cp = await startControlPlane({ configDir, xdsAddress: "127.0.0.1:0", monitoringAddress: "127.0.0.1:0", dataDir: data, debounceMs: 20, log: () => {} });
    stops.push(async () => {
      await cp.stop();
      rmSync(data, { recursive: true, force: true });
    });
    return { cp, rec: new PushRecorder(cp.xds, cp.provider) };
  }

  /** Runs one client for `calls` calls (each waiting at most deadlineMs) and returns its call lines. */
  async function runClient(cpAddress: string, rec: PushRecorder, pod: string, target: string, calls: number, deadlineMs: number, extra: string[] = []): Promise<PeerEvent[]> {
    const node = proxylessNode(pod, "default", { app: pod });
    rec.expect(node);
    const peer = spawnPeer(binary, pod, ["client", "--target", target, "--calls", String(calls), "--deadline", `${deadlineMs}ms`, ...extra], {
      bootstrap: grpcGoBootstrap({ xdsAddress: cpAddress, node }),
    });
    peers.push(peer);
    await peer.waitFor((e) => e.event === "done", `the end of ${calls} calls to ${target}`, calls * deadlineMs + 20_000);
    return peer.events.filter((e) => e.event === "call");
  }

  it("every service of the embedded mesh-config, by each name a proxyless client dials: all ACKed, none NACKed", async () => {
    const { cp, rec } = await controlPlane(join(repoRoot(), "mesh-config"));
    // The embedded endpoints (127.0.0.11-14) run nothing here: a call can only fail, but its error
    // names the endpoint address grpc-go took from EDS.
    const targets: [string, RegExp][] = [
      ["reviews.default.svc.cluster.local:9080", /127\.0\.0\.1[12]:908[12]/],
      ["reviews:9080", /127\.0\.0\.1[12]:908[12]/],
      ["ratings.default.svc.cluster.local:7070", /127\.0\.0\.13:7070/],
      ["ratings", /127\.0\.0\.13:7070/],
      ["db.default:5432", /127\.0\.0\.14:5432/],
    ];
    const results = await Promise.all(targets.map(([t], i) => runClient(cp.xdsAddress, rec, `embedded-${i}`, `xds:///${t}`, 1, 8000)));
    assert.deepEqual(rec.nacks.map((n) => `${n.proxyId} ${n.typeUrl}: ${n.error}`), []);
    targets.forEach(([t, endpoint], i) => {
      const id = proxylessNode(`embedded-${i}`, "default", {}).id;
      assert.deepEqual(rec.ackedTypes(id), ALL_TYPES, `${t}: types ACKed`);
      const [call] = results[i]!;
      assert.equal(call?.["ok"], false, `${t}: nothing listens there, yet ${JSON.stringify(call)}`);
      assert.match(String(call?.["error"]), endpoint, `${t}: the call error does not name the EDS endpoint`);
    });
    assert.deepEqual(rec.invalid, []);
  });

  it("a consistent-hash DestinationRule (RING_HASH, header hash policy) pins each x-user to one plain grpc-go server", async () => {
    const servers = await Promise.all(
      ["hash-a", "hash-b"].map(async (id) => {
        const peer = spawnPeer(binary, id, ["server", "--addr", "127.0.0.1:0", "--id", id]);
        peers.push(peer);
        const port = Number(String((await peer.waitFor((e) => e.event === "listening", "listening line"))["addr"]).split(":").pop());
        return { id, port };
      }),
    );
    const dir = mkdtempSync(join(tmpdir(), "meshward-grpc-go-hash-"));
    stops.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    writeFileSync(
      join(dir, "hash.yaml"),
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: hash, namespace: default}
spec:
  hosts: [hash.default.svc.cluster.local]
  ports: [{number: 8000, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints:
${servers.map((s) => `  - {address: 127.0.0.1, ports: {grpc: ${s.port}}, labels: {app: ${s.id}}}`).join("\n")}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: hash, namespace: default}
spec:
  host: hash.default.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user}
`,
    );
    const { cp, rec } = await controlPlane(dir);
    const target = "xds:///hash.default.svc.cluster.local:8000";
    // Each user's calls hash to one backend; 16 calls over two backends land on one by chance with
    // probability 2^-15 only, so a hash policy grpc-go ignored would show.
    const users = ["alice", "bob", "carol"];
    const byUser = await Promise.all(users.map((u) => runClient(cp.xdsAddress, rec, `hash-${u}`, target, 16, 20_000, ["--header", `x-user=${u}`])));
    assert.deepEqual(rec.nacks.map((n) => `${n.typeUrl}: ${n.error}`), []);
    users.forEach((u, i) => {
      const calls = byUser[i]!;
      assert.deepEqual(rec.ackedTypes(proxylessNode(`hash-${u}`, "default", {}).id), ALL_TYPES);
      assert.equal(calls.length, 16);
      for (const c of calls) assert.equal(c["ok"], true, JSON.stringify(c));
      const answered = new Set(calls.map((c) => c["server"]));
      assert.equal(answered.size, 1, `${u}'s calls were spread over ${[...answered].join(", ")}`);
      assert.ok(servers.some((s) => answered.has(s.id)));
    });
    assert.deepEqual(rec.invalid, []);
  });

  it("an invalid Listener is NACKed by grpc-go with its reason, recorded, and not re-sent", async () => {
    const provider = new MemoryProvider();
    // grpc-go rejects an api_listener that is not an HttpConnectionManager.
    const listener = create(ListenerSchema, { name: "broken", apiListener: { apiListener: anyPack(ClusterSchema, create(ClusterSchema, { name: "x" })) } });
    provider.put(TypeUrl.Listener, "broken", toBinary(ListenerSchema, listener), false);
    const h = await startXds(provider);
    stops.push(() => h.stop());
    const nacked = new Promise<XdsNackEvent>((resolve) => h.xds.once("nack", resolve));
    const node = proxylessNode("nack-client", "default", {});
    const peer = spawnPeer(binary, "nack-client", ["client", "--target", "xds:///broken", "--calls", "0"], {
      bootstrap: grpcGoBootstrap({ xdsAddress: h.address, node }),
    });
    peers.push(peer);
    // grpc.NewClient is lazy: the first call starts name resolution, so the xDS stream.
    const calling = peer.call(1, 2000);
    const nack = await nacked;
    assert.equal(nack.proxyId, node.id);
    assert.equal(nack.typeUrl, TypeUrl.Listener);
    assert.deepEqual(nack.names, ["broken"]);
    assert.match(nack.error, /broken/);
    assert.equal(h.metrics.counter("meshward_xds_nacks_total", "").get({ type: "lds" }), 1);
    assert.ok(h.logs.some((l) => l.startsWith(`xds: NACK from proxy ${node.id}`)), h.logs.join("\n"));
    let listenerPushes = 0;
    h.xds.on("push", (e) => e.typeUrl === TypeUrl.Listener && listenerPushes++);
    await applyChange(h, provider);
    assert.equal(listenerPushes, 0, "the rejected listener was re-sent");
    // grpc-go holds no good listener, so the call fails rather than reaching anything.
    const [call] = await calling;
    assert.equal(call?.["ok"], false, JSON.stringify(call));
    console.log(`      grpc-go NACK text: ${nack.error}`);
  });
});
