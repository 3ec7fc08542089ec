// `meshward serve --xds-workers`: real grpc-js-xds servers and an `xds:///` client configured by a
// control plane whose xDS streams run in two stream worker processes; admission, the audit
// events and the streams' status stay in the main process, and a config change still arrives.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import type { XdsAckEvent } from "../../src/xds/server.js";
import { TypeUrl } from "../../src/xds/types.js";
import { EchoClient, EchoServer, eventually, freePort, type NodeSpec } from "../support/proxyless.js";
import { echoHost, serviceEntry, workloadEntry } from "../support/echo-config.js";
import { AdsClient, sidecarNode } from "../support/ads-client.js";

describe("e2e: serve with xDS stream workers (proxyless gRPC)", function () {
  this.timeout(90_000);
  let dir: string;
  let cp: ControlPlane;
  let p1: number;
  let p2: number;
  const acks: XdsAckEvent[] = [];
  const servers: EchoServer[] = [];
  let client: EchoClient | undefined;
  const serverNode: NodeSpec = { ip: "127.0.0.1", pod: "echo", namespace: "default", labels: { app: "echo" } };
  const clientNode: NodeSpec = { ip: "127.0.0.100", pod: "client", namespace: "default" };
  const writeEndpoints = (...entries: string[]): void => writeFileSync(join(dir, "echo.yaml"), [serviceEntry(), ...entries].join("---\n"));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-e2e-workers-"));
    p1 = await freePort();
    p2 = await freePort();
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeEndpoints(workloadEntry("echo-1", p1, "local/a"));
    cp = await startTestControlPlane(dir, { xdsWorkers: { count: 2, address: "127.0.0.1:0" } });
    cp.xds.on("ack", (e) => acks.push(e));
  });

  after(async () => {
    client?.close();
    for (const s of servers) s.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves xDS from the workers' address and follows a config change", async () => {
    const workers = cp.xdsWorkersAddress;
    assert.ok(workers !== undefined && workers !== cp.xdsAddress);
    const s1 = new EchoServer("backend-1", workers, serverNode);
    servers.push(s1);
    await s1.start(`127.0.0.1:${p1}`);
    client = new EchoClient(`${echoHost}:7070`, workers, clientNode);
    assert.equal(await client.call(), "backend-1");
    // The main process saw the workers' ACKs and holds both proxies' streams with their status.
    assert.ok(acks.some((e) => e.names.includes(`xds.istio.io/grpc/lds/inbound/127.0.0.1:${p1}`)));
    const pods = new Set(cp.xds.streamsView().map((s) => s.proxy.podName));
    assert.ok(pods.has("echo") && pods.has("client"), [...pods].join(","));
    for (const st of cp.xds.status()) assert.ok(st.types.some((t) => t.ackedVersion !== ""), JSON.stringify(st));
    writeEndpoints(workloadEntry("echo-1", p1, "local/a"), workloadEntry("echo-2", p2, "local/b"));
    const s2 = new EchoServer("backend-2", workers, serverNode);
    servers.push(s2);
    await s2.start(`127.0.0.1:${p2}`);
    await eventually("a call answered by backend-2", async () => ((await client?.call()) === "backend-2" ? true : undefined));
    assert.ok(acks.some((e) => e.typeUrl === TypeUrl.ClusterLoadAssignment));
  });

  it("leaves xDS off the main address, which keeps the CA and signals", async () => {
    const ads = new AdsClient(cp.xdsAddress);
    try {
      const s = ads.sotw(sidecarNode());
      s.send({ typeUrl: TypeUrl.Cluster });
      assert.equal((await s.status).code, grpc.status.UNIMPLEMENTED);
    } finally {
      ads.close();
    }
  });
});
