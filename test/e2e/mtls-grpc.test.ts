// End to end mTLS with the real @grpc/grpc-js-xds: an xDS-enabled server (XdsServerCredentials)
// and an `xds:///` client (XdsChannelCredentials), both configured by meshward from a temporary
// mesh-config, with certificates written and rotated by real `meshward workload-certs` processes
// (tokens from `meshward token create`). Each workload has its own bootstrap (the TEST_ONLY
// option) with the `default` file_watcher provider over its certificate directory.
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { grpcXdsBootstrap } from "../../src/ca/grpc-bootstrap.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { bootstrapOption, echoService, eventually, freePort } from "../support/proxyless.js";
import { echoHost, mtlsEchoConfig } from "../support/echo-config.js";
import { WorkloadCertAgents } from "../support/workload-certs.js";

const host = echoHost;
const identity = (b: Buffer): Buffer => b;
/** Short enough that several rotations happen during the test (renewal at half of it). */
const CERT_TTL = "8s";

interface Answer {
  readonly peer: string;
  readonly serial: string;
}

describe("e2e: mTLS between proxyless gRPC workloads (grpc-js-xds, meshward workload-certs)", function () {
  this.timeout(120_000);
  let dir: string;
  let cp: ControlPlane;
  let port: number;
  let server: grpcXds.XdsServer;
  let client: grpc.Client;
  let agents: WorkloadCertAgents | undefined;
  let serverCerts: string;
  const nacks: string[] = [];

  function bootstrapFor(sa: string, pod: string, ip: string, certDir: string): string {
    const b = grpcXdsBootstrap({ xdsAddress: cp.xdsAddress, certDir, namespace: "default", serviceAccount: sa, podName: pod, podIp: ip, labels: { app: sa }, refreshInterval: "1s" });
    return JSON.stringify(b);
  }

  function call(c: grpc.Client, timeoutMs = 5000): Promise<Answer> {
    return new Promise((resolve, reject) =>
      c.makeUnaryRequest(echoService.echo!.path, identity, identity, Buffer.from("ping"), new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(JSON.parse(res!.toString()) as Answer),
      ),
    );
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-mtls-e2e-"));
    port = await freePort();
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "echo.yaml"), mtlsEchoConfig(port, "STRICT", "server"));
    cp = await startTestControlPlane(dir);
    cp.xds.on("nack", (e) => nacks.push(`${e.proxyId} ${e.typeUrl}: ${e.error}`));
    agents = new WorkloadCertAgents(dir, join(dir, ".data"), cp.xdsAddress);
    serverCerts = await agents.start("default", "server", CERT_TTL);
    const clientCerts = await agents.start("default", "client", CERT_TTL);

    // Connections are recycled every second, so rotated certificates are used by new handshakes.
    server = new grpcXds.XdsServer({
      [bootstrapOption]: bootstrapFor("server", "echo-0", "127.0.0.1", serverCerts),
      "grpc.max_connection_age_ms": 1000,
      "grpc.max_connection_age_grace_ms": 5000,
    } as grpc.ServerOptions);
    server.addService(echoService, {
      echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const raw = c.getAuthContext().sslPeerCertificate?.raw;
        const cert = raw ? new X509Certificate(raw) : undefined;
        cb(null, Buffer.from(JSON.stringify({ peer: cert ? uriSans(cert).join(",") : "", serial: cert?.serialNumber ?? "" })));
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (e) => (e ? reject(e) : resolve())),
    );
    client = new grpc.Client(`xds:///${host}:7070`, new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      [bootstrapOption]: bootstrapFor("client", "client-0", "127.0.0.100", clientCerts),
    } as grpc.ChannelOptions);
  });

  after(async () => {
    client?.close();
    server?.forceShutdown();
    agents?.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("under STRICT an mTLS call succeeds and the server sees the client's SPIFFE ID", async () => {
    const answer = await eventually("an mTLS call", () => call(client));
    assert.equal(answer.peer, "spiffe://cluster.local/ns/default/sa/client");
  });

  it("under STRICT a plaintext client is refused", async () => {
    const plain = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      await assert.rejects(call(plain, 2000), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED);
    } finally {
      plain.close();
    }
  });

  it("certificates rotate during a stream of calls without a failed call", async () => {
    const serverChain = (): string => new X509Certificate(readFileSync(join(serverCerts, "cert-chain.pem"))).serialNumber;
    const serverAtStart = serverChain();
    const serials = new Set<string>();
    const failures: string[] = [];
    let calls = 0;
    const until = Date.now() + 12_000;
    while (Date.now() < until) {
      try {
        const a = await call(client);
        assert.equal(a.peer, "spiffe://cluster.local/ns/default/sa/client");
        serials.add(a.serial);
      } catch (e) {
        failures.push((e as Error).message);
      }
      calls++;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(failures, [], `${failures.length} of ${calls} calls failed`);
    assert.ok(serials.size >= 2, `the server saw ${serials.size} client certificate(s) over ${calls} calls; want a rotation in use`);
    assert.notEqual(serverChain(), serverAtStart, "the server's certificate was rotated too");
  });

  it("under PERMISSIVE a plaintext client is accepted (grpcgen serves PERMISSIVE as plaintext)", async () => {
    writeFileSync(join(dir, "echo.yaml"), mtlsEchoConfig(port, "PERMISSIVE", "server"));
    const plain = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const answer = await eventually("a plaintext call", () => call(plain, 2000));
      assert.equal(answer.peer, "", "no client certificate on a plaintext connection");
    } finally {
      plain.close();
    }
  });

  it("no workload NACKed anything meshward sent", () => assert.deepEqual(nacks, []));
});
