// Where the CA's signing key and certificates come from. Both sources use Istio's `cacerts`
// layout (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem): a plugged-in directory
// (shared multi-cluster root) or `<data-dir>/ca/`, generated on first start as a self-signed root.
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { KEY_FILE_MODE, PUBLIC_FILE_MODE, syncDirectory, writeFileSynced } from "./atomic-file.js";
import { spkiPublicKeyBits } from "./certificate-parts.js";
import { CERTIFICATE, pemEncode, splitCertificates } from "./pem.js";
import {
  BASIC_CONSTRAINTS_CA,
  encodeName,
  KEY_USAGE_CA,
  keyIdentifier,
  randomSerial,
  signCertificate,
  subjectKeyIdentifier,
  tbsCertificate,
} from "./x509.js";
import { signatureAlgorithmOf } from "./signing-key.js";
import { checkPrivateDirectory, readPrivateKeyFile } from "../security/private-files.js";

export type CaKeyType = "ecdsa-p256" | "rsa-2048" | "rsa-3072" | "rsa-4096";

/** The material the CA signs with. `chain` runs from the signing certificate up to, not including, the root. */
export interface CaSigner {
  readonly key: KeyObject;
  readonly certificate: X509Certificate;
  readonly chain: readonly string[];
  /** The root that anchors `chain` (the signing certificate itself when self-signed). */
  readonly root: string;
  /** Every certificate in root-cert.pem: the trust bundle's starting point. */
  readonly roots: readonly string[];
  readonly source: string;
}

export const CACERTS_FILES = {
  caCert: "ca-cert.pem",
  caKey: "ca-key.pem",
  rootCert: "root-cert.pem",
  certChain: "cert-chain.pem",
} as const;

const ROOT_TTL_MS = 10 * 365 * 24 * 3600 * 1000;

