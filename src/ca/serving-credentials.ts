// TLS for the CA/xDS port 15012, with a serving certificate from the same CA (DNS SANs as istiod's)
// so that workloads verify it with the root they already hold. Client certificates are requested
// but optional (Go's VerifyClientCertIfGiven in istiod): a workload's first call authenticates with
// a token, its renewals may use the certificate. The key never leaves memory; the certificate is
// re-issued at half its lifetime and the accepted roots follow the trust bundle.
import * as grpc from "@grpc/grpc-js";
import { generateKeyPairSync } from "node:crypto";
import type { SecureContextOptions } from "node:tls";
import type { CertificateAuthority } from "./authority.js";
import { spkiPublicKeyBits } from "./certificate-parts.js";

export const ISTIOD_DNS_NAMES = ["istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local"] as const;
const SERVING_TTL_SECONDS = 24 * 3600;

/** A TLS server's key and chain, and the roots its clients' certificates are verified against (PEM). */
export interface ServingContext {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

export interface CaServerCredentials {
  readonly credentials: grpc.ServerCredentials;
  /** PEM chain currently served (leaf first). */
  readonly servingChain: () => string;
  /** Key and chain currently served, for a server that is not gRPC (the webhooks' HTTPS). */
  readonly keyAndChain: () => { readonly key: string; readonly cert: string };
  /**
   * What the TLS port's server uses (key, chain, and the roots client certificates are verified
   * against), for a stream worker terminating TLS in its own process (xds/workers/pool.ts).
   */
  readonly secureContext: () => ServingContext;
  /** Called after every rotation (and bundle change) with nothing: read keyAndChain again. */
  onRotate(listener: () => void): void;
  /** Issues a fresh serving certificate now. */
  rotate(): void;
  /** Stops the rotation timer and bundle subscription. */
  close(): void;
}

/**
 * grpc-js applies `updateSecureContextOptions` to live listeners via setSecureContext; subclassing
 * ServerCredentials is the supported way to reach it with our own certificate source.
 */
export class RotatingServerCredentials extends grpc.ServerCredentials {
  constructor(initial: SecureContextOptions) {
    super({ requestCert: true, rejectUnauthorized: false }, initial);
  }
  update(options: SecureContextOptions): void {
    this.updateSecureContextOptions(options);
  }
  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export interface ServingOptions {
  readonly ttlSeconds?: number;
}

export function createCaServerCredentials(
  ca: CertificateAuthority,
  dnsNames: readonly string[] = [],
  opts: ServingOptions = {},
): CaServerCredentials {
  const names = [...new Set([...ISTIOD_DNS_NAMES, ...dnsNames])];
  const ttl = opts.ttlSeconds ?? SERVING_TTL_SECONDS;
  let timer: NodeJS.Timeout | undefined;
  let served = { key: "", chain: "" };

  const issue = (): void => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const spki = publicKey.export({ type: "spki", format: "der" });
    const issued = ca.issueServing(spki, spkiPublicKeyBits(spki), names, ttl);
    // Leaf and intermediates; the root is what the client already trusts.
    const chain = issued.certChain.slice(0, Math.max(1, issued.certChain.length - 1)).join("");
    served = { key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), chain };
    const lifetime = issued.notAfter.getTime() - Date.now();
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => rotateNow(), Math.max(1000, lifetime / 2));
    timer.unref();
  };
  const context = (): ServingContext => ({
    key: served.key,
    cert: served.chain,
    // Roots plus the CA's own chain, so a client presenting only its leaf still verifies.
    ca: ca.bundle.pem() + ca.signer.chain.join(""),
  });

  issue();
  const credentials = new RotatingServerCredentials(context());
  const rotated = new Set<() => void>();
  const rotateNow = (): void => {
    issue();
    credentials.update(context());
    for (const l of rotated) l();
  };
  // New roots (a root rotation step): a serving certificate from the CA's current signer, and the new roots.
  const unsubscribe = ca.bundle.onChange(() => rotateNow());
  return {
    credentials,
    servingChain: () => served.chain,
    keyAndChain: () => ({ key: served.key, cert: served.chain }),
    secureContext: context,
    onRotate: (l) => void rotated.add(l),
    rotate: rotateNow,
    close: () => {
      if (timer !== undefined) clearTimeout(timer);
      unsubscribe();
    },
  };
}
