// Issued certificates checked by an independent tool: openssl verifies every chain and prints the
// fields we assert on, for CSRs that openssl itself produced (RSA, RSA-PSS, ECDSA P-256/P-384).
import assert from "node:assert/strict";
import * as path from "node:path";
import { spiffeId } from "../../src/security/identity.js";
import { newCa, opensslCsr, opensslOk, tempDir, writeText, TRUST_DOMAIN, type CsrKind } from "./helpers.js";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import type { CaKeyType } from "../../src/ca/signer-store.js";

const caller = { trustDomain: TRUST_DOMAIN, namespace: "shop", serviceAccount: "checkout" };
const other = "spiffe://cluster.local/ns/kube-system/sa/admin";

/** openssl's rendering of a UTCTime/GeneralizedTime line, e.g. "Nov 29 08:52:59 2026 GMT". */
function opensslDate(text: string, label: string): number {
  const m = new RegExp(`${label}\\s*:\\s*(.+ GMT)`).exec(text);
  assert.ok(m, `openssl output has ${label}`);
  return Date.parse(m[1]);
}

async function issueAndCheck(ca: CertificateAuthority, dir: string, kind: CsrKind): Promise<void> {
  const { csr } = await opensslCsr(dir, kind, other);
  const before = Date.now();
  const issued = await ca.issue({ identity: caller, csrPem: csr });
  assert.ok(issued.certChain.length >= 2, "chain is leaf ... root");
  const rootFile = await writeText(path.join(dir, `${kind}-root.pem`), issued.certChain[issued.certChain.length - 1]);
  const leafFile = await writeText(path.join(dir, `${kind}-leaf.pem`), issued.certChain[0]);
  const untrusted = issued.certChain.slice(1, -1).join("");
  const verifyArgs = ["verify", "-CAfile", rootFile, "-purpose", "sslclient"];
  if (untrusted !== "") verifyArgs.push("-untrusted", await writeText(path.join(dir, `${kind}-int.pem`), untrusted));
  assert.match(await opensslOk([...verifyArgs, leafFile]), /: OK/);
  assert.match(await opensslOk(["verify", "-CAfile", rootFile, "-purpose", "sslserver", ...verifyArgs.slice(5), leafFile]), /: OK/);

  const text = await opensslOk(["x509", "-in", leafFile, "-text", "-noout"]);
  assert.match(text, /X509v3 Subject Alternative Name: critical\n\s+URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/checkout\n/);
  assert.ok(!text.includes("kube-system"), "the CSR's requested identity is not in the certificate");
  assert.ok(!text.includes("attacker") && !text.includes("requested"), "the CSR's subject is not copied");
  assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment/);
  assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
  assert.match(text, /X509v3 Subject Key Identifier/);
  assert.match(text, /X509v3 Authority Key Identifier/);
  const notBefore = opensslDate(text, "Not Before");
  const notAfter = opensslDate(text, "Not After ");
  // openssl prints whole seconds: allow one second of rounding either way.
  assert.ok(Math.abs(notBefore - (before - 120_000)) < 5_000, `notBefore ${new Date(notBefore).toISOString()} is now - 2 min`);
  assert.ok(Math.abs(notAfter - notBefore - (24 * 3600 + 120) * 1000) < 2_000, "default TTL is 24 h");
  const serial = /Serial Number:\s*\n\s+([0-9a-f:]+)/.exec(text);
  assert.ok(serial !== null && serial[1].split(":").length === 16, "serial is 128 bits");
  assert.equal(spiffeId(caller), "spiffe://cluster.local/ns/shop/sa/checkout");
}

for (const caKey of ["ecdsa-p256", "rsa-2048"] as CaKeyType[]) {
  describe(`CA (${caKey} root) issuing for openssl-made CSRs, checked by openssl`, function () {
    let fixture: Awaited<ReturnType<typeof tempDir>>;
    let ca: CertificateAuthority;
    before(async () => {
      fixture = await tempDir("ca-openssl");
      ca = await newCa(path.join(fixture.dir, "data"), caKey);
    });
    after(async () => fixture.cleanup());

    for (const kind of ["ec-p256", "ec-p384", "rsa2048", "rsa-pss"] as CsrKind[]) {
      it(`${kind} CSR: chain verifies, one critical SAN with the caller's identity, EKU, KU, validity`, async () => {
        await issueAndCheck(ca, fixture.dir, kind);
      });
    }

    it("the root is a CA certificate openssl accepts as self-signed", async () => {
      const rootFile = path.join(fixture.dir, "data", "ca", "root-cert.pem");
      assert.match(await opensslOk(["verify", "-CAfile", rootFile, rootFile]), /: OK/);
      const text = await opensslOk(["x509", "-in", rootFile, "-text", "-noout"]);
      assert.match(text, /CA:TRUE/);
      assert.match(text, caKey === "rsa-2048" ? /Public-Key: \(2048 bit\)/ : /NIST CURVE: P-256/);
    });
  });
}
