// PKCS#10 certificate signing requests (RFC 2986): parsed with the strict DER reader and their
// self-signature verified with node:crypto, which proves the requester holds the private key.
// Only the public key is taken from a CSR; its subject and SANs are ignored by the CA.
import { constants, createPublicKey, KeyObject, verify, webcrypto } from "node:crypto";
import {
  HASH_OIDS,
  KEY_ALGORITHMS,
  MGF1_OID,
  RSASSA_PSS_OID,
  SIGNATURE_ALGORITHMS,
  type HashName,
} from "./algorithms.js";
import { children, DerError, expectTlv, readTlv, Tag, value, whole, type Tlv } from "./der.js";
import { pemDecodeOne } from "./pem.js";

export type CsrKeyKind = "ec-p256" | "ec-p384" | "rsa";

export interface CertificateSigningRequest {
  /** The whole SubjectPublicKeyInfo, copied verbatim into the certificate. */
  readonly spki: Buffer;
  /** The subjectPublicKey BIT STRING content (for the subject key identifier). */
  readonly publicKey: Buffer;
  readonly keyKind: CsrKeyKind;
  readonly keyBits: number;
  readonly signatureAlgorithm: string;
}

/** A CSR that is malformed, uses an unsupported algorithm or fails its signature check. */
export class CsrError extends Error {}

const MAX_CSR_BYTES = 16 * 1024;
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192;
const CSR_LABELS = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"] as const;

interface KeyInfo {
  readonly kind: CsrKeyKind;
  readonly bits: number;
  readonly publicKey: Buffer;
  readonly rsa?: { readonly n: Buffer; readonly e: Buffer };
}

type SignatureCheck =
  | { readonly family: "ecdsa" | "rsa-pkcs1"; readonly hash: HashName; readonly name: string }
  | { readonly family: "rsa-pss"; readonly hash: HashName; readonly saltLength: number; readonly name: string };

export async function parseAndVerifyCsr(pem: string): Promise<CertificateSigningRequest> {
  if (pem.length > MAX_CSR_BYTES * 2) throw new CsrError(`CSR is larger than ${MAX_CSR_BYTES} bytes`);
  let der: Buffer;
  try {
    der = pemDecodeOne(pem, CSR_LABELS, "CSR");
  } catch (e) {
    throw new CsrError((e as Error).message);
  }
  try {
    return await parseDer(der);
  } catch (e) {
    if (e instanceof DerError) throw new CsrError(`CSR is not valid DER: ${e.message}`);
    throw e;
  }
}

async function parseDer(der: Buffer): Promise<CertificateSigningRequest> {
  const outer = expectTlv(der, 0, Tag.Sequence, "CertificationRequest");
  if (outer.end !== der.length) throw new CsrError("CSR has trailing bytes after the request");
  const [info, alg, sig, ...extra] = children(der, outer);
  if (info === undefined || alg === undefined || sig === undefined || extra.length > 0) {
    throw new CsrError("CertificationRequest must hold exactly info, signatureAlgorithm and signature");
  }
  if (info.tag !== Tag.Sequence || alg.tag !== Tag.Sequence || sig.tag !== Tag.BitString) {
    throw new CsrError("CertificationRequest elements have the wrong types");
  }
  const [version, subject, spki, attributes, ...rest] = children(der, info);
  if (version === undefined || subject === undefined || spki === undefined || attributes === undefined || rest.length) {
    throw new CsrError("CertificationRequestInfo must hold version, subject, subjectPKInfo and attributes");
  }
  if (version.tag !== Tag.Integer || version.end - version.valueStart !== 1 || der[version.valueStart] !== 0) {
    throw new CsrError("CSR version must be 0 (v1)");
  }
  if (subject.tag !== Tag.Sequence || spki.tag !== Tag.Sequence || attributes.tag !== 0xa0) {
    throw new CsrError("CertificationRequestInfo elements have the wrong types");
  }
  const key = parseSpki(der, spki);
  const check = parseSignatureAlgorithm(der, alg);
  const sigBits = value(der, sig);
  if (sigBits.length < 2 || sigBits[0] !== 0) throw new CsrError("CSR signature BIT STRING has unused bits");
  await verifySignature(key, check, whole(der, info), sigBits.subarray(1));
  return {
    spki: Buffer.from(whole(der, spki)),
    publicKey: key.publicKey,
    keyKind: key.kind,
    keyBits: key.bits,
    signatureAlgorithm: check.name,
  };
}

