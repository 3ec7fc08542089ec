// CreateCertificate over real gRPC: plaintext (15010-style) with bearer tokens, and the TLS port
// (15012-style) with the CA's own serving certificate and optional client certificates.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import * as path from "node:path";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { children, readTlv, seq, whole } from "../../src/ca/der.js";
import { pemDecodeOne, pemEncode } from "../../src/ca/pem.js";
import { createCaServerCredentials, type CaServerCredentials } from "../../src/ca/serving-credentials.js";
import { ClientCertificateAuthenticator, uriSans } from "../../src/security/certificate-authenticator.js";
import type { Authenticator } from "../../src/security/identity.js";
import { MeshwardTokenAuthenticator } from "../../src/security/token-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { newCa, openssl, opensslCsr, opensslOk, startCaServer, tempDir, TRUST_DOMAIN, writeText, type RunningCaServer } from "./helpers.js";

interface GrpcFailure {
  code: grpc.status;
  details: string;
}

async function callFails(p: Promise<unknown>, code: grpc.status, details: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const err = e as GrpcFailure;
    assert.equal(err.code, code, `status ${grpc.status[err.code]} (${err.details}), want ${grpc.status[code]}`);
    assert.match(err.details, details);
    return true;
  });
}

function freshCsr(): { csr: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return { csr: createCsr(privateKey, publicKey), keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
}

function authenticators(ca: CertificateAuthority, key: TokenKey): Authenticator[] {
  return [
    new ClientCertificateAuthenticator(TRUST_DOMAIN, () => [ca.signingCertificate]),
    new MeshwardTokenAuthenticator({ trustDomain: TRUST_DOMAIN, publicKeys: [key.publicKey] }),
  ];
}

describe("CreateCertificate over plaintext gRPC with tokens", function () {
  let fixture: Awaited<ReturnType<typeof tempDir>>;
  let ca: CertificateAuthority;
  let key: TokenKey;
  let server: RunningCaServer;
  let client: CaClient;
  const issuedCount = (): number => server.decisions.filter((d) => d.outcome === "issued").length;

  before(async () => {
    fixture = await tempDir("ca-grpc");
    const dataDir = path.join(fixture.dir, "data");
    ca = await newCa(dataDir, "ecdsa-p256", {
      policy: (id) => (id.serviceAccount === "quarantined" ? { allowed: false, reason: "quarantined by the risk engine" } : { allowed: true }),
    });
    key = await TokenKey.loadOrCreate(dataDir);
    server = await startCaServer(ca, authenticators(ca, key));
    client = new CaClient(server.address, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await server.stop();
    await fixture.cleanup();
  });

  it("issues for the token's identity, not the one the (openssl) CSR asks for; openssl verifies the chain", async () => {
    const { csr } = await opensslCsr(fixture.dir, "ec-p256", "spiffe://cluster.local/ns/kube-system/sa/admin");
    const token = key.mint({ namespace: "shop", serviceAccount: "cart" });
    const chain = await client.createCertificate({ csrPem: csr, token });
    assert.deepEqual(uriSans(new X509Certificate(chain[0])), ["spiffe://cluster.local/ns/shop/sa/cart"]);
    assert.equal(chain[chain.length - 1], ca.bundle.pem(), "root last");
    const d = fixture.dir;
    await writeText(`${d}/grpc-leaf.pem`, chain[0]);
    await writeText(`${d}/grpc-root.pem`, chain[chain.length - 1]);
    assert.match(await opensslOk(["verify", "-CAfile", `${d}/grpc-root.pem`, `${d}/grpc-leaf.pem`]), /: OK/);
    assert.equal(server.decisions.at(-1)?.method, "meshward-token");
  });

  describe("refusals carry the reason and issue nothing", function () {
    let before_: number;
    beforeEach(() => (before_ = issuedCount()));
    afterEach(() => assert.equal(issuedCount(), before_, "nothing was issued"));

    it("no credentials -> UNAUTHENTICATED", async () => {
      await callFails(client.createCertificate({ csrPem: freshCsr().csr }), grpc.status.UNAUTHENTICATED, /no client certificate; no bearer token/);
    });
    it("expired token -> UNAUTHENTICATED", async () => {
      const token = key.mint({ namespace: "shop", serviceAccount: "cart", issuedAt: Math.floor(Date.now() / 1000) - 7200, ttlSeconds: 3600 });
      await callFails(client.createCertificate({ csrPem: freshCsr().csr, token }), grpc.status.UNAUTHENTICATED, /expired at/);
    });
    it("wrong audience -> UNAUTHENTICATED", async () => {
      const token = key.mint({ namespace: "shop", serviceAccount: "cart", audiences: ["kubernetes.default.svc"] });
      await callFails(client.createCertificate({ csrPem: freshCsr().csr, token }), grpc.status.UNAUTHENTICATED, /audience .* does not include istio-ca/);
    });
    it("token signed by another key -> UNAUTHENTICATED", async () => {
      const token = TokenKey.generate().mint({ namespace: "shop", serviceAccount: "cart" });
      await callFails(client.createCertificate({ csrPem: freshCsr().csr, token }), grpc.status.UNAUTHENTICATED, /signature does not verify/);
    });
    it("token with its claims edited or alg none -> UNAUTHENTICATED", async () => {
      const [h, , s] = key.mint({ namespace: "shop", serviceAccount: "cart" }).split(".");
      const claims = Buffer.from(JSON.stringify({ iss: "meshward", sub: "system:serviceaccount:kube-system:admin", aud: ["istio-ca"], exp: 4e9 })).toString("base64url");
      await callFails(client.createCertificate({ csrPem: freshCsr().csr, token: `${h}.${claims}.${s}` }), grpc.status.UNAUTHENTICATED, /signature/);
      const none = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
      await callFails(client.createCertificate({ csrPem: freshCsr().csr, token: `${none}.${claims}.` }), grpc.status.UNAUTHENTICATED, /algorithm none/);
    });
    it("metadata impersonating another identity -> PERMISSION_DENIED", async () => {
      const token = key.mint({ namespace: "shop", serviceAccount: "cart" });
      await callFails(
        client.createCertificate({ csrPem: freshCsr().csr, token, metadata: { ImpersonatedIdentity: "spiffe://cluster.local/ns/kube-system/sa/admin" } }),
        grpc.status.PERMISSION_DENIED,
        /may not request a certificate for spiffe:\/\/cluster.local\/ns\/kube-system\/sa\/admin/,
      );
    });
    it("TTL above 90 days -> INVALID_ARGUMENT", async () => {
      const token = key.mint({ namespace: "shop", serviceAccount: "cart" });
      await callFails(client.createCertificate({ csrPem: freshCsr().csr, token, ttlSeconds: 91 * 86400 }), grpc.status.INVALID_ARGUMENT, /exceeds the maximum/);
    });
    it("forged CSR signature -> INVALID_ARGUMENT", async () => {
      const token = key.mint({ namespace: "shop", serviceAccount: "cart" });
      const a = freshCsr();
      const b = freshCsr();
      // a's request info with b's signature: a well-formed CSR whose signature is not a's.
      const parts = (pem: string): Buffer[] => {
        const der = pemDecodeOne(pem, ["CERTIFICATE REQUEST"], "csr");
        return children(der, readTlv(der, 0)).map((t) => whole(der, t));
      };
      const [infoA, algA] = parts(a.csr);
      const [, , sigB] = parts(b.csr);
      const forged = pemEncode("CERTIFICATE REQUEST", seq(infoA, algA, sigB));
      await callFails(client.createCertificate({ csrPem: forged, token }), grpc.status.INVALID_ARGUMENT, /invalid CSR: CSR signature does not verify/);
    });
    it("identity refused by the issuance policy -> PERMISSION_DENIED", async () => {
      const token = key.mint({ namespace: "shop", serviceAccount: "quarantined" });
      await callFails(client.createCertificate({ csrPem: freshCsr().csr, token }), grpc.status.PERMISSION_DENIED, /quarantined by the risk engine/);
    });
  });
});

describe("CreateCertificate over the TLS port with the CA's serving certificate", function () {
  let fixture: Awaited<ReturnType<typeof tempDir>>;
  let ca: CertificateAuthority;
  let key: TokenKey;
  let serving: CaServerCredentials;
  let server: RunningCaServer;
  let rootFile: string;
  const opts = { "grpc.ssl_target_name_override": "istiod.istio-system.svc" };

  before(async () => {
    fixture = await tempDir("ca-tls");
    ca = await newCa(path.join(fixture.dir, "data"));
    key = TokenKey.generate();
    serving = createCaServerCredentials(ca, ["meshward.example.com"]);
    server = await startCaServer(ca, authenticators(ca, key), serving.credentials);
    rootFile = await writeText(path.join(fixture.dir, "root.pem"), ca.bundle.pem());
  });
  after(async () => {
    serving.close();
    await server.stop();
    await fixture.cleanup();
  });

  async function servedCertificate(): Promise<string> {
    const [, port] = server.address.split(":");
    const r = await openssl(["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "istiod.istio-system.svc",
      "-alpn", "h2", "-CAfile", rootFile, "-verify_hostname", "istiod.istio-system.svc", "-verify_return_error", "-brief"]);
    assert.match(r.out, /Verification: OK/, r.out);
    const cert = await openssl(["s_client", "-connect", `127.0.0.1:${port}`, "-alpn", "h2", "-showcerts"]);
    const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(cert.out);
    assert.ok(m, "server sent a certificate");
    return m[0];
  }

  it("serves a certificate from the same CA with istiod's DNS names plus configured ones (checked by openssl s_client)", async () => {
    const pem = await servedCertificate();
    const text = await opensslOk(["x509", "-noout", "-ext", "subjectAltName"], undefined, pem);
    assert.match(text, /DNS:istiod\.istio-system\.svc, DNS:istiod\.istio-system\.svc\.cluster\.local, DNS:meshward\.example\.com/);
  });

  it("token over TLS, then the issued certificate alone authenticates a renewal", async () => {
    const tlsOnly = new CaClient(server.address, grpc.credentials.createSsl(Buffer.from(ca.bundle.pem())), opts);
    const first = freshCsr();
    const chain = await tlsOnly.createCertificate({ csrPem: first.csr, token: key.mint({ namespace: "pay", serviceAccount: "api" }) });
    tlsOnly.close();
    const mtls = new CaClient(
      server.address,
      grpc.credentials.createSsl(Buffer.from(ca.bundle.pem()), Buffer.from(first.keyPem), Buffer.from(chain.slice(0, -1).join(""))),
      opts,
    );
    const renewed = await mtls.createCertificate({ csrPem: freshCsr().csr });
    mtls.close();
    assert.deepEqual(uriSans(new X509Certificate(renewed[0])), ["spiffe://cluster.local/ns/pay/sa/api"]);
    assert.equal(server.decisions.at(-1)?.method, "client-certificate");
  });

  it("a client certificate from another CA does not authenticate", async () => {
    const other = await newCa(path.join(fixture.dir, "other-ca"));
    const mine = freshCsr();
    const foreign = await other.issue({ identity: { trustDomain: TRUST_DOMAIN, namespace: "pay", serviceAccount: "api" }, csrPem: mine.csr });
    const client = new CaClient(
      server.address,
      grpc.credentials.createSsl(Buffer.from(ca.bundle.pem()), Buffer.from(mine.keyPem), Buffer.from(foreign.certChain[0])),
      opts,
    );
    const issuedBefore = server.decisions.filter((d) => d.outcome === "issued").length;
    await callFails(client.createCertificate({ csrPem: freshCsr().csr }), grpc.status.UNAUTHENTICATED, /no client certificate/);
    client.close();
    assert.equal(server.decisions.filter((d) => d.outcome === "issued").length, issuedBefore);
  });

  it("rotates the serving certificate for new connections", async () => {
    const before = new X509Certificate(await servedCertificate());
    serving.rotate();
    const after = new X509Certificate(await servedCertificate());
    assert.notEqual(after.serialNumber, before.serialNumber);
    assert.ok(after.verify(ca.signingCertificate.publicKey));
  });
});
