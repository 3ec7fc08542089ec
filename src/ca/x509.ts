// X.509 v3 certificates built directly as DER (RFC 5280) and signed with node:crypto. Used for the
// workload fast path, the serving certificate and the self-signed root alike; constant parts are
// encoded once by the caller and passed in as bytes.
import { createHash, randomFillSync, sign, type KeyObject } from "node:crypto";
import { type SignatureAlgorithm } from "./algorithms.js";
import {
  bitString,
  contextTag,
  headerLength,
  oid,
  seq,
  smallInteger,
  Tag,
  time,
  tlv,
  writeHeader,
} from "./der.js";

export interface TbsFields {
  readonly serial: Buffer;
  readonly signatureAlgorithm: Buffer;
  readonly issuer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: Buffer;
  readonly spki: Buffer;
  /** Encoded Extension elements, concatenated in order. */
  readonly extensions: readonly Uint8Array[];
}

const VERSION_V3 = tlv(contextTag(0, true), smallInteger(2));

/** TBSCertificate in a single allocation. */
export function tbsCertificate(f: TbsFields): Buffer {
  const validity = seq(time(f.notBefore), time(f.notAfter));
  let extLen = 0;
  for (const e of f.extensions) extLen += e.length;
  const extSeqLen = headerLength(extLen) + extLen;
  const extWrapLen = headerLength(extSeqLen) + extSeqLen;
  const parts = [VERSION_V3, f.serial, f.signatureAlgorithm, f.issuer, validity, f.subject, f.spki];
  let len = extWrapLen;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  let pos = writeHeader(out, 0, Tag.Sequence, len);
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  pos = writeHeader(out, pos, contextTag(3, true), extSeqLen);
  pos = writeHeader(out, pos, Tag.Sequence, extLen);
  for (const e of f.extensions) {
    out.set(e, pos);
    pos += e.length;
  }
  return out;
}

/** Signs a TBSCertificate and wraps it into a Certificate. */
export function signCertificate(tbs: Buffer, alg: SignatureAlgorithm, key: KeyObject): Buffer {
  const signature = sign(alg.hash, tbs, key);
  return seq(tbs, alg.der, bitString(signature));
}

// ---- serial numbers ----

const serialPool = Buffer.allocUnsafe(16 * 256);
let serialPos = serialPool.length;

/**
 * A random 128-bit positive serial (top bit forced so every serial has the same length, with a
 * leading zero octet to keep the INTEGER positive), drawn from a pooled CSPRNG buffer.
 */
export function randomSerial(): Buffer {
  if (serialPos === serialPool.length) {
    randomFillSync(serialPool);
    serialPos = 0;
  }
  const out = Buffer.allocUnsafe(19);
  out[0] = Tag.Integer;
  out[1] = 17;
  out[2] = 0;
  serialPool.copy(out, 3, serialPos, serialPos + 16);
  out[3] |= 0x80;
  serialPos += 16;
  return out;
}

// ---- names ----

const NAME_OIDS: Readonly<Record<string, string>> = { CN: "2.5.4.3", O: "2.5.4.10", OU: "2.5.4.11", C: "2.5.4.6" };

/** A Name from (type, value) pairs, one RDN each, UTF8String values. */
export function encodeName(attributes: ReadonlyArray<readonly [string, string]>): Buffer {
  return seq(
    ...attributes.map(([type, v]) => {
      const id = NAME_OIDS[type];
      if (id === undefined) throw new Error(`unsupported name attribute ${type}`);
      return tlv(Tag.Set, seq(oid(id), tlv(Tag.Utf8String, Buffer.from(v, "utf8"))));
    }),
  );
}

export const EMPTY_NAME = seq();

// ---- extensions ----

const TRUE = tlv(Tag.Boolean, Uint8Array.of(0xff));

export function extension(dotted: string, critical: boolean, valueDer: Uint8Array): Buffer {
  return critical
    ? seq(oid(dotted), TRUE, tlv(Tag.OctetString, valueDer))
    : seq(oid(dotted), tlv(Tag.OctetString, valueDer));
}

export interface SubjectAltNames {
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
}

/** RFC 5280 4.2.1.6: critical when the subject is empty. */
export function subjectAltName(names: SubjectAltNames, critical: boolean): Buffer {
  const general = [
    ...(names.dnsNames ?? []).map((d) => tlv(contextTag(2, false), Buffer.from(d, "latin1"))),
    ...(names.uris ?? []).map((u) => tlv(contextTag(6, false), Buffer.from(u, "latin1"))),
  ];
  return extension("2.5.29.17", critical, seq(...general));
}

export const KEY_USAGE_LEAF = extension("2.5.29.15", true, bitString(Uint8Array.of(0xa0), 5)); // digitalSignature, keyEncipherment
export const KEY_USAGE_CA = extension("2.5.29.15", true, bitString(Uint8Array.of(0x86), 1)); // digitalSignature, keyCertSign, cRLSign
export const EXT_KEY_USAGE_SERVER_CLIENT = extension(
  "2.5.29.37",
  false,
  seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2")),
);
export const BASIC_CONSTRAINTS_LEAF = extension("2.5.29.19", true, seq());
export const BASIC_CONSTRAINTS_CA = extension("2.5.29.19", true, seq(TRUE));

export function keyIdentifier(publicKeyBits: Uint8Array): Buffer {
  return createHash("sha1").update(publicKeyBits).digest();
}

const SKI_PREFIX = extension("2.5.29.14", false, tlv(Tag.OctetString, Buffer.alloc(20))).subarray(0, -20);

/** SubjectKeyIdentifier; the common 20-byte (SHA-1) case reuses a pre-encoded prefix. */
export function subjectKeyIdentifier(keyId: Uint8Array): Buffer {
  if (keyId.length !== 20) return extension("2.5.29.14", false, tlv(Tag.OctetString, keyId));
  const out = Buffer.allocUnsafe(SKI_PREFIX.length + 20);
  SKI_PREFIX.copy(out, 0);
  out.set(keyId, SKI_PREFIX.length);
  return out;
}

export function authorityKeyIdentifier(keyId: Uint8Array): Buffer {
  return extension("2.5.29.35", false, seq(tlv(contextTag(0, false), keyId)));
}