function parseSpki(der: Buffer, spki: Tlv): KeyInfo {
  const [alg, bits, ...rest] = children(der, spki);
  if (alg === undefined || bits === undefined || rest.length || bits.tag !== Tag.BitString) {
    throw new CsrError("SubjectPublicKeyInfo is malformed");
  }
  const algDer = whole(der, alg);
  const content = value(der, bits);
  if (content.length < 2 || content[0] !== 0) throw new CsrError("subjectPublicKey BIT STRING has unused bits");
  const publicKey = content.subarray(1);
  if (algDer.equals(KEY_ALGORITHMS.ecP256)) return ecKey("ec-p256", 256, publicKey);
  if (algDer.equals(KEY_ALGORITHMS.ecP384)) return ecKey("ec-p384", 384, publicKey);
  if (algDer.equals(KEY_ALGORITHMS.rsa)) return rsaKey(publicKey);
  throw new CsrError("unsupported public key algorithm: only ECDSA P-256, P-384 and RSA are accepted");
}

function ecKey(kind: CsrKeyKind, bits: number, point: Buffer): KeyInfo {
  const size = bits / 8;
  const ok = (point[0] === 4 && point.length === 1 + 2 * size) || ((point[0] === 2 || point[0] === 3) && point.length === 1 + size);
  if (!ok) throw new CsrError(`${kind} public key is not an encoded curve point`);
  return { kind, bits, publicKey: point };
}

function rsaKey(publicKey: Buffer): KeyInfo {
  const outer = expectTlv(publicKey, 0, Tag.Sequence, "RSAPublicKey");
  if (outer.end !== publicKey.length) throw new CsrError("RSAPublicKey has trailing bytes");
  const [n, e, ...rest] = children(publicKey, outer);
  if (n === undefined || e === undefined || rest.length || n.tag !== Tag.Integer || e.tag !== Tag.Integer) {
    throw new CsrError("RSAPublicKey must hold modulus and exponent");
  }
  const mod = stripSign(value(publicKey, n));
  const exp = stripSign(value(publicKey, e));
  const bits = mod.length * 8 - Math.clz32(mod[0]) + 24;
  if (bits < MIN_RSA_BITS) throw new CsrError(`RSA key of ${bits} bits is too small: at least ${MIN_RSA_BITS} required`);
  if (bits > MAX_RSA_BITS) throw new CsrError(`RSA key of ${bits} bits is larger than ${MAX_RSA_BITS}`);
  if (exp.length > 4 || (exp[exp.length - 1] & 1) === 0 || (exp.length === 1 && exp[0] < 3)) {
    throw new CsrError("RSA public exponent must be odd, at least 3 and at most 32 bits");
  }
  return { kind: "rsa", bits, publicKey, rsa: { n: mod, e: exp } };
}

function stripSign(int: Buffer): Buffer {
  if (int.length === 0 || int[0] & 0x80) throw new CsrError("RSA integers must be positive");
  return int[0] === 0 && int.length > 1 ? int.subarray(1) : int;
}

function parseSignatureAlgorithm(der: Buffer, alg: Tlv): SignatureCheck {
  const algDer = whole(der, alg);
  for (const a of SIGNATURE_ALGORITHMS) {
    if (algDer.equals(a.der)) return { family: a.family, hash: a.hash, name: `${a.family}-${a.hash}` };
  }
  const first = readTlv(der, alg.valueStart, alg.end);
  if (whole(der, first).equals(RSASSA_PSS_OID)) return parsePssParams(der, alg, first);
  throw new CsrError("unsupported CSR signature algorithm");
}

/**
 * RSASSA-PSS-params (RFC 4055): the hash and MGF1 hash must agree; SHA-1 defaults are refused.
 * Read as strictly as the rest of the CSR: each field once, in order, holding exactly its one
 * element of the right type, so the (unsigned) algorithm identifier has one accepted encoding.
 */
