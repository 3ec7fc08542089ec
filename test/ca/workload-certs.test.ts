// `meshward token create` and `meshward workload-certs` run as real processes against a CA server
// on an ephemeral port; their files are checked by openssl and by grpc-js's own loaders.
import * as grpc from "@grpc/grpc-js";
import { experimental } from "@grpc/grpc-js";
import { validateBootstrapConfig } from "@grpc/grpc-js-xds/build/src/xds-bootstrap.js";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import { createCaServerCredentials, type CaServerCredentials } from "../../src/ca/serving-credentials.js";
import { openCertificateAuthority } from "../../src/ca/setup.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { meshwardOk, MESHWARD_BIN } from "../support/meshward-cli.js";
import { opensslOk, startCaServer, tempDir, TRUST_DOMAIN, writeText, type RunningCaServer } from "./helpers.js";

async function checkCertDir(out: string): Promise<X509Certificate> {
  assert.equal((await stat(path.join(out, "key.pem"))).mode & 0o777, 0o600, "key.pem is 0600");
  const chain = path.join(out, "cert-chain.pem");
  assert.match(await opensslOk(["verify", "-CAfile", path.join(out, "root-cert.pem"), chain]), /: OK/);
  const certPub = await opensslOk(["x509", "-in", chain, "-noout", "-pubkey"]);
  const keyPub = await opensslOk(["pkey", "-in", path.join(out, "key.pem"), "-pubout"]);
  assert.equal(certPub, keyPub, "key.pem belongs to the certificate");
  return new X509Certificate(await readFile(chain, "utf8"));
}

