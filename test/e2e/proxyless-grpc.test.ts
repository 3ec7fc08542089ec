// End to end with the real @grpc/grpc-js-xds: xDS-enabled servers and an `xds:///` client, all
// configured by meshward from a temporary mesh-config directory that the test edits.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import type { XdsAckEvent, XdsNackEvent, XdsPushEvent } from "../../src/xds/server.js";
import { TypeUrl } from "../../src/xds/types.js";
import { EchoClient, EchoServer, eventually, expectValidForNode, freePort, type NodeSpec } from "../support/proxyless.js";
import { echoHost, hashingRule, serviceEntry, workloadEntry } from "../support/echo-config.js";

const host = echoHost;

/** Calls `n` times; counts answers by backend. */
async function spread(client: EchoClient, n: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await client.call();
    out[who] = (out[who] ?? 0) + 1;
  }
  return out;
}

describe("e2e: proxyless gRPC (grpc-js-xds) configured by meshward from files", function () {
  this.timeout(90_000);
  let dir: string;
  let cp: ControlPlane;
  let p1: number;
  let p2: number;
  const logs: string[] = [];
  const events: (XdsPushEvent | XdsAckEvent | XdsNackEvent)[] = [];
  const servers: EchoServer[] = [];
  let client: EchoClient;
  const serverNode: NodeSpec = { ip: "127.0.0.1", pod: "echo", namespace: "default", labels: { app: "echo" } };
  const clientNode: NodeSpec = { ip: "127.0.0.100", pod: "client", namespace: "default" };

  const writeEndpoints = (...entries: string[]): void => writeFileSync(join(dir, "echo.yaml"), [serviceEntry(), ...entries].join("---\n"));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-e2e-"));
    p1 = await freePort();
    p2 = await freePort();
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeEndpoints(workloadEntry("echo-1", p1, "local/a"));
    cp = await startTestControlPlane(dir, { log: (l) => logs.push(l) });
    cp.xds.on("push", (e) => events.push(e));
    cp.xds.on("ack", (e) => events.push(e));
    cp.xds.on("nack", (e) => events.push(e));
  });

  // Everything meshward may send these proxies, in every state the tests reach, passes Envoy's
  // validation rules (the resources actually sent are a subset).
  afterEach(() => {
    for (const node of [serverNode, clientNode]) expectValidForNode(cp, node);
  });

  after(async () => {
    client?.close();
    for (const s of servers) s.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an xDS server gets its inbound listener and a client dialing xds:/// reaches it", async () => {
    const s1 = new EchoServer("backend-1", cp.xdsAddress, serverNode);
    servers.push(s1);
    await s1.start(`127.0.0.1:${p1}`);
    client = new EchoClient(`${host}:7070`, cp.xdsAddress, clientNode);
    assert.equal(await client.call(), "backend-1");
    // The client subscribed by Istio's names and ACKed every type.
    const acked = new Set(events.filter((e) => e.kind === "ack").map((e) => e.typeUrl));
    for (const t of [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment]) assert.ok(acked.has(t), `ACK for ${t}`);
    assert.ok(events.some((e) => e.kind === "ack" && e.names.includes(`xds.istio.io/grpc/lds/inbound/127.0.0.1:${p1}`)));
    assert.ok(events.some((e) => e.kind === "ack" && e.names.includes(`outbound|7070||${host}`)));
  });

  it("a new endpoint written to the config dir reaches the client without restart", async () => {
    writeEndpoints(workloadEntry("echo-1", p1, "local/a"), workloadEntry("echo-2", p2, "local/b"));
    const s2 = new EchoServer("backend-2", cp.xdsAddress, serverNode);
    servers.push(s2);
    await s2.start(`127.0.0.1:${p2}`); // its listener only exists once echo-2 is in the mesh
    await eventually("a call answered by backend-2", async () => ((await client.call()) === "backend-2" ? true : undefined));
  });

  it("a weight change moves traffic", async () => {
    writeEndpoints(workloadEntry("echo-1", p1, "local/a", 1), workloadEntry("echo-2", p2, "local/b", 50));
    await eventually("traffic to follow weights 1:50", async () => ((await spread(client, 20))["backend-2"] ?? 0) >= 18 || undefined);
    const heavy2 = await spread(client, 100);
    assert.ok((heavy2["backend-2"] ?? 0) >= 80, `backend-2 should get most calls at 1:50, got ${JSON.stringify(heavy2)}`);
    writeEndpoints(workloadEntry("echo-1", p1, "local/a", 50), workloadEntry("echo-2", p2, "local/b", 1));
    await eventually("traffic to follow weights 50:1", async () => ((await spread(client, 20))["backend-1"] ?? 0) >= 18 || undefined);
  });

  it("a DestinationRule's consistent hash pins each user to one backend", async () => {
    writeEndpoints(workloadEntry("echo-1", p1, "local/a"), workloadEntry("echo-2", p2, "local/b"), hashingRule("x-user"));
    // Pinned: each user always reaches the same backend, and users are spread over both (with
    // equal weights, round robin would not pin and a single backend would not spread).
    const pinned = async (): Promise<boolean> => {
      const backends = new Set<string>();
      for (let u = 0; u < 12; u++) {
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) seen.add(await client.call(5000, { "x-user": `user-${u}` }));
        if (seen.size !== 1) return false;
        backends.add([...seen][0]!);
      }
      return backends.size === 2;
    };
    await eventually("every user to stick to one backend", async () => ((await pinned()) ? true : undefined));
    assert.ok(events.some((e) => e.kind === "ack" && e.typeUrl === TypeUrl.Cluster && e.timeMs > 0));
  });

  it("a broken edit is reported and the last good config keeps serving", async () => {
    const before = cp.provider.snapshot.generation;
    writeFileSync(join(dir, "echo.yaml"), serviceEntry() + "---\n" + workloadEntry("echo-1", p1, "local/a").replace("weight: 1", "weight: heavy"));
    await eventually("the rejected object to be reported", () => (cp.provider.snapshot.generation > before ? true : undefined));
    const errs = cp.provider.snapshot.errors.filter((e) => e.severity === "error");
    assert.ok(errs.some((e) => e.object === "WorkloadEntry default/echo-1" && e.path === "spec.weight" && e.file === join(dir, "echo.yaml")), JSON.stringify(errs));
    assert.ok(logs.some((l) => l.includes("spec.weight")), "the error is logged");
    const res = await fetch(`http://${cp.monitoringAddress}/debug/config`);
    const debug = (await res.json()) as { errors: string[] };
    assert.ok(debug.errors.some((e) => e.includes("WorkloadEntry default/echo-1") && e.includes("spec.weight")));
    // echo-1 keeps its last good version; echo-2 is gone from the file, so only backend-1 answers.
    await eventually("only backend-1 to answer", async () => (Object.keys(await spread(client, 10)).join() === "backend-1" ? true : undefined));
  });

  it("no proxy NACKed anything meshward sent", async () => {
    assert.deepEqual(events.filter((e) => e.kind === "nack"), []);
    assert.equal((await cp.metrics.render()).match(/pilot_total_xds_rejects\{[^}]*\} [1-9]/), null);
  });
});
