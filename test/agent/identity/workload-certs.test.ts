// `meshward workload-certs --from-node-agent` end to end: run inside each pod's cgroup with no
// token, it writes the certificates the node agent (real eBPF agent, real CA) attests for that pod;
// two real @grpc/grpc-js-xds workloads configured by meshward (STRICT PeerAuthentication,
// ISTIO_MUTUAL) use them for mTLS, and the server sees the client pod's SPIFFE ID.
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { X509Certificate } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ControlPlane } from "../../../src/mesh/control-plane.js";
import { grpcXdsBootstrap } from "../../../src/ca/grpc-bootstrap.js";
import { uriSans } from "../../../src/security/certificate-authenticator.js";
import { startTestControlPlane } from "../../support/control-plane.js";
import { echoHost, mtlsEchoConfig } from "../../support/echo-config.js";
import { MESHWARD_BIN } from "../../support/meshward-cli.js";
import { bootstrapOption, echoService, eventually, freePort } from "../../support/proxyless.js";
import { skipUnlessRoot } from "../fixture.js";
import { createTestPod, runInPod, type TestPod } from "../kube-cgroup.js";
import { IdentityFixture } from "./fixture.js";

const identityCodec = (b: Buffer): Buffer => b;

describe("workload-certs --from-node-agent: proxyless gRPC mTLS with certificates from the node agent", function () {
  this.timeout(120_000);
  const fx = new IdentityFixture();
  let cp: ControlPlane;
  let server: grpcXds.XdsServer | undefined;
  let client: grpc.Client | undefined;
  let port = 0;
  const meshDir = join(fx.agentFixture.dir, "mesh");

  /** A pod in namespace `default`, where the echo ServiceEntry's endpoints run. */
  function defaultPod(name: string): TestPod {
    const pod = { ...createTestPod(name), namespace: "default" };
    fx.agentFixture.addPod(pod);
    return pod;
  }

  async function certsFromAgent(pod: TestPod): Promise<string> {
    const out = join(fx.agentFixture.dir, `certs-${pod.containerName}`);
    const r = await runInPod(pod, [process.execPath, MESHWARD_BIN, "workload-certs", "--from-node-agent", "--socket", fx.socketPath, "--out", out, "--once"]);
    assert.equal(r.code, 0, `workload-certs exited ${r.code}: ${r.stderr}`);
    return out;
  }

  before(async function () {
    skipUnlessRoot(this);
    await fx.start();
    port = await freePort();
    const { mkdirSync } = await import("node:fs");
    mkdirSync(meshDir);
    writeFileSync(join(meshDir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(meshDir, "echo.yaml"), mtlsEchoConfig(port, "STRICT", "server-sa"));
    cp = await startTestControlPlane(meshDir);
  });

  after(async () => {
    client?.close();
    server?.forceShutdown();
    await cp?.stop();
    await fx.stop();
  });

  it("writes the pod's certificate (its SPIFFE ID), a 0600 key and the roots, with no token", async () => {
    const pod = defaultPod("files");
    const out = await certsFromAgent(pod);
    const leaf = new X509Certificate(readFileSync(join(out, "cert-chain.pem")));
    assert.deepEqual(uriSans(leaf), ["spiffe://cluster.local/ns/default/sa/files-sa"]);
    assert.equal(statSync(join(out, "key.pem")).mode & 0o777, 0o600);
    assert.ok(new X509Certificate(readFileSync(join(out, "root-cert.pem"))).ca);
  });

  it("a host process running it gets nothing and exits non-zero", async () => {
    const { runMeshward } = await import("../../support/meshward-cli.js");
    const r = await runMeshward("workload-certs", "--from-node-agent", "--socket", fx.socketPath, "--out", join(fx.agentFixture.dir, "host-certs"), "--once");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /PERMISSION_DENIED: no identity issued: process \d+ is not in a pod/);
  });

  it("grpc-js-xds server and client do mTLS with them and the server sees the client pod's SPIFFE ID", async () => {
    const serverCerts = await certsFromAgent(defaultPod("server"));
    const clientCerts = await certsFromAgent(defaultPod("client"));
    const bootstrapFor = (sa: string, pod: string, ip: string, certDir: string): string =>
      JSON.stringify(grpcXdsBootstrap({ xdsAddress: cp.xdsAddress, certDir, namespace: "default", serviceAccount: sa, podName: pod, podIp: ip, labels: { app: sa } }));
    server = new grpcXds.XdsServer({ [bootstrapOption]: bootstrapFor("server-sa", "echo-0", "127.0.0.1", serverCerts) } as grpc.ServerOptions);
    server.addService(echoService, {
      echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const raw = c.getAuthContext().sslPeerCertificate?.raw;
        cb(null, Buffer.from(raw ? uriSans(new X509Certificate(raw)).join(",") : ""));
      },
    });
    await new Promise<void>((resolve, reject) =>
      server!.bindAsync(`127.0.0.1:${port}`, new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (e) => (e ? reject(e) : resolve())),
    );
    client = new grpc.Client(`xds:///${echoHost}:7070`, new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      [bootstrapOption]: bootstrapFor("client-sa", "client-0", "127.0.0.100", clientCerts),
    } as grpc.ChannelOptions);
    const c = client;
    const peer = await eventually("an mTLS call", () =>
      new Promise<string>((resolve, reject) =>
        c.makeUnaryRequest(echoService.echo!.path, identityCodec, identityCodec, Buffer.from("ping"), new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) =>
          err ? reject(err) : resolve(res!.toString()),
        ),
      ),
    );
    assert.equal(peer, "spiffe://cluster.local/ns/default/sa/client-sa");
  });
});
