// The CA's rules apart from the wire: what it refuses (and that refusing issues nothing), TTLs,
// the signer's expiry, the issuance policy hook, persistence of the root and Istio's cacerts layout.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile, stat, mkdir } from "node:fs/promises";
import * as path from "node:path";
import { CertificateAuthority, IssuanceError } from "../../src/ca/authority.js";
import { parseAndVerifyCsr, CsrError } from "../../src/ca/csr.js";
import { pemDecodeOne, pemEncode } from "../../src/ca/pem.js";
import { generateRoot, loadCacerts, loadOrCreateSigner } from "../../src/ca/signer-store.js";
import { openCertificateAuthority } from "../../src/ca/setup.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { newCa, opensslCsr, opensslOk, tempDir, TRUST_DOMAIN, writeText } from "./helpers.js";

const caller = { trustDomain: TRUST_DOMAIN, namespace: "shop", serviceAccount: "checkout" };
const LABELS = ["CERTIFICATE REQUEST"];

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof IssuanceError, `IssuanceError expected, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe("CA rules", function () {
  let fixture: Awaited<ReturnType<typeof tempDir>>;
  let ca: CertificateAuthority;
  let ecCsr: string;
  before(async () => {
    fixture = await tempDir("ca-rules");
    ca = await newCa(path.join(fixture.dir, "data"));
    ecCsr = (await opensslCsr(fixture.dir, "ec-p256", "spiffe://cluster.local/ns/x/sa/y")).csr;
  });
  after(async () => fixture.cleanup());

  it("rejects a CSR whose signature was forged (one signature byte changed)", async () => {
    const der = pemDecodeOne(ecCsr, LABELS, "csr");
    der[der.length - 3] ^= 0x01;
    await rejects(ca.issue({ identity: caller, csrPem: pemEncode("CERTIFICATE REQUEST", der) }), "invalid-argument", /signature/);
  });

  it("rejects a CSR whose signed content was altered (key swapped in the request info)", async () => {
    const der = pemDecodeOne(ecCsr, LABELS, "csr");
    // The last byte of the public key point sits before the attributes; flip a byte inside the info.
    const infoByte = 40;
    der[infoByte] ^= 0x01;
    await assert.rejects(ca.issue({ identity: caller, csrPem: pemEncode("CERTIFICATE REQUEST", der) }), IssuanceError);
  });

  it("rejects RSA keys below 2048 bits, naming the size", async () => {
    const out = path.join(fixture.dir, "small.csr");
    await opensslOk(["req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", out + ".key", "-out", out, "-subj", "/CN=x"]);
    await rejects(ca.issue({ identity: caller, csrPem: await readFile(out, "utf8") }), "invalid-argument", /1024 bits is too small/);
  });

  it("rejects garbage and trailing bytes", async () => {
    await rejects(ca.issue({ identity: caller, csrPem: "hello" }), "invalid-argument", /expected one PEM block/);
    const der = pemDecodeOne(ecCsr, LABELS, "csr");
    const padded = pemEncode("CERTIFICATE REQUEST", Buffer.concat([der, Buffer.from([0, 0])]));
    await rejects(ca.issue({ identity: caller, csrPem: padded }), "invalid-argument", /trailing bytes/);
  });

  it("recognises the openssl RSA-PSS CSR as PSS", async () => {
    const { csr } = await opensslCsr(fixture.dir, "rsa-pss", "spiffe://x/ns/a/sa/b");
    assert.equal((await parseAndVerifyCsr(csr)).signatureAlgorithm, "rsa-pss-sha256");
    const der = pemDecodeOne(csr, LABELS, "csr");
    der[der.length - 5] ^= 0x10;
    await assert.rejects(parseAndVerifyCsr(pemEncode("CERTIFICATE REQUEST", der)), CsrError);
  });

  it("accepts a compressed P-256 point and a SHA-384 P-384 signature from openssl; openssl verifies the result", async () => {
    const d = fixture.dir;
    await opensslOk(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${d}/c.key`]);
    await opensslOk(["ec", "-in", `${d}/c.key`, "-conv_form", "compressed", "-out", `${d}/cc.key`]);
    await opensslOk(["req", "-new", "-key", `${d}/cc.key`, "-out", `${d}/cc.csr`, "-subj", "/CN=x"]);
    await opensslOk(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384", "-nodes",
      "-keyout", `${d}/p384.key`, "-out", `${d}/p384.csr`, "-subj", "/CN=x"]);
    const compressed = await parseAndVerifyCsr(await readFile(`${d}/cc.csr`, "utf8"));
    assert.equal(compressed.publicKey.length, 33);
    assert.equal((await parseAndVerifyCsr(await readFile(`${d}/p384.csr`, "utf8"))).signatureAlgorithm, "ecdsa-sha384");
    for (const f of ["cc", "p384"]) {
      const issued = await ca.issue({ identity: caller, csrPem: await readFile(`${d}/${f}.csr`, "utf8") });
      await writeText(`${d}/${f}-leaf.pem`, issued.certChain[0]);
      await writeText(`${d}/${f}-root.pem`, issued.certChain[1]);
      assert.match(await opensslOk(["verify", "-CAfile", `${d}/${f}-root.pem`, `${d}/${f}-leaf.pem`]), /: OK/);
    }
  });

  it("refuses a TTL above the 90-day maximum, and honours a shorter one", async () => {
    await rejects(ca.issue({ identity: caller, csrPem: ecCsr, ttlSeconds: 91 * 86400 }), "invalid-argument", /exceeds the maximum/);
    const issued = await ca.issue({ identity: caller, csrPem: ecCsr, ttlSeconds: 3600 });
    assert.equal(issued.notAfter.getTime() - issued.notBefore.getTime(), 3600_000 + 120_000);
  });

  it("consults the issuance policy first and issues nothing for a refused identity", async () => {
    const asked: string[] = [];
    const guarded = new CertificateAuthority({
      trustDomain: TRUST_DOMAIN,
      signer: ca.signer,
      policy: (id) => {
        asked.push(id.serviceAccount);
        return id.serviceAccount === "quarantined" ? { allowed: false, reason: "pod is quarantined" } : { allowed: true };
      },
    });
    await rejects(
      guarded.issue({ identity: { ...caller, serviceAccount: "quarantined" }, csrPem: ecCsr }),
      "permission-denied",
      /quarantined/,
    );
    const ok = await guarded.issue({ identity: caller, csrPem: ecCsr });
    assert.deepEqual(uriSans(new X509Certificate(ok.certChain[0])), ["spiffe://cluster.local/ns/shop/sa/checkout"]);
    assert.deepEqual(asked, ["quarantined", "checkout"]);
  });

  it("refuses identities outside its trust domain", async () => {
    await rejects(ca.issue({ identity: { ...caller, trustDomain: "evil.org" }, csrPem: ecCsr }), "permission-denied", /trust domain/);
  });

  it("keeps its root across restarts; key files are 0600", async () => {
    const dataDir = path.join(fixture.dir, "data");
    const first = await loadOrCreateSigner(dataDir, TRUST_DOMAIN);
    const again = await loadOrCreateSigner(dataDir, TRUST_DOMAIN);
    assert.equal(again.certificate.fingerprint256, first.certificate.fingerprint256);
    assert.equal(again.certificate.fingerprint256, ca.signer.certificate.fingerprint256);
    assert.equal((await stat(path.join(dataDir, "ca", "ca-key.pem"))).mode & 0o777, 0o600);
    const leaf = await ca.issue({ identity: caller, csrPem: ecCsr });
    const reopened = new CertificateAuthority({ trustDomain: TRUST_DOMAIN, signer: again });
    const leaf2 = await reopened.issue({ identity: caller, csrPem: ecCsr });
    assert.equal(leaf2.certChain[1], leaf.certChain[1], "same root before and after");
  });

  it("keeps its token key across restarts, 0600, one key even when first opened concurrently", async () => {
    const dataDir = path.join(fixture.dir, "tokens");
    const keys = await Promise.all([1, 2, 3].map(() => TokenKey.loadOrCreate(dataDir)));
    assert.equal(new Set(keys.map((k) => k.keyId)).size, 1);
    assert.equal((await TokenKey.loadOrCreate(dataDir)).keyId, keys[0].keyId);
    assert.equal((await stat(path.join(dataDir, "token-key.pem"))).mode & 0o777, 0o600);
  });

  it("concurrent first starts agree on one root", async () => {
    const dataDir = path.join(fixture.dir, "race");
    const signers = await Promise.all([1, 2, 3].map(() => loadOrCreateSigner(dataDir, TRUST_DOMAIN)));
    assert.equal(new Set(signers.map((s) => s.certificate.fingerprint256)).size, 1);
  });
});