/** Loads `<dataDir>/ca/`, generating a self-signed root there the first time. */
export async function loadOrCreateSigner(dataDir: string, trustDomain: string, keyType: CaKeyType = "ecdsa-p256"): Promise<CaSigner> {
  const dir = path.join(dataDir, "ca");
  // meshward's own CA key: checked (owner, mode, no link) before use; an Istio cacerts dir may be
  // a Kubernetes secret mount, made of links, and is read as Istio reads it.
  const ownCa = async (): Promise<CaSigner> => {
    checkPrivateDirectory(dir, "CA directory");
    await readPrivateKeyFile(path.join(dir, CACERTS_FILES.caKey));
    return loadCacerts(dir);
  };
  if (await exists(path.join(dir, CACERTS_FILES.caCert))) return ownCa();
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const staging = await fs.mkdtemp(path.join(dataDir, ".ca-"));
  try {
    const { keyPem, certPem } = generateRoot(trustDomain, keyType);
    await writeFileSynced(path.join(staging, CACERTS_FILES.caKey), keyPem, KEY_FILE_MODE);
    for (const f of [CACERTS_FILES.caCert, CACERTS_FILES.rootCert, CACERTS_FILES.certChain]) {
      await writeFileSynced(path.join(staging, f), certPem, PUBLIC_FILE_MODE);
    }
    // The files are complete inside the staging directory, which is then renamed into place as a
    // whole: a crash leaves either no CA or a complete one.
    await syncDirectory(staging);
    try {
      await fs.rename(staging, dir);
    } catch (e) {
      // Another process created the CA first: use theirs, so every replica shares one root.
      if (!(await exists(path.join(dir, CACERTS_FILES.caCert)))) throw e;
    }
    await syncDirectory(dataDir);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  return ownCa();
}

export function generateRoot(trustDomain: string, keyType: CaKeyType): { keyPem: string; certPem: string } {
  const { privateKey, publicKey } =
    keyType === "ecdsa-p256"
      ? generateKeyPairSync("ec", { namedCurve: "prime256v1" })
      : generateKeyPairSync("rsa", { modulusLength: Number(keyType.slice(4)) });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const name = encodeName([["O", trustDomain], ["CN", "meshward root CA"]]);
  const alg = signatureAlgorithmOf(privateKey);
  const now = Date.now();
  const tbs = tbsCertificate({
    serial: randomSerial(),
    signatureAlgorithm: alg.der,
    issuer: name,
    notBefore: new Date(now - 2 * 60 * 1000),
    notAfter: new Date(now + ROOT_TTL_MS),
    subject: name,
    spki,
    extensions: [BASIC_CONSTRAINTS_CA, KEY_USAGE_CA, subjectKeyIdentifier(keyIdentifier(spkiPublicKeyBits(spki)))],
  });
  return {
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    certPem: pemEncode(CERTIFICATE, signCertificate(tbs, alg, privateKey)),
  };
}

/** Loads and checks an Istio `cacerts` directory (also accepting `tls.crt`/`tls.key`/`ca.crt`). */
export async function loadCacerts(dir: string): Promise<CaSigner> {
  const files = new Map<string, string>();
  for (const f of [...Object.values(CACERTS_FILES), ...Object.values(CACERTS_TLS_FILES)]) {
    const file = path.join(dir, f);
    if (!(await exists(file))) continue;
    try {
      files.set(f, await fs.readFile(file, "utf8"));
    } catch (e) {
      throw new Error(`CA ${file}: ${(e as Error).message}`);
    }
  }
  return parseCacerts(files, dir, (f) => path.join(dir, f));
}

/** The kubernetes.io/tls names Istio also accepts for ca-cert.pem, ca-key.pem and root-cert.pem. */
export const CACERTS_TLS_FILES = { caCert: "tls.crt", caKey: "tls.key", rootCert: "ca.crt" } as const;

/**
 * Checks Istio `cacerts` material held in memory (file or Secret key -> PEM): the key matches the
 * certificate, which is a CA, and the chain ends at a root of root-cert.pem. `where` names a key
 * in error messages (a file path, or `Secret ns/name key`).
 */
export function parseCacerts(files: ReadonlyMap<string, string>, source: string, where: (key: string) => string = (k) => `${source} ${k}`): CaSigner {
  const pick = (preferred: string, fallback: string): string => (files.has(preferred) ? preferred : fallback);
  const certName = pick(CACERTS_FILES.caCert, CACERTS_TLS_FILES.caCert);
  const keyName = pick(CACERTS_FILES.caKey, CACERTS_TLS_FILES.caKey);
  const rootName = pick(CACERTS_FILES.rootCert, CACERTS_TLS_FILES.rootCert);
  const read = (k: string): string => {
    const v = files.get(k);
    if (v === undefined) throw new Error(`CA ${where(k)}: missing`);
    return v;
  };
  const certPem = splitCertificates(read(certName))[0];
  if (certPem === undefined) throw new Error(`CA ${where(certName)}: no certificate found`);
  const certificate = new X509Certificate(certPem);
  const key = createPrivateKey(read(keyName));
  if (!certificate.checkPrivateKey(key)) throw new Error(`CA ${where(keyName)}: key does not match ${where(certName)}`);
  if (!certificate.ca) throw new Error(`CA ${where(certName)}: not a CA certificate (basicConstraints CA:FALSE)`);
  const roots = splitCertificates(read(rootName));
  if (roots.length === 0) throw new Error(`CA ${where(rootName)}: no root certificate found`);
  const chainPem = files.get(CACERTS_FILES.certChain);
  const chainPems = chainPem !== undefined ? splitCertificates(chainPem) : [];
  const chain = normaliseChain(certPem, chainPems);
  const root = anchorOf(chain, roots, `CA ${where(CACERTS_FILES.certChain)}`);
  const intermediates = chain.filter((c) => !isSelfSigned(new X509Certificate(c)));
  return { key, certificate, chain: intermediates, root, roots, source };
}

function normaliseChain(certPem: string, chainPems: string[]): string[] {
  const fp = new X509Certificate(certPem).fingerprint256;
  const rest = chainPems.filter((c) => new X509Certificate(c).fingerprint256 !== fp);
  return [certPem, ...rest];
}

/** Verifies each link of `chain` and returns the root (from `roots`) that anchors it. */
function anchorOf(chain: string[], roots: string[], what: string): string {
  const certs = chain.map((c) => new X509Certificate(c));
  for (let i = 0; i + 1 < certs.length; i++) {
    if (!certs[i].checkIssued(certs[i + 1]) || !certs[i].verify(certs[i + 1].publicKey)) {
      throw new Error(`${what}: ${certs[i].subject} is not signed by the next certificate ${certs[i + 1].subject}`);
    }
  }
  const top = certs[certs.length - 1];
  for (const r of roots) {
    const root = new X509Certificate(r);
    if (root.fingerprint256 === top.fingerprint256) return r;
    if (top.checkIssued(root) && top.verify(root.publicKey)) return r;
  }
  throw new Error(`${what}: chain does not end at a certificate of root-cert.pem`);
}

export function isSelfSigned(c: X509Certificate): boolean {
  return c.checkIssued(c) && c.verify(c.publicKey);
}

async function exists(f: string): Promise<boolean> {
  try {
    await fs.access(f);
    return true;
  } catch {
    return false;
  }
}
