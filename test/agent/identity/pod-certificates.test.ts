// The agent's pod certificates against meshward's real CA in process (no kernel needed): one
// issuance per pod however many callers ask at once, the certificate cached until rotation, a CA
// refusal cutting the pod, and a pod cut before the agent knew it re-checked once it shows up.
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { IssuanceError, type CertificateAuthority } from "../../../src/ca/authority.js";
import type { PodInfo } from "../../../src/agent/attribution/pod-directory.js";
import { IdentityCutError, PodCertificates, type PodIdentityEvent } from "../../../src/agent/identity/pod-certificates.js";
import { eventually } from "../../support/eventually.js";
import { newCa, tempDir, TRUST_DOMAIN } from "../../ca/helpers.js";

const pod = (name: string): PodInfo => ({ uid: `uid-${name}`, namespace: "shop", name, serviceAccount: "cart", labels: {}, containers: {} });

describe("node identity: pod certificates against the real CA", function () {
  let fixture: Awaited<ReturnType<typeof tempDir>>;
  let ca: CertificateAuthority;
  const refused = new Set<string>();
  let issued = 0;

  const gone = new Set<string>();
  const certificates = (cutHoldMs = 60_000, recheckMs?: number): PodCertificates =>
    new PodCertificates({
      trustDomain: TRUST_DOMAIN,
      cutHoldMs,
      stillPlaced: (uid) => !gone.has(uid),
      ...(recheckMs !== undefined ? { recheckMs } : {}),
      issuer: {
        issue: async (p, identity, csrPem, ttlSeconds) => {
          issued++;
          if (refused.has(p.name)) throw new IssuanceError("permission-denied", `pod ${p.name} is quarantined`);
          return [...(await ca.issue({ identity, csrPem, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) })).certChain];
        },
      },
      isRefusal: (e) => e instanceof IssuanceError && e.code === "permission-denied",
    });

  before(async () => {
    fixture = await tempDir("pod-certs");
    ca = await newCa(join(fixture.dir, "ca"));
  });

  after(async () => {
    await fixture.cleanup();
  });

  it("issues once for concurrent callers and serves the cached certificate after", async () => {
    const certs = certificates();
    issued = 0;
    const p = pod("cart-1");
    const [a, b] = await Promise.all([certs.get(p), certs.get(p)]);
    assert.equal(issued, 1);
    assert.equal(a, b);
    assert.equal(await certs.get(p), a);
    assert.equal(new X509Certificate(a.chainPem).subjectAltName, "URI:spiffe://cluster.local/ns/shop/sa/cart");
    assert.deepEqual(certs.heldPods(), [p.uid]);
    certs.close();
  });

  it("a CA refusal cuts the pod: subscribers are told and later calls throw IdentityCutError", async () => {
    const certs = certificates();
    const p = pod("cart-2");
    await certs.get(p);
    const events: PodIdentityEvent[] = [];
    certs.subscribe(p.uid, (e) => events.push(e));
    refused.add(p.name);
    await assert.rejects(certs.rotateAll(), /quarantined/);
    assert.deepEqual(events.map((e) => e.kind), ["cut"]);
    assert.match(certs.cutReason(p.uid) ?? "", /the CA refused: pod cart-2 is quarantined/);
    await assert.rejects(certs.get(p), IdentityCutError);
    assert.deepEqual(certs.heldPods(), []);
    refused.delete(p.name);
    certs.close();
  });

  it("with a recheck interval, a control-plane quarantine reaches the node long before half the certificate's lifetime", async () => {
    const certs = certificates(60_000, 1000);
    const p = pod("cart-4");
    const first = await certs.get(p);
    assert.ok(first.notAfter.getTime() - Date.now() > 3600_000, "a long-lived certificate (the CA's 24 h)");
    refused.add(p.name);
    try {
      await eventually("the pod cut by the CA's refusal at the recheck", () => certs.cutReason(p.uid), 5000);
      assert.match(certs.cutReason(p.uid) ?? "", /the CA refused: pod cart-4 is quarantined/);
    } finally {
      refused.delete(p.name);
      certs.close();
    }
  });

  it("a pod that left the node is forgotten at its next renewal, with no request to the CA", async () => {
    const certs = certificates(60_000, 1000);
    const p = pod("cart-5");
    await certs.get(p);
    gone.add(p.uid);
    const before = issued;
    await eventually("the pod forgotten", () => (certs.heldPods().includes(p.uid) ? undefined : true), 5000);
    assert.equal(issued, before, "no certificate asked for a pod that is gone");
    certs.close();
  });

  it("a pod cut before the agent knew it is re-checked with the CA once it shows up, and restored when the CA issues", async () => {
    const certs = certificates(50);
    const p = pod("cart-3");
    certs.cut(p.uid, "detection before placement");
    await assert.rejects(certs.get(p), IdentityCutError);
    const restored = await eventually("the pod restored", () => (certs.cutReason(p.uid) === undefined ? true : undefined), 5000);
    assert.equal(restored, true);
    assert.equal(new X509Certificate((await certs.get(p)).chainPem).subjectAltName, "URI:spiffe://cluster.local/ns/shop/sa/cart");
    certs.close();
  });
});
