// End to end with the real @grpc/grpc-js-xds: a VirtualService routes a proxyless client's calls
// between DestinationRule subsets of one service, as configured by meshward from files: a weighted
// split, header-match routing, retries (and none), a route timeout, fault delay and fault abort.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import type { XdsNackEvent } from "../../src/xds/server.js";
import { EchoClient, EchoServer, bootstrap, bootstrapOption, echoService, eventually, expectValidForNode, freePort, type NodeSpec } from "../support/proxyless.js";
import { echoHost, serviceEntry, workloadEntry } from "../support/echo-config.js";

const host = echoHost;

const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: ${host}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: flaky, labels: {version: flaky}}
`;

/** Short destination names resolve in the VirtualService's namespace (echo -> echo.default.svc.cluster.local). */
const virtualService = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo]
  http:
  - name: jason
    match: [{headers: {x-user: {exact: jason}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - name: abort
    match: [{headers: {x-fault: {exact: abort}}}]
    fault: {abort: {grpcStatus: PERMISSION_DENIED, percentage: {value: 100}}}
    route: [{destination: {host: echo, subset: v1}}]
  - name: delay
    match: [{headers: {x-fault: {exact: delay}}}]
    fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}
    route: [{destination: {host: echo, subset: v1}}]
  - name: timeout
    match: [{headers: {x-fault: {exact: slow}}}]
    fault: {delay: {fixedDelay: 3s, percentage: {value: 100}}}
    timeout: 1s
    route: [{destination: {host: echo, subset: v1}}]
  - name: retried
    match: [{headers: {x-flaky: {exact: retry}}}]
    retries: {attempts: 3, retryOn: unavailable}
    route: [{destination: {host: echo, subset: flaky}}]
  - name: not-retried
    match: [{headers: {x-flaky: {exact: once}}}]
    retries: {attempts: 0}
    route: [{destination: {host: echo, subset: flaky}}]
  - name: split
    route:
    - {destination: {host: echo, subset: v1}, weight: 75}
    - {destination: {host: echo, subset: v2}, weight: 25}
`;