describe("meshward workload-certs", function () {
  this.timeout(60_000);
  let fixture: Awaited<ReturnType<typeof tempDir>>;
  let dataDir: string;
  let ca: CertificateAuthority;
  let serving: CaServerCredentials;
  let plain: RunningCaServer;
  let tls: RunningCaServer;

  before(async () => {
    fixture = await tempDir("workload-certs");
    dataDir = path.join(fixture.dir, "data");
    const setup = await openCertificateAuthority({ dataDir, trustDomain: TRUST_DOMAIN });
    ca = setup.ca;
    const authn = setup.authenticators;
    plain = await startCaServer(ca, authn);
    serving = createCaServerCredentials(ca);
    tls = await startCaServer(ca, authn, serving.credentials);
  });
  after(async () => {
    serving.close();
    await plain.stop();
    await tls.stop();
    await fixture.cleanup();
  });

  it("with a token from `meshward token create`: files openssl verifies and a bootstrap grpc-js-xds accepts", async () => {
    const token = (await meshwardOk("token", "create", "--namespace", "shop", "--service-account", "web", "--data-dir", dataDir)).trim();
    const tokenFile = await writeText(path.join(fixture.dir, "istio-token"), token);
    const out = path.join(fixture.dir, "certs-a");
    const bootstrapFile = path.join(fixture.dir, "grpc-bootstrap.json");
    await meshwardOk(
      "workload-certs", "--token-file", tokenFile, "--ca-address", plain.address, "--out", out, "--once",
      "--bootstrap", bootstrapFile, "--xds-address", "127.0.0.1:15010",
      "--pod-name", "web-7d9f", "--pod-ip", "10.1.2.3", "--labels", "app=web,version=v1",
    );
    const leaf = await checkCertDir(out);
    assert.deepEqual(uriSans(leaf), ["spiffe://cluster.local/ns/shop/sa/web"]);

    const raw: unknown = JSON.parse(await readFile(bootstrapFile, "utf8"));
    const info = validateBootstrapConfig(raw);
    assert.equal(info.node.id, "sidecar~10.1.2.3~web-7d9f.shop~shop.svc.cluster.local");
    assert.ok(info.node.metadata !== undefined, "grpc-js-xds kept the node metadata");
    assert.deepEqual((raw as { node: { metadata: unknown } }).node.metadata, {
      NAMESPACE: "shop", SERVICE_ACCOUNT: "web", GENERATOR: "grpc", LABELS: { app: "web", version: "v1" },
      INSTANCE_IPS: "10.1.2.3", CLUSTER_ID: "Kubernetes",
    });
    assert.equal(info.serverListenerResourceNameTemplate, "xds.istio.io/grpc/lds/inbound/%s");
    assert.equal(info.xdsServers[0].server_uri, "127.0.0.1:15010");
    const provider = info.certificateProviders.default;
    assert.equal(provider.pluginName, "file_watcher");

    // grpc-js's own file_watcher provider loads the files the bootstrap points at.
    const cfg = (raw as { certificate_providers: { default: { config: Record<string, string> } } }).certificate_providers.default.config;
    const watcher = new experimental.FileWatcherCertificateProvider({
      certificateFile: cfg.certificate_file,
      privateKeyFile: cfg.private_key_file,
      caCertificateFile: cfg.ca_certificate_file,
      refreshIntervalMs: 60_000,
    });
    const update = await new Promise<experimental.IdentityCertificateUpdate | null>((resolve) => {
      const listener = (u: experimental.IdentityCertificateUpdate | null): void => {
        watcher.removeIdentityCertificateListener(listener);
        resolve(u);
      };
      watcher.addIdentityCertificateListener(listener);
    });
    assert.ok(update !== null, "grpc-js loaded the identity certificate");
    assert.equal(new X509Certificate(update.certificate).fingerprint256, leaf.fingerprint256);
    grpc.credentials.createSsl(update.certificate, update.privateKey, update.certificate); // a usable pair
  });

  it("minting through the data directory, over the TLS port with --ca-root", async () => {
    const out = path.join(fixture.dir, "certs-b");
    const rootFile = await writeText(path.join(fixture.dir, "mesh-root.pem"), ca.bundle.pem());
    await meshwardOk(
      "workload-certs", "--namespace", "pay", "--service-account", "api", "--data-dir", dataDir,
      "--ca-address", tls.address, "--ca-root", rootFile, "--out", out, "--once", "--ttl", "2h",
    );
    const leaf = await checkCertDir(out);
    assert.deepEqual(uriSans(leaf), ["spiffe://cluster.local/ns/pay/sa/api"]);
    assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 2 * 3600_000 + 120_000);
  });

  it("the two workloads' files make a working mutual-TLS gRPC call; the server sees the client's SPIFFE ID", async () => {
    const files = async (dir: string): Promise<{ key: Buffer; chain: Buffer; root: Buffer }> => ({
      key: await readFile(path.join(fixture.dir, dir, "key.pem")),
      chain: await readFile(path.join(fixture.dir, dir, "cert-chain.pem")),
      root: await readFile(path.join(fixture.dir, dir, "root-cert.pem")),
    });
    const web = await files("certs-a");
    const api = await files("certs-b");
    const server = new grpc.Server();
    let seen: string[] = [];
    const echo = { path: "/test.Echo/Who", requestStream: false, responseStream: false,
      requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };
    server.addService({ Who: echo }, {
      Who: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const raw = call.getAuthContext().sslPeerCertificate?.raw;
        seen = raw === undefined ? [] : uriSans(new X509Certificate(raw));
        cb(null, Buffer.from("ok"));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createSsl(api.root, [{ private_key: api.key, cert_chain: api.chain }], true),
        (e, p) => (e ? reject(e) : resolve(p))));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(web.root, web.key, web.chain, {
      // Workload certificates carry a SPIFFE URI, not a host name: check that instead.
      checkServerIdentity: (_host, cert) =>
        cert.subjectaltname === "URI:spiffe://cluster.local/ns/pay/sa/api" ? undefined : new Error(`unexpected peer ${cert.subjectaltname}`),
    }));
    try {
      const reply = await new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest(echo.path, echo.requestSerialize, echo.responseDeserialize, Buffer.from("hi"), (e, r) => (e || !r ? reject(e) : resolve(r))));
      assert.equal(reply.toString(), "ok");
      assert.deepEqual(seen, ["spiffe://cluster.local/ns/shop/sa/web"]);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it("keeps rotating at half the TTL, replacing the files atomically", async () => {
    const out = path.join(fixture.dir, "certs-c");
    const child = spawn(process.execPath, [
      MESHWARD_BIN, "workload-certs", "--namespace", "pay", "--service-account", "api", "--data-dir", dataDir,
      "--ca-address", plain.address, "--out", out, "--ttl", "4s",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr.on("data", (d: Buffer) => (log += d.toString()));
    try {
      const serials = new Set<string>();
      const deadline = Date.now() + 20_000;
      while (serials.size < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        try {
          serials.add(new X509Certificate(await readFile(path.join(out, "cert-chain.pem"), "utf8")).serialNumber);
        } catch {
          // not written yet
        }
      }
      assert.ok(serials.size >= 3, `three certificates seen in turn, got ${serials.size}; log:\n${log}`);
      await checkCertDir(out);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      assert.equal(await exited, 0, `exits cleanly on SIGTERM; log:\n${log}`);
    }
  });
});
