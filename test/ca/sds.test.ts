// SDS secrets for Envoy sidecars: each proxy gets `default` for its own identity only, `ROOTCA`
// follows the trust bundle, certificates are re-pushed before expiry, and a revoked identity
// loses its secret.
import { fromBinary } from "@bufbuild/protobuf";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import * as path from "node:path";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import { DEFAULT_SECRET, ROOT_SECRET, SdsSecretProvider } from "../../src/ca/sds.js";
import { generateRoot } from "../../src/ca/signer-store.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { TypeUrl, type ProxyChange } from "../../src/xds/types.js";
import { newCa, opensslOk, tempDir, writeText } from "./helpers.js";

function proxy(pod: string, ns: string, sa: string): Proxy {
  return parseProxyNode({ id: `sidecar~10.0.0.1~${pod}.${ns}~${ns}.svc.cluster.local`, metadata: { NAMESPACE: ns, SERVICE_ACCOUNT: sa } });
}

function nextChange(sds: SdsSecretProvider, p: Proxy, timeoutMs = 10_000): Promise<ProxyChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no change for ${p.id} within ${timeoutMs} ms`)), timeoutMs);
    const off = sds.onChange((c) => {
      if (c.all || c.affects(p)) {
        clearTimeout(timer);
        off();
        resolve(c);
      }
    });
  });
}

function inline(bytes: Uint8Array | undefined): string {
  return Buffer.from(bytes ?? []).toString();
}

function tlsCertificate(sds: SdsSecretProvider, p: Proxy): { chain: string; key: string; version: string } {
  const r = sds.resources(p, TypeUrl.Secret).get(DEFAULT_SECRET);
  assert.ok(r !== undefined, `default secret for ${p.id}`);
  const secret = fromBinary(SecretSchema, r.bytes);
  assert.equal(secret.type.case, "tlsCertificate");
  const tls = secret.type.value;
  const chain = tls.certificateChain?.specifier;
  const key = tls.privateKey?.specifier;
  assert.ok(chain?.case === "inlineBytes" && key?.case === "inlineBytes");
  return { chain: inline(chain.value), key: inline(key.value), version: r.version };
}

describe("SDS secrets (default, ROOTCA)", function () {
  let fixture: Awaited<ReturnType<typeof tempDir>>;
  let ca: CertificateAuthority;
  let refused = new Set<string>();
  before(async () => {
    fixture = await tempDir("sds");
    ca = await newCa(path.join(fixture.dir, "data"), "ecdsa-p256", {
      policy: (id) => (refused.has(id.serviceAccount) ? { allowed: false, reason: "quarantined" } : { allowed: true }),
    });
  });
  after(async () => fixture.cleanup());
  beforeEach(() => (refused = new Set()));

  it("gives each proxy a key and certificate for its own identity only; openssl verifies against ROOTCA", async () => {
    const sds = new SdsSecretProvider(ca);
    try {
      const cart = proxy("cart-1", "shop", "cart");
      const pay = proxy("pay-1", "billing", "payments");
      const first = sds.resources(cart, TypeUrl.Secret);
      assert.deepEqual([...first.keys()], [ROOT_SECRET], "ROOTCA at once, default once issued");
      await nextChange(sds, cart);
      sds.resources(pay, TypeUrl.Secret);
      await nextChange(sds, pay);

      const a = tlsCertificate(sds, cart);
      const b = tlsCertificate(sds, pay);
      const leafA = new X509Certificate(a.chain);
      assert.deepEqual(uriSans(leafA), ["spiffe://cluster.local/ns/shop/sa/cart"]);
      assert.deepEqual(uriSans(new X509Certificate(b.chain)), ["spiffe://cluster.local/ns/billing/sa/payments"]);
      assert.ok(leafA.checkPrivateKey(createPrivateKey(a.key)));
      assert.notEqual(a.key, b.key);

      const root = fromBinary(SecretSchema, sds.resources(cart, TypeUrl.Secret).get(ROOT_SECRET)?.bytes ?? new Uint8Array());
      assert.equal(root.type.case, "validationContext");
      const trusted = root.type.value.trustedCa?.specifier;
      assert.ok(trusted?.case === "inlineBytes");
      const rootFile = await writeText(path.join(fixture.dir, "rootca.pem"), inline(trusted.value));
      const leafFile = await writeText(path.join(fixture.dir, "sds-leaf.pem"), a.chain);
      assert.match(await opensslOk(["verify", "-CAfile", rootFile, leafFile]), /: OK/);
    } finally {
      sds.close();
    }
  });

  it("a reader's view (held, as CSDS uses) never issues: nothing is signed until the proxy itself asks", async () => {
    const sds = new SdsSecretProvider(ca);
    let changes = 0;
    const off = sds.onChange(() => void (changes += 1));
    try {
      const cart = proxy("cart-1", "shop", "cart");
      for (let i = 0; i < 3; i++) assert.deepEqual([...sds.held(cart, TypeUrl.Secret).keys()], [ROOT_SECRET]);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(changes, 0, "held() started an issuance");
      assert.deepEqual([...sds.held(cart, TypeUrl.Secret).keys()], [ROOT_SECRET]);
      sds.resources(cart, TypeUrl.Secret);
      await nextChange(sds, cart);
      assert.deepEqual([...sds.held(cart, TypeUrl.Secret).keys()].sort(), [DEFAULT_SECRET, ROOT_SECRET].sort(), "held() shows what was issued");
    } finally {
      off();
      sds.close();
    }
  });

  it("with authenticated identities: a proxy gets a certificate for what it proved, none without proof", async () => {
    const proved = new Map<string, { trustDomain: string; namespace: string; serviceAccount: string }>();
    const sds = new SdsSecretProvider(ca, { identityOf: (p) => proved.get(p.id) });
    try {
      const liar = proxy("liar-1", "billing", "payments"); // metadata claims payments
      proved.set(liar.id, { trustDomain: "cluster.local", namespace: "shop", serviceAccount: "web" });
      const anonymous = proxy("anon-1", "billing", "payments");
      assert.deepEqual([...sds.resources(anonymous, TypeUrl.Secret).keys()], [ROOT_SECRET]);
      sds.resources(liar, TypeUrl.Secret);
      await nextChange(sds, liar);
      assert.deepEqual(uriSans(new X509Certificate(tlsCertificate(sds, liar).chain)), ["spiffe://cluster.local/ns/shop/sa/web"]);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual([...sds.resources(anonymous, TypeUrl.Secret).keys()], [ROOT_SECRET], "still nothing without proof");
    } finally {
      sds.close();
    }
  });

  it("pushes a new certificate at half its lifetime", async () => {
    const sds = new SdsSecretProvider(ca, { ttlSeconds: 3 });
    try {
      const p = proxy("web-1", "shop", "web");
      sds.resources(p, TypeUrl.Secret);
      await nextChange(sds, p);
      const first = tlsCertificate(sds, p);
      await nextChange(sds, p);
      const second = tlsCertificate(sds, p);
      assert.notEqual(second.version, first.version);
      const notAfter = Date.parse(new X509Certificate(first.chain).validTo);
      assert.ok(Date.now() < notAfter, "renewed before the first certificate expired");
    } finally {
      sds.close();
    }
  });

  it("re-pushes ROOTCA to every proxy when the trust bundle changes", async () => {
    const sds = new SdsSecretProvider(ca);
    try {
      const p = proxy("web-2", "shop", "web");
      const before = sds.resources(p, TypeUrl.Secret).get(ROOT_SECRET);
      const change = nextChange(sds, p);
      ca.bundle.add(generateRoot("cluster.local", "ecdsa-p256").certPem);
      assert.equal((await change).all, true);
      const after = sds.resources(p, TypeUrl.Secret).get(ROOT_SECRET);
      assert.notEqual(after?.version, before?.version);
      assert.equal((inline(after?.bytes).match(/BEGIN CERTIFICATE/g) ?? []).length, 2, "both roots in ROOTCA");
    } finally {
      sds.close();
    }
  });

  it("revoking an identity drops its secret; the issuance policy then refuses a new one", async () => {
    const errors: string[] = [];
    const sds = new SdsSecretProvider(ca, { onError: (_id, e) => errors.push(e.message) });
    try {
      const p = proxy("bad-1", "shop", "compromised");
      sds.resources(p, TypeUrl.Secret);
      await nextChange(sds, p);
      assert.ok(sds.resources(p, TypeUrl.Secret).has(DEFAULT_SECRET));
      refused.add("compromised");
      const change = nextChange(sds, p);
      sds.revoke((id) => id.serviceAccount === "compromised");
      await change;
      assert.ok(!sds.resources(p, TypeUrl.Secret).has(DEFAULT_SECRET), "no default secret after revocation");
      await new Promise((r) => setTimeout(r, 100));
      assert.match(errors.join("\n"), /refused: quarantined/);
      assert.ok(!sds.resources(p, TypeUrl.Secret).has(DEFAULT_SECRET));
    } finally {
      sds.close();
    }
  });

  it("a proxy whose issuance was in flight during an unrelated revoke still gets its certificate", async () => {
    const sds = new SdsSecretProvider(ca);
    try {
      const p = proxy("inflight-1", "shop", "inflight");
      const changed = nextChange(sds, p);
      assert.equal(sds.resources(p, TypeUrl.Secret).has(DEFAULT_SECRET), false, "issuance starts");
      sds.revoke((id) => id.serviceAccount === "someone-else");
      await changed; // the discarded issuance asks the proxy again instead of leaving it without a key
      for (let i = 0; i < 50 && !sds.resources(p, TypeUrl.Secret).has(DEFAULT_SECRET); i++) await nextChange(sds, p);
      assert.ok(tlsCertificate(sds, p).chain.length > 0);
    } finally {
      sds.close();
    }
  });
});