/** An xDS server that fails every other call with UNAVAILABLE (odd calls fail), counting calls. */
class FlakyServer {
  readonly server: grpcXds.XdsServer;
  calls = 0;
  constructor(xdsAddress: string, node: NodeSpec) {
    this.server = new grpcXds.XdsServer({ [bootstrapOption]: bootstrap(xdsAddress, node) } as grpc.ServerOptions);
    this.server.addService(echoService, {
      echo: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        this.calls++;
        if (this.calls % 2 === 1) cb({ code: grpc.status.UNAVAILABLE, details: "flaky: odd call" });
        else cb(null, Buffer.from("flaky"));
      },
    });
  }

  start(address: string): Promise<void> {
    return new Promise((resolve, reject) => this.server.bindAsync(address, new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => (err ? reject(err) : resolve())));
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

/** The gRPC status a call ends with (OK when it answers). */
async function callStatus(client: EchoClient, timeoutMs: number, headers: Record<string, string>): Promise<grpc.status> {
  try {
    await client.call(timeoutMs, headers);
    return grpc.status.OK;
  } catch (e) {
    return (e as grpc.ServiceError).code;
  }
}

describe("e2e: VirtualService routing for proxyless gRPC (grpc-js-xds)", function () {
  this.timeout(120_000);
  let dir: string;
  let cp: ControlPlane;
  const nacks: XdsNackEvent[] = [];
  const servers: { stop(): void }[] = [];
  let flaky: FlakyServer;
  let client: EchoClient;
  const serverNode = (pod: string, version: string): NodeSpec => ({ ip: "127.0.0.1", pod, namespace: "default", labels: { app: "echo", version } });
  const clientNode: NodeSpec = { ip: "127.0.0.100", pod: "client", namespace: "default" };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-vs-e2e-"));
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "echo.yaml"), [serviceEntry(), workloadEntry("echo-v1", p1!, "local/a", 1, "v1"), workloadEntry("echo-v2", p2!, "local/a", 1, "v2"), workloadEntry("echo-flaky", p3!, "local/a", 1, "flaky"), destinationRule, virtualService].join("---\n"));
    cp = await startTestControlPlane(dir);
    cp.xds.on("nack", (e) => nacks.push(e));
    const v1 = new EchoServer("v1", cp.xdsAddress, serverNode("echo-v1", "v1"));
    const v2 = new EchoServer("v2", cp.xdsAddress, serverNode("echo-v2", "v2"));
    flaky = new FlakyServer(cp.xdsAddress, serverNode("echo-flaky", "flaky"));
    servers.push(v1, v2, flaky);
    await Promise.all([v1.start(`127.0.0.1:${p1}`), v2.start(`127.0.0.1:${p2}`), flaky.start(`127.0.0.1:${p3}`)]);
    client = new EchoClient(`${host}:7070`, cp.xdsAddress, clientNode);
    // The routes have arrived once header routing works.
    await eventually("a jason call answered by v2", async () => ((await client.call(5000, { "x-user": "jason" })) === "v2" ? true : undefined), 60_000);
  });

  // Every resource meshward may send these proxies passes Envoy's validation rules and grpc-js-xds's.
  afterEach(() => expectValidForNode(cp, clientNode));

  after(async () => {
    client?.close();
    for (const s of servers) s.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a header match sends every matching call to its subset", async () => {
    for (let i = 0; i < 20; i++) assert.equal(await client.call(5000, { "x-user": "jason" }), "v2");
  });

  it("the weighted split 75:25 between subsets holds within tolerance over 400 calls", async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const who = await client.call(5000);
      counts[who] = (counts[who] ?? 0) + 1;
    }
    // Binomial(400, 0.75): mean 300, sd 8.7; 4 sd either side. Nothing reaches the flaky subset.
    assert.deepEqual(Object.keys(counts).sort(), ["v1", "v2"], JSON.stringify(counts));
    assert.ok(counts["v1"]! >= 265 && counts["v1"]! <= 335, `v1 should get ~75% of 400 calls, got ${JSON.stringify(counts)}`);
  });

  it("retries turn every other UNAVAILABLE into an answer; with attempts 0 half the calls fail", async () => {
    const before = flaky.calls;
    for (let i = 0; i < 10; i++) assert.equal(await client.call(5000, { "x-flaky": "retry" }), "flaky");
    assert.equal(flaky.calls - before, 20, "each call took one failed attempt and one retry");
    const statuses: grpc.status[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await callStatus(client, 5000, { "x-flaky": "once" }));
    assert.equal(statuses.filter((s) => s === grpc.status.UNAVAILABLE).length, 5, JSON.stringify(statuses));
    assert.equal(statuses.filter((s) => s === grpc.status.OK).length, 5, JSON.stringify(statuses));
  });

  it("a fault abort fails the call with the configured gRPC status", async () => {
    for (let i = 0; i < 5; i++) assert.equal(await callStatus(client, 5000, { "x-fault": "abort" }), grpc.status.PERMISSION_DENIED);
  });

  it("a fault delay holds the call: it misses a deadline shorter than the delay and answers within a longer one", async () => {
    assert.equal(await callStatus(client, 1000, { "x-fault": "delay" }), grpc.status.DEADLINE_EXCEEDED);
    assert.equal(await client.call(20_000, { "x-fault": "delay" }), "v1");
  });

  it("a route timeout ends the call even though the caller's own deadline is far off", async () => {
    assert.equal(await callStatus(client, 20_000, { "x-fault": "slow" }), grpc.status.DEADLINE_EXCEEDED);
  });

  it("no proxy NACKed anything meshward sent", () => {
    assert.deepEqual(nacks, []);
  });
});
