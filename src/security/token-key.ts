// meshward's own workload tokens: ES256 JWTs shaped like Kubernetes projected service-account
// tokens (sub `system:serviceaccount:<ns>:<sa>`, `kubernetes.io` claims, audience `istio-ca`), signed
// with a key kept in the data directory. They stand in for Kubernetes tokens when meshward runs
// without a cluster; a TokenReview authenticator takes their place with one.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { createFileExclusive, KEY_FILE_MODE } from "../ca/atomic-file.js";

export const TOKEN_ISSUER = "meshward";
export const CA_AUDIENCE = "istio-ca";
export const TOKEN_KEY_FILE = "token-key.pem";

export interface TokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string[];
  readonly exp: number;
  readonly iat: number;
  readonly nbf: number;
  readonly "kubernetes.io": { readonly namespace: string; readonly serviceaccount: { readonly name: string } };
}

export interface MintOptions {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly ttlSeconds?: number;
  readonly audiences?: readonly string[];
  /** Seconds since the epoch; for tests that need an already-expired token. */
  readonly issuedAt?: number;
}

export class TokenKey {
  readonly keyId: string;

  constructor(private readonly privateKey: KeyObject, readonly publicKey: KeyObject = createPublicKey(privateKey)) {
    const spki = this.publicKey.export({ type: "spki", format: "der" });
    this.keyId = createHash("sha256").update(spki).digest("base64url").slice(0, 16);
  }

  static generate(): TokenKey {
    return new TokenKey(generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey);
  }

  /** Loads `<dataDir>/token-key.pem`, creating it (0600, atomically) on first use. */
  static async loadOrCreate(dataDir: string): Promise<TokenKey> {
    const file = path.join(dataDir, TOKEN_KEY_FILE);
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const fresh = TokenKey.generate();
    await createFileExclusive(file, fresh.privateKey.export({ type: "pkcs8", format: "pem" }), KEY_FILE_MODE);
    const key = createPrivateKey(await fs.readFile(file, "utf8"));
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      throw new Error(`token key ${file} must be an ECDSA P-256 key`);
    }
    return new TokenKey(key);
  }

  mint(opts: MintOptions): string {
    const iat = opts.issuedAt ?? Math.floor(Date.now() / 1000);
    const claims: TokenClaims = {
      iss: TOKEN_ISSUER,
      sub: `system:serviceaccount:${opts.namespace}:${opts.serviceAccount}`,
      aud: [...(opts.audiences ?? [CA_AUDIENCE])],
      exp: iat + (opts.ttlSeconds ?? 3600),
      iat,
      nbf: iat,
      "kubernetes.io": { namespace: opts.namespace, serviceaccount: { name: opts.serviceAccount } },
    };
    const header = { alg: "ES256", typ: "JWT", kid: this.keyId };
    const signingInput = `${b64json(header)}.${b64json(claims)}`;
    const signature = sign("sha256", Buffer.from(signingInput), { key: this.privateKey, dsaEncoding: "ieee-p1363" });
    return `${signingInput}.${signature.toString("base64url")}`;
  }
}

function b64json(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString("base64url");
}
