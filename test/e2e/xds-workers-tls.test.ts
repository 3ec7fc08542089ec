// `meshward serve --xds-workers` over TLS (the workers' 15012 role for xDS): each stream worker
// terminates TLS with the TLS port's serving certificate, sent to it over IPC and again after a
// rotation. A proxy with a token gets its workload certificate (SDS over ADS) there; a client
// certificate the mesh cannot verify is refused UNAUTHENTICATED; the workers' plaintext address
// keeps serving loopback proxies beside it.
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { ISTIOD_DNS_NAMES } from "../../src/ca/serving-credentials.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { TypeUrl } from "../../src/xds/types.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { AdsClient, bearer, type TestNode } from "../support/ads-client.js";
import { makeTestPki } from "../support/test-pki.js";

const node = (pod: string): TestNode => ({ id: `sidecar~127.0.0.31~${pod}.shop~shop.svc.cluster.local`, metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "web" } });

/** The leaf certificate a TLS listener presents to a new connection. */
function servedLeaf(address: string): Promise<X509Certificate> {
  const i = address.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)), servername: ISTIOD_DNS_NAMES[0], rejectUnauthorized: false, ALPNProtocols: ["h2"] }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(new X509Certificate(raw));
    });
    socket.on("error", reject);
  });
}

describe("e2e: serve with xDS stream workers over TLS", function () {
  this.timeout(90_000);
  let dir: string;
  let cp: ControlPlane;
  let tokens: TokenKey;
  const clients: AdsClient[] = [];
  const tlsClient = (key?: Buffer, cert?: Buffer): AdsClient => {
    const root = Buffer.from(cp.ca.bundle.pem());
    const c = new AdsClient(cp.xdsWorkersTlsAddress!, key && cert ? grpc.credentials.createSsl(root, key, cert) : grpc.credentials.createSsl(root), {
      "grpc.ssl_target_name_override": ISTIOD_DNS_NAMES[0],
    });
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-e2e-workers-tls-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    cp = await startTestControlPlane(dir, { tlsAddress: "127.0.0.1:0", xdsWorkers: { count: 2, address: "127.0.0.1:0", tlsAddress: "127.0.0.1:0" } });
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
  });

  after(async () => {
    for (const c of clients) c.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the TLS port's certificate, and a proxy with a token gets its own workload certificate over SDS", async () => {
    assert.ok(cp.xdsWorkersTlsAddress !== undefined && cp.xdsWorkersTlsAddress !== cp.tlsAddress);
    const leaf = await servedLeaf(cp.xdsWorkersTlsAddress);
    assert.equal(leaf.fingerprint256, (await servedLeaf(cp.tlsAddress!)).fingerprint256, "one serving certificate for both");
    assert.ok(leaf.verify(cp.ca.signingCertificate.publicKey));
    // Both workers take TLS connections (the pool alternates): two proxies, two connections.
    for (const pod of ["web-1", "web-2"]) {
      const s = tlsClient().sotw(node(pod), undefined, bearer(tokens.mint({ namespace: "shop", serviceAccount: "web" })));
      s.subscribe(TypeUrl.Secret, ["default"]);
      const r = await s.next(30_000);
      const secret = r.resources.map((a) => fromBinary(SecretSchema, a.value)).find((x) => x.name === "default");
      assert.ok(secret?.type.case === "tlsCertificate", `${pod} got default`);
      const chain = secret.type.value.certificateChain?.specifier;
      assert.ok(chain?.case === "inlineBytes");
      assert.deepEqual(uriSans(new X509Certificate(Buffer.from(chain.value))), ["spiffe://cluster.local/ns/shop/sa/web"]);
      s.ack(r);
    }
    const pods = new Set(cp.xds.streamsView().map((v) => v.proxy.podName));
    assert.ok(pods.has("web-1") && pods.has("web-2"), [...pods].join(","));
  });

  it("refuses a client certificate it cannot verify UNAUTHENTICATED, even with a valid token", async () => {
    const foreign = makeTestPki("spiffe://cluster.local/ns/shop/sa/web");
    const s = tlsClient(foreign.clientKey, foreign.clientCert).sotw(node("web-3"), undefined, bearer(tokens.mint({ namespace: "shop", serviceAccount: "web" })));
    s.subscribe(TypeUrl.Secret, ["default"]);
    const status = await s.status;
    assert.equal(status.code, grpc.status.UNAUTHENTICATED);
    assert.match(status.details, /client certificate presented but not verified/);
  });

  it("keeps serving loopback proxies on the workers' plaintext address beside the TLS one", async () => {
    const c = new AdsClient(cp.xdsWorkersAddress!);
    clients.push(c);
    const s = c.sotw(node("web-4"), undefined, bearer(tokens.mint({ namespace: "shop", serviceAccount: "web" })));
    s.subscribe(TypeUrl.Secret, ["default"]);
    const r = await s.next(30_000);
    assert.ok(r.resources.some((a) => fromBinary(SecretSchema, a.value).name === "default"));
  });

  it("serves a rotated certificate to new connections on every worker", async () => {
    const before = await servedLeaf(cp.xdsWorkersTlsAddress!);
    cp.serving!.rotate();
    // The rotation reaches each worker over IPC; four connections land on both workers twice.
    let leaves: X509Certificate[] = [];
    for (let i = 0; i < 50; i++) {
      leaves = await Promise.all([0, 1, 2, 3].map(() => servedLeaf(cp.xdsWorkersTlsAddress!)));
      if (leaves.every((l) => l.serialNumber !== before.serialNumber)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seen = new Set(leaves.map((l) => l.serialNumber));
    assert.equal(seen.size, 1, "every new connection got the one new certificate");
    assert.ok(!seen.has(before.serialNumber));
  });
});
