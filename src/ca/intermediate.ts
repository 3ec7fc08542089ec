// One trust across clusters, as Istio's "plug in CA certificates" does it: a root kept offline
// (`meshward ca root`: root-cert.pem + root-key.pem 0600, on a machine of the operator's choosing)
// signs one intermediate per cluster (`meshward ca intermediate --cluster C`), written as Istio's
// `cacerts` bundle (ca-cert.pem, ca-key.pem 0600, cert-chain.pem, root-cert.pem) that the
// cluster's control plane signs with (`--cacerts-dir`, or the `cacerts` Secret). A root rotation
// hands out bundles whose root-cert.pem holds the old and the new root (`--also-trust`).
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { KEY_FILE_MODE, PUBLIC_FILE_MODE, commitFiles, stageFile } from "./atomic-file.js";
import { certificateParts, spkiPublicKeyBits } from "./certificate-parts.js";
import { CERTIFICATE, pemEncode, splitCertificates } from "./pem.js";
import { CACERTS_FILES, generateRoot, type CaKeyType } from "./signer-store.js";
import { signatureAlgorithmOf } from "./signing-key.js";
import { authorityKeyIdentifier, BASIC_CONSTRAINTS_CA, encodeName, KEY_USAGE_CA, keyIdentifier, randomSerial, signCertificate, subjectKeyIdentifier, tbsCertificate } from "./x509.js";
import { readPrivateKeyFile } from "../security/private-files.js";

/** The offline root's files. */
export const ROOT_FILES = { cert: "root-cert.pem", key: "root-key.pem" } as const;
/** Lifetime of an intermediate (`--ttl`, in days), never past the root's own end. */
export const DEFAULT_INTERMEDIATE_TTL_DAYS = 365;

/** Writes a new root (root-cert.pem, root-key.pem 0600) into `dir`; refuses to overwrite one. */
export async function createOfflineRoot(dir: string, trustDomain: string, keyType: CaKeyType = "ecdsa-p256"): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  for (const f of Object.values(ROOT_FILES)) {
    if (await fs.stat(path.join(dir, f)).then(() => true, () => false)) throw new Error(`${path.join(dir, f)} exists; a root is never overwritten`);
  }
  const { keyPem, certPem } = generateRoot(trustDomain, keyType);
  await commitFiles([await stageFile(path.join(dir, ROOT_FILES.key), keyPem, KEY_FILE_MODE), await stageFile(path.join(dir, ROOT_FILES.cert), certPem, PUBLIC_FILE_MODE)]);
}

export interface IntermediateRequest {
  /** The directory holding the offline root (root-cert.pem, root-key.pem). */
  readonly rootDir: string;
  /** Where the cacerts bundle is written. */
  readonly outDir: string;
  /** The cluster the intermediate is for (its subject names it). */
  readonly cluster: string;
  readonly trustDomain: string;
  readonly ttlDays?: number;
  /** More roots for root-cert.pem (PEM): the other root of a rotation. */
  readonly alsoTrustPem?: string;
}

/** Signs a new intermediate for `cluster` with the offline root and writes its cacerts bundle; returns the intermediate. */
export async function mintIntermediate(req: IntermediateRequest): Promise<X509Certificate> {
  const rootCertFile = path.join(req.rootDir, ROOT_FILES.cert);
  const rootPem = splitCertificates(await fs.readFile(rootCertFile, "utf8"))[0];
  if (rootPem === undefined) throw new Error(`${rootCertFile}: no certificate`);
  const root = new X509Certificate(rootPem);
  const rootKey = createPrivateKey(await readPrivateKeyFile(path.join(req.rootDir, ROOT_FILES.key)));
  if (!root.checkPrivateKey(rootKey)) throw new Error(`${path.join(req.rootDir, ROOT_FILES.key)}: does not match ${rootCertFile}`);
  if (!root.ca) throw new Error(`${rootCertFile}: not a CA certificate`);
  const rootParts = certificateParts(root.raw);
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const alg = signatureAlgorithmOf(rootKey);
  const now = Date.now();
  const notAfter = Math.min(now + (req.ttlDays ?? DEFAULT_INTERMEDIATE_TTL_DAYS) * 86_400_000, Date.parse(root.validTo));
  const tbs = tbsCertificate({
    serial: randomSerial(),
    signatureAlgorithm: alg.der,
    issuer: rootParts.subject,
    notBefore: new Date(now - 2 * 60 * 1000),
    notAfter: new Date(notAfter),
    subject: encodeName([["O", req.trustDomain], ["CN", `meshward intermediate CA ${req.cluster}`]]),
    spki,
    extensions: [BASIC_CONSTRAINTS_CA, KEY_USAGE_CA, subjectKeyIdentifier(keyIdentifier(spkiPublicKeyBits(spki))), authorityKeyIdentifier(rootParts.subjectKeyId)],
  });
  const caCert = pemEncode(CERTIFICATE, signCertificate(tbs, alg, rootKey));
  const also = req.alsoTrustPem === undefined ? [] : splitCertificates(req.alsoTrustPem).filter((p) => new X509Certificate(p).fingerprint256 !== root.fingerprint256);
  await fs.mkdir(req.outDir, { recursive: true, mode: 0o700 });
  const out = (f: string): string => path.join(req.outDir, f);
  // Renamed into place back to back; a control plane that reads a mixed bundle meanwhile refuses
  // it (key and chain are checked) and keeps signing with the last good one until the next read.
  await commitFiles([
    await stageFile(out(CACERTS_FILES.caKey), privateKey.export({ type: "pkcs8", format: "pem" }).toString(), KEY_FILE_MODE),
    await stageFile(out(CACERTS_FILES.caCert), caCert, PUBLIC_FILE_MODE),
    await stageFile(out(CACERTS_FILES.certChain), caCert + rootPem, PUBLIC_FILE_MODE),
    await stageFile(out(CACERTS_FILES.rootCert), [rootPem, ...also].join(""), PUBLIC_FILE_MODE),
  ]);
  return new X509Certificate(caCert);
}
