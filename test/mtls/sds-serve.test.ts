// SDS and the CA through `startControlPlane` (what `meshward serve` runs): Envoy-style ADS streams on the TLS
// port and on loopback, authenticated with meshward tokens. A proxy receives `default` for the
// identity it proved and nothing for any other; a claimed identity that is not the proven one is
// refused; certificates are re-pushed before they expire. Chains are checked with openssl.
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { X509Certificate, createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane, tlsAdsClient } from "../support/control-plane.js";
import { ProxyAdmission } from "../../src/mesh/proxy-admission.js";
import { TokenKey } from "../../src/security/token-key.js";
import { SecretSchema, type Secret } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { ISTIOD_DNS_NAMES } from "../../src/ca/serving-credentials.js";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, bearer, type SotwClientStream, type TestNode } from "../support/ads-client.js";
import { opensslOk } from "../ca/helpers.js";

const TTL_SECONDS = 6;

function node(pod: string, ns: string, sa: string): TestNode {
  return { id: `sidecar~127.0.0.21~${pod}.${ns}~${ns}.svc.cluster.local`, metadata: { NAMESPACE: ns, SERVICE_ACCOUNT: sa } };
}

/** Reads responses (ACKing them) until `pick` returns a value. */
async function until<T>(s: SotwClientStream, pick: (secrets: Secret[]) => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await s.next(Math.max(1, deadline - Date.now()));
    s.ack(r);
    if (r.typeUrl !== TypeUrl.Secret) continue;
    const v = pick(r.resources.map((a) => fromBinary(SecretSchema, a.value)));
    if (v !== undefined) return v;
  }
}

function certificateOf(secrets: Secret[]): { chain: string; key: string } | undefined {
  const s = secrets.find((x) => x.name === "default");
  if (s?.type.case !== "tlsCertificate") return undefined;
  const chain = s.type.value.certificateChain?.specifier;
  const key = s.type.value.privateKey?.specifier;
  assert.ok(chain?.case === "inlineBytes" && key?.case === "inlineBytes");
  return { chain: Buffer.from(chain.value).toString(), key: Buffer.from(key.value).toString() };
}

function rootOf(secrets: Secret[]): string | undefined {
  const s = secrets.find((x) => x.name === "ROOTCA");
  if (s?.type.case !== "validationContext") return undefined;
  const ca = s.type.value.trustedCa?.specifier;
  return ca?.case === "inlineBytes" ? Buffer.from(ca.value).toString() : undefined;
}

