// meshward's own workload tokens: ES256 JWTs shaped like Kubernetes projected service-account
// tokens (sub `system:serviceaccount:<ns>:<sa>`, `kubernetes.io` claims, audience `istio-ca`), signed
// with a key kept in the data directory. They stand in for Kubernetes tokens when meshward runs
// without a cluster; a TokenReview authenticator takes their place with one.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { createFileExclusive, KEY_FILE_MODE } from "../ca/atomic-file.js";
import { checkPrivateDirectory, readPrivateKeyFile } from "./private-files.js";

export const TOKEN_ISSUER = "meshward";
export const CA_AUDIENCE = "istio-ca";
export const TOKEN_KEY_FILE = "token-key.pem";
/** The longest-lived token meshward mints or accepts: 24 h (a Kubernetes projected token defaults to 1 h). */
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Why a token's names or lifetime are refused, naming the field: a namespace is a DNS-1123 label
 * (at most 63 characters), a service account a DNS-1123 subdomain (at most 253), as Kubernetes
 * requires; the lifetime is positive and at most MAX_TOKEN_LIFETIME_SECONDS.
 */
export function mintProblem(opts: Pick<MintOptions, "namespace" | "serviceAccount" | "ttlSeconds">): string | undefined {
  if (opts.namespace.length > 63 || !DNS1123_LABEL.test(opts.namespace)) {
    return `namespace "${opts.namespace}" is not a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)`;
  }
  if (opts.serviceAccount.length > 253 || !DNS1123_SUBDOMAIN.test(opts.serviceAccount)) {
    return `service-account "${opts.serviceAccount}" is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253 characters)`;
  }
  const ttl = opts.ttlSeconds ?? 3600;
  if (!(ttl > 0) || ttl > MAX_TOKEN_LIFETIME_SECONDS) return `ttl ${ttl}s is outside 1s to ${MAX_TOKEN_LIFETIME_SECONDS}s (24h)`;
  return undefined;
}

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
    checkPrivateDirectory(dataDir);
    const key = createPrivateKey(await readPrivateKeyFile(file));
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      throw new Error(`token key ${file} must be an ECDSA P-256 key`);
    }
    return new TokenKey(key);
  }

  /** Signs a token; throws for names or a lifetime mintProblem refuses. */
  mint(opts: MintOptions): string {
    const problem = mintProblem(opts);
    if (problem !== undefined) throw new Error(`token: ${problem}`);
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
