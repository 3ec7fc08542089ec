// Which signature algorithm a CA key signs with: the hash matched to the key's strength.
import type { KeyObject } from "node:crypto";
import { signatureAlgorithmFor, type SignatureAlgorithm } from "./algorithms.js";

export function signatureAlgorithmOf(key: KeyObject): SignatureAlgorithm {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case "ec":
      if (details?.namedCurve === "prime256v1") return signatureAlgorithmFor("ecdsa", "sha256");
      if (details?.namedCurve === "secp384r1") return signatureAlgorithmFor("ecdsa", "sha384");
      throw new Error(`CA key on curve ${details?.namedCurve ?? "?"} is not supported (P-256 or P-384)`);
    case "rsa":
      if ((details?.modulusLength ?? 0) < 2048) throw new Error("CA RSA key must be at least 2048 bits");
      return signatureAlgorithmFor("rsa-pkcs1", "sha256");
    default:
      throw new Error(`CA key type ${key.asymmetricKeyType ?? "?"} is not supported (ECDSA or RSA)`);
  }
}
