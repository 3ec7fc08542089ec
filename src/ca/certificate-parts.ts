// The few fields of an existing certificate the CA needs byte-exact: the subject Name (which must
// be copied as the issuer of what it signs) and the key identifier (for AuthorityKeyIdentifier).
import { children, expectTlv, readTlv, Tag, value, whole } from "./der.js";
import { keyIdentifier } from "./x509.js";

export interface CertificateParts {
  readonly subject: Buffer;
  readonly subjectKeyId: Buffer;
}

const SKI_OID = Buffer.from("0603551d0e", "hex");

export function certificateParts(der: Buffer): CertificateParts {
  const cert = expectTlv(der, 0, Tag.Sequence, "Certificate");
  const tbs = expectTlv(der, cert.valueStart, Tag.Sequence, "TBSCertificate", cert.end);
  const fields = children(der, tbs);
  const base = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[base + 4];
  const spki = fields[base + 5];
  if (subject === undefined || spki === undefined) throw new Error("certificate is missing subject or key");
  let subjectKeyId: Buffer | undefined;
  const exts = fields.find((f) => f.tag === 0xa3);
  if (exts !== undefined) {
    const list = readTlv(der, exts.valueStart, exts.end);
    for (const ext of children(der, list)) {
      const [id, ...rest] = children(der, ext);
      if (id !== undefined && whole(der, id).equals(SKI_OID)) {
        const octets = rest[rest.length - 1];
        if (octets !== undefined) subjectKeyId = value(der, readTlv(der, octets.valueStart, octets.end));
      }
    }
  }
  if (subjectKeyId === undefined) {
    const [, bits] = children(der, spki);
    if (bits === undefined) throw new Error("certificate key is malformed");
    subjectKeyId = keyIdentifier(value(der, bits).subarray(1));
  }
  return { subject: Buffer.from(whole(der, subject)), subjectKeyId: Buffer.from(subjectKeyId) };
}

/** The subjectPublicKey bits of a DER SubjectPublicKeyInfo (what key identifiers hash). */
export function spkiPublicKeyBits(spki: Buffer): Buffer {
  const [, bits] = children(spki, readTlv(spki, 0));
  if (bits === undefined || bits.tag !== Tag.BitString) throw new Error("SubjectPublicKeyInfo without a key");
  return value(spki, bits).subarray(1);
}