describe("CA from an Istio cacerts directory (root -> intermediate)", function () {
  let fixture: Awaited<ReturnType<typeof tempDir>>;
  let cacerts: string;
  before(async () => {
    fixture = await tempDir("ca-cacerts");
    cacerts = path.join(fixture.dir, "cacerts");
    await mkdir(cacerts);
    const d = fixture.dir;
    // As tools/certs/Makefile.selfsigned.mk does, with openssl: a root, then an intermediate for one cluster.
    await opensslOk(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${d}/root.key`,
      "-out", `${cacerts}/root-cert.pem`, "-days", "3650", "-subj", "/O=Istio/CN=Root CA"]);
    await writeText(`${d}/int.ext`, "basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\n");
    await opensslOk(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${cacerts}/ca-key.pem`,
      "-out", `${d}/int.csr`, "-subj", "/O=Istio/CN=Intermediate CA/L=cluster1"]);
    // One day: shorter than a 30-day workload request, so the clamp shows.
    await opensslOk(["x509", "-req", "-in", `${d}/int.csr`, "-CA", `${cacerts}/root-cert.pem`, "-CAkey", `${d}/root.key`,
      "-CAcreateserial", "-out", `${cacerts}/ca-cert.pem`, "-days", "1", "-extfile", `${d}/int.ext`]);
    const chain = (await readFile(`${cacerts}/ca-cert.pem`, "utf8")) + (await readFile(`${cacerts}/root-cert.pem`, "utf8"));
    await writeText(`${cacerts}/cert-chain.pem`, chain);
  });
  after(async () => fixture.cleanup());

  it("issues leaf, intermediate, root; openssl verifies through the intermediate; notAfter clamped to the signer's", async () => {
    const signer = await loadCacerts(cacerts);
    const ca = new CertificateAuthority({ trustDomain: TRUST_DOMAIN, signer });
    const { csr } = await opensslCsr(fixture.dir, "ec-p256", "spiffe://cluster.local/ns/a/sa/b");
    const issued = await ca.issue({ identity: caller, csrPem: csr, ttlSeconds: 30 * 86400 });
    assert.equal(issued.certChain.length, 3);
    const [leaf, intermediate, root] = issued.certChain.map((c) => new X509Certificate(c));
    assert.equal(intermediate.fingerprint256, signer.certificate.fingerprint256);
    assert.ok(root.checkIssued(root), "root last");
    assert.equal(issued.notAfter.getTime(), Date.parse(signer.certificate.validTo), "clamped to the intermediate's notAfter");
    const d = fixture.dir;
    await writeText(`${d}/leaf.pem`, issued.certChain[0]);
    await writeText(`${d}/untrusted.pem`, issued.certChain[1]);
    await writeText(`${d}/root.pem`, issued.certChain[2]);
    assert.match(await opensslOk(["verify", "-CAfile", `${d}/root.pem`, "-untrusted", `${d}/untrusted.pem`, `${d}/leaf.pem`]), /: OK/);
    assert.equal(leaf.issuer, intermediate.subject);
  });

  it("openCertificateAuthority signs with the plugged-in intermediate and trusts extra roots too", async () => {
    const extra = generateRoot("other.cluster", "ecdsa-p256").certPem;
    const setup = await openCertificateAuthority({
      dataDir: path.join(fixture.dir, "data"), trustDomain: TRUST_DOMAIN, cacertsDir: cacerts, extraRootsPem: extra,
    });
    assert.match(setup.ca.signingCertificate.subject, /Intermediate CA/);
    assert.equal(setup.ca.bundle.anchorsList().length, 2);
    assert.deepEqual(setup.authenticators.map((a) => a.name), ["client-certificate", "meshward-token"]);
  });

  it("refuses a cacerts directory whose key does not match its certificate, naming the file", async () => {
    const bad = path.join(fixture.dir, "bad");
    await mkdir(bad);
    for (const f of ["ca-cert.pem", "root-cert.pem", "cert-chain.pem"]) {
      await writeText(path.join(bad, f), await readFile(path.join(cacerts, f), "utf8"));
    }
    await opensslOk(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path.join(bad, "ca-key.pem")]);
    await assert.rejects(loadCacerts(bad), /ca-key\.pem: key does not match/);
  });
});
