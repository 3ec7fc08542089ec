// Builds a PKCS#10 CSR for a locally generated key, as istio-agent does before calling the CA.
// The requested SPIFFE ID goes in as an extensionRequest for CAs that want it; meshward's CA
// ignores it and uses the authenticated identity.
import { sign, type KeyObject } from "node:crypto";
import { signatureAlgorithmOf } from "./signing-key.js";
import { bitString, contextTag, oid, seq, smallInteger, tlv, Tag } from "./der.js";
import { pemEncode } from "./pem.js";
import { EMPTY_NAME, subjectAltName } from "./x509.js";

const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";

export function createCsr(privateKey: KeyObject, publicKey: KeyObject, requestedUri?: string): string {
  const spki = publicKey.export({ type: "spki", format: "der" });
  const attributes =
    requestedUri === undefined
      ? tlv(contextTag(0, true))
      : tlv(
          contextTag(0, true),
          seq(oid(EXTENSION_REQUEST), tlv(Tag.Set, seq(subjectAltName({ uris: [requestedUri] }, true)))),
        );
  const info = seq(smallInteger(0), EMPTY_NAME, spki, attributes);
  const alg = signatureAlgorithmOf(privateKey);
  const der = seq(info, alg.der, bitString(sign(alg.hash, info, privateKey)));
  return pemEncode("CERTIFICATE REQUEST", der);
}
