// One trust, and a root rotation without a failed call: meshward signs with a cacerts bundle that
// `meshward ca intermediate` minted from an offline root (`meshward ca root`); proxyless gRPC
// workloads (grpc-js-xds, mTLS STRICT, certificates from `meshward workload-certs` renewed every
// few seconds) call each other the whole time while the bundle goes old -> old+new -> new signer
// with both roots -> new alone. The control plane reads each step from its cacerts directory
// without a restart; the workloads' root-cert.pem follows the CA's bundle.
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { createOfflineRoot, mintIntermediate, ROOT_FILES } from "../../src/ca/intermediate.js";
import { splitCertificates } from "../../src/ca/pem.js";
import { grpcXdsBootstrap } from "../../src/ca/grpc-bootstrap.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { bootstrapOption, echoService, eventually, freePort } from "../support/proxyless.js";
import { echoHost, mtlsEchoConfig } from "../support/echo-config.js";
import { WorkloadCertAgents } from "../support/workload-certs.js";

const identity = (b: Buffer): Buffer => b;

describe("one trust: a root rotation old -> old+new -> new with proxyless gRPC calling throughout", function () {
  this.timeout(180_000);
  let dir: string;
  let pki: string;
  let cp: ControlPlane | undefined;
  let server: grpcXds.XdsServer | undefined;
  let client: grpc.Client | undefined;
  let agents: WorkloadCertAgents | undefined;
  const certDirs: string[] = [];

  const rootPem = (name: string): string => readFileSync(join(pki, name, ROOT_FILES.cert), "utf8");
  const rootsIn = (certDir: string): string[] => splitCertificates(readFileSync(join(certDir, "root-cert.pem"), "utf8")).map((p) => new X509Certificate(p).fingerprint256).sort();
  const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;
  /** The root the workload's certificate chains to. */
  const chainRoot = (certDir: string, roots: Record<string, string>): string | undefined => {
    const [, intermediate] = splitCertificates(readFileSync(join(certDir, "cert-chain.pem"), "utf8"));
    const i = new X509Certificate(intermediate!);
    return Object.entries(roots).find(([, pem]) => i.verify(new X509Certificate(pem).publicKey))?.[0];
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-rotation-"));
    pki = mkdtempSync(join(tmpdir(), "meshward-rotation-pki-"));
    await createOfflineRoot(join(pki, "root-old"), "cluster.local");
    await createOfflineRoot(join(pki, "root-new"), "cluster.local");
    await mintIntermediate({ rootDir: join(pki, "root-old"), outDir: join(pki, "cacerts"), cluster: "cluster-a", trustDomain: "cluster.local" });
    const port = await freePort();
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "echo.yaml"), mtlsEchoConfig(port, "STRICT", "server"));
    cp = await startTestControlPlane(dir, { cacertsDir: join(pki, "cacerts"), cacertsPollMs: 200 });
    agents = new WorkloadCertAgents(dir, join(dir, ".data"), cp.xdsAddress);
    const bootstrap = (sa: string, pod: string, ip: string, certDir: string): string =>
      JSON.stringify(grpcXdsBootstrap({ xdsAddress: cp!.xdsAddress, certDir, namespace: "default", serviceAccount: sa, podName: pod, podIp: ip, labels: { app: sa }, refreshInterval: "1s" }));
    const serverCerts = await agents.start("default", "server", "4s");
    const clientCerts = await agents.start("default", "client", "4s");
    certDirs.push(serverCerts, clientCerts);
    server = new grpcXds.XdsServer({ [bootstrapOption]: bootstrap("server", "echo-0", "127.0.0.1", serverCerts), "grpc.max_connection_age_ms": 1000, "grpc.max_connection_age_grace_ms": 5000 } as grpc.ServerOptions);
    server.addService(echoService, {
      echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const raw = c.getAuthContext().sslPeerCertificate?.raw;
        cb(null, Buffer.from(raw === undefined ? "" : new X509Certificate(raw).subjectAltName ?? ""));
      },
    });
    await new Promise<void>((resolve, reject) => server!.bindAsync(`127.0.0.1:${port}`, new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (e) => (e ? reject(e) : resolve())));
    client = new grpc.Client(`xds:///${echoHost}:7070`, new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), { [bootstrapOption]: bootstrap("client", "client-0", "127.0.0.100", clientCerts) } as grpc.ChannelOptions);
  });

  after(async () => {
    client?.close();
    server?.forceShutdown();
    agents?.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (pki !== undefined) rmSync(pki, { recursive: true, force: true });
  });

  const call = (timeoutMs = 5000): Promise<string> =>
    new Promise((resolve, reject) =>
      client!.makeUnaryRequest(echoService.echo!.path, identity, identity, Buffer.from("ping"), new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res!.toString()))),
    );

  it("writes the offline root's key and the intermediate's key 0600", () => {
    assert.equal(statSync(join(pki, "root-old", ROOT_FILES.key)).mode & 0o777, 0o600);
    assert.equal(statSync(join(pki, "cacerts", "ca-key.pem")).mode & 0o777, 0o600);
  });

  it("keeps every call succeeding while the trust goes from the old root to the new one", async () => {
    await eventually("a first mTLS call", () => call());
    const roots = { old: rootPem("root-old"), new: rootPem("root-new") };
    for (const d of certDirs) assert.equal(chainRoot(d, roots), "old", `${d} starts under the old root`);
    const failures: string[] = [];
    let calls = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          // Over mTLS: the server sees the client's SPIFFE ID.
          const peer = await call();
          if (peer !== "URI:spiffe://cluster.local/ns/default/sa/client") failures.push(`the server saw "${peer}"`);
        } catch (e) {
          failures.push((e as Error).message);
        }
        calls++;
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const both = [fingerprint(roots.old), fingerprint(roots.new)].sort();
    const everyWorkload = (what: string, ok: (certDir: string) => boolean): Promise<true> =>
      eventually(what, () => (certDirs.every(ok) ? true : undefined), 40_000);
    try {
      // old + new roots trusted, still signing under the old root.
      await mintIntermediate({ rootDir: join(pki, "root-old"), outDir: join(pki, "cacerts"), cluster: "cluster-a", trustDomain: "cluster.local", alsoTrustPem: roots.new });
      await everyWorkload("both roots in every workload's root-cert.pem", (d) => JSON.stringify(rootsIn(d)) === JSON.stringify(both));
      // Signing under the new root, both roots still trusted.
      await mintIntermediate({ rootDir: join(pki, "root-new"), outDir: join(pki, "cacerts"), cluster: "cluster-a", trustDomain: "cluster.local", alsoTrustPem: roots.old });
      await everyWorkload("every workload's certificate from the new root", (d) => chainRoot(d, roots) === "new");
      // The new root alone.
      await mintIntermediate({ rootDir: join(pki, "root-new"), outDir: join(pki, "cacerts"), cluster: "cluster-a", trustDomain: "cluster.local" });
      await everyWorkload("only the new root in every workload's root-cert.pem", (d) => JSON.stringify(rootsIn(d)) === JSON.stringify([fingerprint(roots.new)]));
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      running = false;
      await loop;
    }
    assert.deepEqual(failures, [], `${failures.length} of ${calls} calls failed`);
    assert.ok(calls > 50, `only ${calls} calls were made`);
    assert.deepEqual(cp!.ca.bundle.anchorsList().map((a) => a.certificate.fingerprint256), [fingerprint(roots.new)], "the CA trusts the new root alone");
  });
});
