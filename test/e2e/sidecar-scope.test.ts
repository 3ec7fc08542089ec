// End to end: a Sidecar that leaves a service out of a workload's egress hosts makes it unreachable
// from that workload, with the real xDS clients (@grpc/grpc-js-xds and grpc-go), while a workload
// the Sidecar does not select keeps reaching it; removing the Sidecar brings the service back.
import { strict as assert } from "node:assert";
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import type { XdsAckEvent } from "../../src/xds/server.js";
import { TypeUrl } from "../../src/xds/types.js";
import { EchoClient, EchoServer, eventually, freePort, type NodeSpec } from "../support/proxyless.js";
import { echoHost, serviceEntry, workloadEntry } from "../support/echo-config.js";
import { grpcGoBootstrap, grpcGoPeerOrSkip, proxylessNode, spawnPeer, type Peer, type PeerEvent } from "../support/grpc-go-peer.js";

/** Limits workloads labelled app=frontend in `frontend` to their own namespace: echo (in default) is left out. */
const frontendSidecar = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: frontend, namespace: frontend}
spec:
  workloadSelector: {labels: {app: frontend}}
  egress:
  - hosts: [./*, istio-system/*]
`;

function writeConfig(dir: string, file: string, text: string): void {
  const tmp = join(dir, `.${file}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(dir, file));
}

/** The call's outcome: the backend's name, or the gRPC failure. */
async function outcome(client: EchoClient): Promise<string> {
  try {
    return await client.call(3000);
  } catch (e) {
    return `failed: ${(e as Error).message}`;
  }
}

describe("e2e: a Sidecar leaving a service out makes it unreachable (grpc-js-xds)", function () {
  this.timeout(90_000);
  let dir = "";
  let cp: ControlPlane | undefined;
  let server: EchoServer | undefined;
  const clients: EchoClient[] = [];
  let scoped: EchoClient;
  let unscoped: EchoClient;
  const acks: XdsAckEvent[] = [];
  const scopedNode: NodeSpec = { ip: "127.0.0.101", pod: "frontend-1", namespace: "frontend", labels: { app: "frontend" } };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-sidecar-e2e-"));
    const port = await freePort();
    writeConfig(dir, "mesh.yaml", "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeConfig(dir, "echo.yaml", [serviceEntry(), workloadEntry("echo-1", port, "local/a")].join("---\n"));
    cp = await startTestControlPlane(dir, { log: () => {} });
    cp.xds.on("ack", (e) => acks.push(e));
    const serverNode: NodeSpec = { ip: "127.0.0.1", pod: "echo", namespace: "default", labels: { app: "echo" } };
    server = new EchoServer("backend-1", cp.xdsAddress, serverNode);
    await server.start(`127.0.0.1:${port}`);
    scoped = new EchoClient(`${echoHost}:7070`, cp.xdsAddress, scopedNode);
    unscoped = new EchoClient(`${echoHost}:7070`, cp.xdsAddress, { ip: "127.0.0.102", pod: "batch-1", namespace: "frontend", labels: { app: "batch" } });
    clients.push(scoped, unscoped);
  });

  after(async () => {
    for (const c of clients) c.close();
    server?.stop();
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("without a Sidecar both workloads reach the echo service", async () => {
    assert.equal(await scoped.call(), "backend-1");
    assert.equal(await unscoped.call(), "backend-1");
  });

  it("a Sidecar selecting one workload cuts it off the service and leaves the other alone", async () => {
    writeConfig(dir, "sidecar.yaml", frontendSidecar);
    const failure = await eventually("the selected workload's calls to fail", async () => {
      const o = await outcome(scoped);
      return o.startsWith("failed") ? o : undefined;
    });
    // grpc-js-xds fails the call because the listener for the service is gone from its LDS.
    assert.match(failure, /UNAVAILABLE|does not exist|not found/i);
    assert.equal(await unscoped.call(), "backend-1");
    assert.ok(cp!.provider.snapshot.accepted.has("Sidecar frontend/frontend"));
  });

  it("removing the Sidecar gives the workload the service again", async () => {
    const from = acks.length;
    unlinkSync(join(dir, "sidecar.yaml"));
    // meshward sends the listener again and the client ACKs it. grpc-js-xds 1.14.7 keeps its copy of
    // a listener removed by a SotW response and drops an identical one that comes back (xds-client.js
    // resourcesEqual before notifying), so the open channel stays failed; a new channel of the same
    // workload shows what the workload now gets. grpc-go re-delivers it (the test below).
    await eventually("the echo listener to be ACKed again", () =>
      acks.slice(from).some((e) => e.proxyId.includes("frontend-1") && e.typeUrl === TypeUrl.Listener && e.names.includes(`${echoHost}:7070`)) || undefined,
    );
    const again = new EchoClient(`${echoHost}:7070`, cp!.xdsAddress, scopedNode);
    clients.push(again);
    assert.equal(await again.call(), "backend-1");
  });
});

describe("e2e: a Sidecar leaving a service out makes it unreachable (grpc-go)", function () {
  this.timeout(120_000);
  let binary = "";
  let dir = "";
  let cp: ControlPlane | undefined;
  const peers: Peer[] = [];
  let client: Peer;

  /** Calls in batches until `pred` holds for one; the change under test has then reached grpc-go. */
  async function callUntil(pred: (calls: PeerEvent[]) => boolean, what: string): Promise<PeerEvent[]> {
    let last: PeerEvent[] = [];
    for (let i = 0; i < 30; i++) {
      last = await client.call(3, 3_000);
      if (pred(last)) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw client.failure(`${what} not seen; last batch: ${JSON.stringify(last)}`);
  }

  before(async function () {
    binary = await grpcGoPeerOrSkip(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-sidecar-go-"));
    writeConfig(dir, "mesh.yaml", "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    cp = await startTestControlPlane(dir, { log: () => {} });
    const serverNode = proxylessNode("echo-a", "default", { app: "echo" });
    const server = spawnPeer(binary, "echo-a", ["server", "--xds", "--addr", "127.0.0.1:0", "--id", "echo-a"], { bootstrap: grpcGoBootstrap({ xdsAddress: cp.xdsAddress, node: serverNode }) });
    peers.push(server);
    const port = await server.listeningPort();
    writeConfig(dir, "echo.yaml", [serviceEntry(), workloadEntry("echo-a", port, "local/a")].join("---\n"));
    const bootstrapFile = join(dir, ".client-bootstrap.json");
    writeFileSync(bootstrapFile, JSON.stringify(grpcGoBootstrap({ xdsAddress: cp.xdsAddress, node: proxylessNode("frontend-1", "frontend", { app: "frontend" }) })));
    client = spawnPeer(binary, "client", ["client", "--target", `xds:///${echoHost}:7070`, "--calls", "0"], { env: { GRPC_XDS_BOOTSTRAP: bootstrapFile } });
    peers.push(client);
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    if (cp) await cp.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("grpc-go reaches the echo service while no Sidecar applies", async () => {
    await callUntil((calls) => calls.length > 0 && calls.every((c) => c["ok"] === true && c["server"] === "echo-a"), "a batch answered by echo-a");
  });

  it("a Sidecar leaving echo out makes grpc-go's calls fail, and removing it brings them back", async () => {
    writeConfig(dir, "sidecar.yaml", frontendSidecar);
    const failed = await callUntil((calls) => calls.length > 0 && calls.every((c) => c["ok"] === false), "a batch of failed calls");
    // The listener for echo is gone from grpc-go's LDS: its resolver reports the resource removed.
    assert.ok(failed.every((c) => /ListenerResource" has been removed|does not exist/.test(String(c["error"]))), JSON.stringify(failed));
    unlinkSync(join(dir, "sidecar.yaml"));
    await callUntil((calls) => calls.length > 0 && calls.every((c) => c["ok"] === true), "a batch answered again");
  });
});