function parsePssParams(der: Buffer, alg: Tlv, first: Tlv): SignatureCheck {
  if (first.end === alg.end) throw new CsrError("RSASSA-PSS without parameters would mean SHA-1, which is refused");
  const params = expectTlv(der, first.end, Tag.Sequence, "RSASSA-PSS-params", alg.end);
  if (params.end !== alg.end) throw new CsrError("RSASSA-PSS AlgorithmIdentifier has trailing bytes");
  let hash: HashName | undefined;
  let mgfHash: HashName | undefined;
  let saltLength = 20;
  let lastField = -1;
  for (const field of children(der, params)) {
    if (field.tag <= lastField) throw new CsrError("RSASSA-PSS-params fields are repeated or out of order");
    lastField = field.tag;
    const inner = readTlv(der, field.valueStart, field.end);
    if (inner.end !== field.end) throw new CsrError("RSASSA-PSS-params field holds more than one element");
    if (field.tag === 0xa0) hash = hashOf(der, inner);
    else if (field.tag === 0xa1) {
      if (inner.tag !== Tag.Sequence) throw new CsrError("RSASSA-PSS maskGenAlgorithm is malformed");
      const [mgfOid, mgfParams, ...rest] = children(der, inner);
      if (mgfOid === undefined || mgfParams === undefined || rest.length > 0 || !whole(der, mgfOid).equals(MGF1_OID)) {
        throw new CsrError("RSASSA-PSS mask generation must be MGF1");
      }
      mgfHash = hashOf(der, mgfParams);
    } else if (field.tag === 0xa2) saltLength = smallPositiveInteger(der, inner, "RSASSA-PSS saltLength");
    else if (field.tag === 0xa3) {
      if (smallPositiveInteger(der, inner, "RSASSA-PSS trailerField") !== 1) throw new CsrError("RSASSA-PSS trailerField must be 1");
    } else throw new CsrError("RSASSA-PSS-params has an unknown field");
  }
  if (hash === undefined || mgfHash !== hash) throw new CsrError("RSASSA-PSS needs an explicit SHA-2 hash with MGF1 of the same hash");
  return { family: "rsa-pss", hash, saltLength, name: `rsa-pss-${hash}` };
}

/** A minimally encoded non-negative INTEGER of one or two content bytes. */
function smallPositiveInteger(der: Buffer, t: Tlv, what: string): number {
  const len = t.end - t.valueStart;
  if (t.tag !== Tag.Integer || len < 1 || len > 2) throw new CsrError(`${what} is malformed`);
  const v = value(der, t);
  if ((v[0]! & 0x80) !== 0 || (len === 2 && v[0] === 0 && v[1]! < 0x80)) throw new CsrError(`${what} is malformed`);
  return v.readUIntBE(0, len);
}

/** A hash AlgorithmIdentifier: SEQUENCE { OID, NULL or nothing } (RFC 4055 §2.1 allows both). */
function hashOf(der: Buffer, algId: Tlv): HashName {
  if (algId.tag !== Tag.Sequence) throw new CsrError("hash AlgorithmIdentifier is malformed");
  const [oidTlv, params, ...rest] = children(der, algId);
  const nullOrAbsent = params === undefined || (params.tag === Tag.Null && params.end === params.valueStart);
  if (oidTlv === undefined || oidTlv.tag !== Tag.Oid || !nullOrAbsent || rest.length > 0) {
    throw new CsrError("hash AlgorithmIdentifier is malformed");
  }
  const hash = HASH_OIDS.get(whole(der, oidTlv).toString("hex"));
  if (hash === undefined) throw new CsrError("unsupported hash algorithm (SHA-256, SHA-384 or SHA-512 required)");
  return hash;
}

async function verifySignature(key: KeyInfo, check: SignatureCheck, signed: Buffer, signature: Buffer): Promise<void> {
  const ecdsa = check.family === "ecdsa";
  if (ecdsa !== (key.kind !== "rsa")) {
    throw new CsrError(`CSR signature algorithm ${check.name} does not match its ${key.kind} key`);
  }
  let ok: boolean;
  try {
    if (key.kind === "rsa" && key.rsa !== undefined) {
      const keyObject = createPublicKey({
        key: { kty: "RSA", n: key.rsa.n.toString("base64url"), e: key.rsa.e.toString("base64url") },
        format: "jwk",
      });
      const padding = check.family === "rsa-pss" ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
      const saltLength = check.family === "rsa-pss" ? check.saltLength : undefined;
      ok = verify(check.hash, signed, { key: keyObject, padding, saltLength }, signature);
    } else {
      ok = verify(check.hash, signed, await ecPublicKey(key), signature);
    }
  } catch (e) {
    throw new CsrError(`CSR signature could not be checked: ${(e as Error).message}`);
  }
  if (!ok) throw new CsrError("CSR signature does not verify with the CSR's public key");
}

/**
 * WebCrypto's raw point import is the cheapest way node:crypto offers to turn a curve point into a
 * key (SPKI DER goes through OpenSSL's decoder framework and costs three times as much), and it
 * still checks that the point is on the curve.
 */
async function ecPublicKey(key: KeyInfo): Promise<KeyObject> {
  const namedCurve = key.kind === "ec-p256" ? "P-256" : "P-384";
  const cryptoKey = await webcrypto.subtle.importKey("raw", key.publicKey, { name: "ECDSA", namedCurve }, true, ["verify"]);
  return KeyObject.from(cryptoKey);
}
