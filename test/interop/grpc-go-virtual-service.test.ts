// VirtualService routing as grpc-go (v1.85, the second real xDS client) applies it: meshward
// routes grpc-go clients' calls between DestinationRule subsets served by grpc-go xDS servers:
// header-match routing, a weighted split, retries, a route timeout, fault delay and fault abort.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import type { XdsNackEvent } from "../../src/xds/server.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { echoHost, serviceEntry, workloadEntry } from "../support/echo-config.js";
import { grpcGoBootstrap, grpcGoPeerOrSkip, proxylessNode, spawnPeer, type Peer, type PeerEvent } from "../support/grpc-go-peer.js";

const TARGET = `xds:///${echoHost}:7070`;

const rules = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: ${echoHost}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: slow, labels: {version: slow}}
  - {name: flaky, labels: {version: flaky}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [${echoHost}]
  http:
  - name: jason
    match: [{headers: {x-user: {exact: jason}}}]
    route: [{destination: {host: ${echoHost}, subset: v2}}]
  - name: abort
    match: [{headers: {x-fault: {exact: abort}}}]
    fault: {abort: {grpcStatus: RESOURCE_EXHAUSTED, percentage: {value: 100}}}
    route: [{destination: {host: ${echoHost}, subset: v1}}]
  - name: delay
    match: [{headers: {x-fault: {exact: delay}}}]
    fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}
    route: [{destination: {host: ${echoHost}, subset: v1}}]
  - name: timeout
    match: [{headers: {x-fault: {exact: slow}}}]
    timeout: 1s
    route: [{destination: {host: ${echoHost}, subset: slow}}]
  - name: retried
    match: [{headers: {x-flaky: {exact: retry}}}]
    retries: {attempts: 3, retryOn: unavailable}
    route: [{destination: {host: ${echoHost}, subset: flaky}}]
  - name: not-retried
    match: [{headers: {x-flaky: {exact: once}}}]
    retries: {attempts: 0}
    route: [{destination: {host: ${echoHost}, subset: flaky}}]
  - name: split
    route:
    - {destination: {host: ${echoHost}, subset: v1}, weight: 70}
    - {destination: {host: ${echoHost}, subset: v2}, weight: 30}
`;

const codesOf = (calls: readonly PeerEvent[]): string[] => calls.map((c) => String(c["code"]));

describe("xds interop with grpc-go: VirtualService routing", function () {
  this.timeout(180_000);
  let binary = "";
  let dir = "";
  let cp: ControlPlane | undefined;
  const peers: Peer[] = [];
  const nacks: XdsNackEvent[] = [];
  const clients = new Map<string, Peer>();

  /** An interactive grpc-go client sending `header` (name=value) with every call. */
  function client(name: string, header?: string): Peer {
    const peer = spawnPeer(binary, name, ["client", "--target", TARGET, "--calls", "0", ...(header ? ["--header", header] : [])], {
      bootstrap: grpcGoBootstrap({ xdsAddress: cp!.xdsAddress, node: proxylessNode(name, "default", { app: "client" }) }),
    });
    peers.push(peer);
    clients.set(name, peer);
    return peer;
  }

  before(async function () {
    binary = await grpcGoPeerOrSkip(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-grpc-go-vs-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    cp = await startTestControlPlane(dir);
    cp.xds.on("nack", (e) => nacks.push(e));
    // slow holds every call 3 s; flaky fails every odd call with UNAVAILABLE.
    const extra: Record<string, string[]> = { v1: [], v2: [], slow: ["--delay", "3s"], flaky: ["--fail-odd"] };
    const servers = Object.keys(extra).map((v) => {
      const peer = spawnPeer(binary, `echo-${v}`, ["server", "--xds", "--addr", "127.0.0.1:0", "--id", v, ...extra[v]!], {
        bootstrap: grpcGoBootstrap({ xdsAddress: cp!.xdsAddress, node: proxylessNode(`echo-${v}`, "default", { app: "echo", version: v }) }),
      });
      peers.push(peer);
      return peer;
    });
    const ports = await Promise.all(servers.map((s) => s.listeningPort()));
    writeFileSync(join(dir, "echo.yaml"), [serviceEntry(), ...Object.keys(extra).map((v, i) => workloadEntry(`echo-${v}`, ports[i]!, "local/a", 1, v)), rules].join("---\n"));
    await Promise.all(servers.map((s) => s.waitFor((e) => e.event === "serving-mode" && e["mode"] === "SERVING", "SERVING", 60_000)));
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a header match sends every matching call to its subset", async () => {
    const jason = client("jason", "x-user=jason");
    const calls = await jason.call(20, 10_000);
    assert.deepEqual([...new Set(calls.map((c) => String(c["server"])))], ["v2"], JSON.stringify(calls.slice(0, 3)));
  });

  it("the weighted split 70:30 between subsets holds within tolerance over 300 calls", async () => {
    const plain = client("plain");
    const calls = await plain.call(300, 10_000);
    const v1 = calls.filter((c) => c["server"] === "v1").length;
    const v2 = calls.filter((c) => c["server"] === "v2").length;
    // Binomial(300, 0.7): mean 210, sd 7.9; 4 sd either side.
    assert.equal(v1 + v2, 300, JSON.stringify(codesOf(calls).filter((c) => c !== "OK")));
    assert.ok(v1 >= 178 && v1 <= 242, `v1 should get ~70% of 300 calls, got v1=${v1} v2=${v2}`);
  });

  it("a fault abort fails the call with the configured gRPC status", async () => {
    const calls = await client("abort", "x-fault=abort").call(5, 10_000);
    assert.deepEqual(codesOf(calls), Array(5).fill("ResourceExhausted"));
  });

  it("a fault delay holds the call: it misses a shorter deadline and answers within a longer one", async () => {
    const delayed = client("delay", "x-fault=delay");
    assert.deepEqual(codesOf(await delayed.call(1, 1_000)), ["DeadlineExceeded"]);
    const ok = await delayed.call(1, 20_000);
    assert.deepEqual([codesOf(ok), ok.map((c) => c["server"])], [["OK"], ["v1"]]);
  });

  it("a route timeout ends a call the server holds, though the caller's own deadline is far off", async () => {
    assert.deepEqual(codesOf(await client("slow", "x-fault=slow").call(1, 20_000)), ["DeadlineExceeded"]);
  });

  it("retries turn every other UNAVAILABLE into an answer; with attempts 0 half the calls fail", async () => {
    assert.deepEqual(codesOf(await client("retry", "x-flaky=retry").call(10, 10_000)), Array(10).fill("OK"));
    const once = codesOf(await client("once", "x-flaky=once").call(10, 10_000));
    assert.deepEqual([once.filter((c) => c === "OK").length, once.filter((c) => c === "Unavailable").length], [5, 5], JSON.stringify(once));
  });

  it("no grpc-go proxy NACKed anything meshward sent", () => {
    assert.deepEqual(nacks, []);
  });
});