describe("SDS over ADS in meshward serve", function () {
  this.timeout(60_000);
  let dir: string;
  let cp: ControlPlane;
  let tokens: TokenKey;
  let tls: AdsClient;
  let plain: AdsClient;
  const streams: SotwClientStream[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-sds-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    cp = await startTestControlPlane(dir, { tlsAddress: "127.0.0.1:0", workloadCertTtlSeconds: TTL_SECONDS, debounceMs: 10 });
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    tls = tlsAdsClient(cp);
    plain = new AdsClient(cp.xdsAddress);
  });

  after(async () => {
    for (const s of streams) s.cancel();
    tls?.close();
    plain?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (client: AdsClient, n: TestNode, md?: grpc.Metadata): SotwClientStream => {
    const s = client.sotw(n, undefined, md);
    streams.push(s);
    return s;
  };

  it("a proxy authenticated on the TLS port gets `default` for its own identity, verified by openssl against ROOTCA", async () => {
    const s = open(tls, node("web-1", "shop", "web"), bearer(tokens.mint({ namespace: "shop", serviceAccount: "web" })));
    s.subscribe(TypeUrl.Secret, ["default", "ROOTCA"]);
    let cert: ReturnType<typeof certificateOf>;
    let root: string | undefined;
    const got = await until(s, (secrets) => {
      cert ??= certificateOf(secrets);
      root ??= rootOf(secrets);
      return cert && root ? { ...cert, root } : undefined;
    });
    const leaf = new X509Certificate(got.chain);
    assert.deepEqual(uriSans(leaf), ["spiffe://cluster.local/ns/shop/sa/web"]);
    assert.ok(leaf.checkPrivateKey(createPrivateKey(got.key)), "the key belongs to the certificate");
    writeFileSync(join(dir, "chain.pem"), got.chain);
    writeFileSync(join(dir, "root.pem"), got.root);
    assert.match(await opensslOk(["verify", "-CAfile", join(dir, "root.pem"), join(dir, "chain.pem")]), /chain\.pem: OK/);
  });

  it("nothing but its own: other secret names are never answered, and an unauthenticated loopback proxy gets ROOTCA only", async () => {
    const s = open(tls, node("web-2", "shop", "web"), bearer(tokens.mint({ namespace: "shop", serviceAccount: "web" })));
    s.subscribe(TypeUrl.Secret, ["default", "ROOTCA", "spiffe://cluster.local/ns/shop/sa/admin", "kubernetes://admin-cert"]);
    // Secrets are sent one at a time (not full-state): collect every name ever sent on the stream.
    const names = new Set<string>();
    await until(s, (secrets) => {
      for (const x of secrets) names.add(x.name);
      return names.has("default") && names.has("ROOTCA") ? true : undefined;
    });
    await assert.rejects(until(s, (secrets) => secrets.find((x) => x.name !== "default" && x.name !== "ROOTCA"), 1500), /no response/);
    assert.deepEqual([...names].sort(), ["ROOTCA", "default"]);

    // No credentials, from loopback: admitted (proxyless gRPC cannot send any) but given no key.
    const anon = open(plain, node("admin-1", "shop", "admin"));
    anon.subscribe(TypeUrl.Secret, ["default", "ROOTCA"]);
    const first = await until(anon, (secrets) => secrets.map((x) => x.name));
    assert.deepEqual(first, ["ROOTCA"]);
    await assert.rejects(anon.next(1500), /no response/, "no `default` follows for an unauthenticated stream");
  });

  it("a proxy claiming another identity than it proved is refused with PERMISSION_DENIED before any secret is computed", async () => {
    const s = open(tls, node("web-3", "shop", "admin"), bearer(tokens.mint({ namespace: "shop", serviceAccount: "web" })));
    s.subscribe(TypeUrl.Secret, ["default", "ROOTCA"]);
    const status = await s.status;
    assert.equal(status.code, grpc.status.PERMISSION_DENIED);
    assert.match(status.details, /claims namespace "shop" service account "admin" but authenticated as spiffe:\/\/cluster.local\/ns\/shop\/sa\/web/);
    const bad = open(plain, node("web-4", "shop", "web"), bearer("not-a-token"));
    bad.subscribe(TypeUrl.Secret, ["default"]);
    assert.equal((await bad.status).code, grpc.status.UNAUTHENTICATED, "a presented but invalid credential fails closed");
  });

  it("a credential-less caller that is not on loopback is refused", async () => {
    const admission = new ProxyAdmission([]);
    const proxy = parseProxyNode(node("x", "shop", "web"));
    await assert.rejects(admission.admit(proxy, { metadata: new grpc.Metadata(), peer: "10.1.2.3:40000" }), (e: Error & { code?: number }) => e.code === grpc.status.UNAUTHENTICATED && /only loopback/.test(e.message));
    await admission.admit(proxy, { metadata: new grpc.Metadata(), peer: "127.0.0.1:40000" });
    assert.equal(admission.identityOf(proxy), undefined);
  });

  it("re-pushes a new certificate for the same identity before the old one expires", async () => {
    const s = open(tls, node("web-5", "shop", "web"), bearer(tokens.mint({ namespace: "shop", serviceAccount: "web" })));
    s.subscribe(TypeUrl.Secret, ["default", "ROOTCA"]);
    const first = new X509Certificate((await until(s, certificateOf)).chain);
    const second = new X509Certificate((await until(s, (secrets) => {
      const c = certificateOf(secrets);
      return c && new X509Certificate(c.chain).serialNumber !== first.serialNumber ? c : undefined;
    }, TTL_SECONDS * 1000 + 5000)).chain);
    assert.ok(Date.now() < Date.parse(first.validTo), `the new certificate arrived before ${first.validTo}`);
    assert.deepEqual(uriSans(second), uriSans(first));
    assert.ok(Date.parse(second.validTo) > Date.parse(first.validTo));
    const spki = (c: X509Certificate): string => c.publicKey.export({ type: "spki", format: "der" }).toString("hex");
    assert.notEqual(spki(second), spki(first), "a fresh key per rotation");
  });

  it("a proxy whose old stream ends after its new one opened keeps its certificate and rotation", async () => {
    const n = node("web-6", "shop", "web");
    const token = tokens.mint({ namespace: "shop", serviceAccount: "web" });
    const old = open(tls, n, bearer(token));
    old.subscribe(TypeUrl.Secret, ["default", "ROOTCA"]);
    const first = new X509Certificate((await until(old, certificateOf)).chain);
    const fresh = open(tls, n, bearer(token));
    fresh.subscribe(TypeUrl.Secret, ["default", "ROOTCA"]);
    assert.equal(new X509Certificate((await until(fresh, certificateOf)).chain).serialNumber, first.serialNumber, "the same certificate for the same proxy");
    old.cancel();
    await old.status;
    const rotated = await until(fresh, (secrets) => {
      const c = certificateOf(secrets);
      return c && new X509Certificate(c.chain).serialNumber !== first.serialNumber ? c : undefined;
    }, TTL_SECONDS * 1000 + 5000);
    assert.deepEqual(uriSans(new X509Certificate(rotated.chain)), ["spiffe://cluster.local/ns/shop/sa/web"]);
  });

  it("the CA answers on both ports: the TLS port's certificate verifies against the mesh root, identities come from tokens", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const csrPem = createCsr(privateKey, publicKey, "spiffe://cluster.local/ns/kube-system/sa/admin");
    const rootPem = Buffer.from(cp.ca.bundle.pem());
    const clients = [
      new CaClient(cp.tlsAddress!, grpc.credentials.createSsl(rootPem), { "grpc.ssl_target_name_override": ISTIOD_DNS_NAMES[0] }),
      new CaClient(cp.xdsAddress, grpc.credentials.createInsecure()),
    ];
    try {
      for (const ca of clients) {
        const chain = await ca.createCertificate({ csrPem, token: tokens.mint({ namespace: "shop", serviceAccount: "web" }) });
        assert.deepEqual(uriSans(new X509Certificate(chain[0]!)), ["spiffe://cluster.local/ns/shop/sa/web"], "the token's identity, not the CSR's");
        await assert.rejects(ca.createCertificate({ csrPem }), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });
});
