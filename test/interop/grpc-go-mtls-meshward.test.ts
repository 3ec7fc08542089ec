// grpc-go (v1.85) over mutual TLS as meshward configures it: the whole pipeline, not hand-written
// resources (grpc-go-mtls.test.ts pins the peer's plumbing that way). A temporary mesh-config with
// a STRICT PeerAuthentication and an ISTIO_MUTUAL DestinationRule goes through startControlPlane;
// certificates come from real `meshward workload-certs` processes; each grpc-go workload reads
// the bootstrap meshward writes for proxyless pods (src/ca/grpc-bootstrap.ts).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { grpcXdsBootstrap, type GrpcBootstrap } from "../../src/ca/grpc-bootstrap.js";
import { PushRecorder } from "../support/push-recorder.js";
import { WorkloadCertAgents } from "../support/workload-certs.js";
import { freePort } from "../support/proxyless.js";
import { echoHost, mtlsEchoConfig } from "../support/echo-config.js";
import { grpcGoPeerOrSkip, spawnPeer, type Peer } from "../support/grpc-go-peer.js";

const CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client";
const SERVER_ID = "spiffe://cluster.local/ns/default/sa/server";

describe("grpc-go mutual TLS from meshward's pipeline (STRICT PeerAuthentication, ISTIO_MUTUAL, workload-certs)", function () {
  this.timeout(120_000);
  let binary = "";
  let dir = "";
  let cp: ControlPlane | undefined;
  let rec: PushRecorder;
  let agents: WorkloadCertAgents | undefined;
  let port = 0;
  const peers: Peer[] = [];

  /** The bootstrap meshward gives a proxyless pod; the recorder learns its node to validate pushes. */
  function bootstrap(sa: string, pod: string, ip: string, certDir: string): Record<string, unknown> {
    const b: GrpcBootstrap = grpcXdsBootstrap({ xdsAddress: cp!.xdsAddress, certDir, namespace: "default", serviceAccount: sa, podName: pod, podIp: ip, labels: { app: sa } });
    rec.expect({ id: b.node.id, metadata: JSON.parse(JSON.stringify(b.node.metadata)) as JsonObject });
    return { ...b };
  }

  before(async function () {
    binary = await grpcGoPeerOrSkip(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-grpc-go-mtls-"));
    port = await freePort();
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "echo.yaml"), mtlsEchoConfig(port, "STRICT", "server"));
    cp = await startTestControlPlane(dir);
    rec = new PushRecorder(cp.xds, cp.provider);
    agents = new WorkloadCertAgents(dir, join(dir, ".data"), cp.xdsAddress);
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    agents?.stop();
    if (cp !== undefined) {
      await rec.untilDisconnected();
      await PushRecorder.bounded("control plane stop", cp.stop());
    }
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("an xDS-credentialed client reaches the xDS server over mTLS; each side sees the other's SPIFFE ID", async () => {
    const serverCerts = await agents!.start("default", "server");
    const clientCerts = await agents!.start("default", "client");
    const server = spawnPeer(binary, "echo-server", ["server", "--xds", "--xds-creds", "--addr", `127.0.0.1:${port}`, "--id", "echo-0"], {
      bootstrap: bootstrap("server", "echo-0", "127.0.0.1", serverCerts),
    });
    peers.push(server);
    await server.waitFor((e) => e.event === "serving-mode" && e["mode"] === "SERVING", "serving-mode SERVING");

    const client = spawnPeer(binary, "echo-client", ["client", "--xds-creds", "--target", `xds:///${echoHost}:7070`, "--calls", "3"], {
      bootstrap: bootstrap("client", "client-0", "127.0.0.100", clientCerts),
    });
    peers.push(client);
    await client.waitFor((e) => e.event === "done", "the end of 3 calls");
    const calls = client.events.filter((e) => e.event === "call");
    assert.equal(calls.length, 3);
    for (const c of calls) assert.deepEqual([c["ok"], c["server"], c["tls"], c["peerIdentity"]], [true, "echo-0", true, SERVER_ID], JSON.stringify(c));
    const served = await server.waitForCount((e) => e.event === "served", 3, "a served call");
    for (const s of served) assert.deepEqual([s["tls"], s["peerIdentity"]], [true, CLIENT_ID], JSON.stringify(s));
  });

  it("a plaintext client is refused by the STRICT server", async () => {
    const server = peers[0]!;
    const servedBefore = server.events.filter((e) => e.event === "served").length;
    const plain = spawnPeer(binary, "plain-client", ["client", "--target", `127.0.0.1:${port}`, "--calls", "1", "--deadline", "3s"]);
    peers.push(plain);
    const call = await plain.waitFor((e) => e.event === "call", "a call result");
    assert.equal(call["ok"], false, JSON.stringify(call));
    assert.equal(call["tls"], false, JSON.stringify(call));
    assert.equal(server.events.filter((e) => e.event === "served").length, servedBefore);
  });

  it("grpc-go NACKed nothing, and every pushed resource passes Envoy's validation", () => {
    assert.ok(rec.acks.length > 0, "grpc-go ACKed something");
    assert.deepEqual(rec.nacks.map((n) => `${n.proxyId} ${n.typeUrl}: ${n.error}`), []);
    assert.deepEqual(rec.invalid, []);
    assert.ok(rec.validated.size > 0, "some resources were validated");
  });
});
