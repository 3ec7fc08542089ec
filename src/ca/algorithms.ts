// Algorithm identifiers as their exact DER, so that recognising one is a byte comparison and
// writing one is a copy.
import { oid, seq, tlv, Tag } from "./der.js";

const NULL = tlv(Tag.Null);

export const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  secp384r1: "1.3.132.0.34",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsassaPss: "1.2.840.113549.1.1.10",
  mgf1: "1.2.840.113549.1.1.8",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
} as const;

/** SubjectPublicKeyInfo algorithm identifiers we accept in CSRs. */
export const KEY_ALGORITHMS = {
  ecP256: seq(oid(OID.ecPublicKey), oid(OID.prime256v1)),
  ecP384: seq(oid(OID.ecPublicKey), oid(OID.secp384r1)),
  rsa: seq(oid(OID.rsaEncryption), NULL),
} as const;

export type HashName = "sha256" | "sha384" | "sha512";

export interface SignatureAlgorithm {
  readonly der: Buffer;
  readonly family: "ecdsa" | "rsa-pkcs1";
  readonly hash: HashName;
}

function sigAlg(dotted: string, family: SignatureAlgorithm["family"], hash: HashName): SignatureAlgorithm {
  // RFC 5758: ECDSA identifiers carry no parameters; RFC 4055: PKCS#1 ones carry NULL.
  return { der: family === "ecdsa" ? seq(oid(dotted)) : seq(oid(dotted), NULL), family, hash };
}

export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [
  sigAlg("1.2.840.10045.4.3.2", "ecdsa", "sha256"),
  sigAlg("1.2.840.10045.4.3.3", "ecdsa", "sha384"),
  sigAlg("1.2.840.10045.4.3.4", "ecdsa", "sha512"),
  sigAlg("1.2.840.113549.1.1.11", "rsa-pkcs1", "sha256"),
  sigAlg("1.2.840.113549.1.1.12", "rsa-pkcs1", "sha384"),
  sigAlg("1.2.840.113549.1.1.13", "rsa-pkcs1", "sha512"),
];

export const RSASSA_PSS_OID = oid(OID.rsassaPss);

export const HASH_OIDS: ReadonlyMap<string, HashName> = new Map([
  [oid(OID.sha256).toString("hex"), "sha256"],
  [oid(OID.sha384).toString("hex"), "sha384"],
  [oid(OID.sha512).toString("hex"), "sha512"],
]);

export const MGF1_OID = oid(OID.mgf1);

export function signatureAlgorithmFor(family: SignatureAlgorithm["family"], hash: HashName): SignatureAlgorithm {
  const alg = SIGNATURE_ALGORITHMS.find((a) => a.family === family && a.hash === hash);
  if (alg === undefined) throw new Error(`no signature algorithm for ${family}/${hash}`);
  return alg;
}
