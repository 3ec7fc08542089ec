// The certificate authority: turns an authenticated identity and a verified CSR into a short-lived
// SPIFFE certificate. The identity comes only from the caller's authentication; the CSR contributes
// its public key and nothing else.
import type { X509Certificate } from "node:crypto";
import { spiffeId, type CallerContext, type WorkloadIdentity } from "../security/identity.js";
import { parseAndVerifyCsr, CsrError } from "./csr.js";
import { certificateParts } from "./certificate-parts.js";
import { CERTIFICATE, pemEncode } from "./pem.js";
import type { CaSigner } from "./signer-store.js";
import { signatureAlgorithmOf } from "./signing-key.js";
import { TrustBundle } from "./trust-bundle.js";
import {
  authorityKeyIdentifier,
  BASIC_CONSTRAINTS_LEAF,
  EMPTY_NAME,
  EXT_KEY_USAGE_SERVER_CLIENT,
  KEY_USAGE_LEAF,
  keyIdentifier,
  randomSerial,
  signCertificate,
  subjectAltName,
  subjectKeyIdentifier,
  tbsCertificate,
} from "./x509.js";
import type { SignatureAlgorithm } from "./algorithms.js";
import type { ScheduledPod } from "./node-impersonation.js";

export const DEFAULT_WORKLOAD_TTL_SECONDS = 24 * 3600;
export const MAX_WORKLOAD_TTL_SECONDS = 90 * 24 * 3600;
/** Istio backdates by two minutes so that peers with slightly slow clocks accept a fresh certificate. */
const BACKDATE_MS = 2 * 60 * 1000;

export type IssuanceDecision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/**
 * Consulted before anything is signed. The risk engine plugs in here: a quarantined or revoked
 * identity (or the pod a caller context points at, or any of `pods` a node agent asks for) gets no
 * certificate.
 */
export type IssuancePolicy = (
  identity: WorkloadIdentity,
  caller?: CallerContext,
  pods?: readonly ScheduledPod[],
) => IssuanceDecision | Promise<IssuanceDecision>;

export type IssuanceErrorCode = "invalid-argument" | "permission-denied" | "unavailable";

export class IssuanceError extends Error {
  constructor(readonly code: IssuanceErrorCode, message: string) {
    super(message);
  }
}

export interface IssuedCertificate {
  /** PEM certificates: the leaf first, then intermediates, the root last. */
  readonly certChain: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CertificateAuthorityOptions {
  readonly trustDomain: string;
  readonly signer: CaSigner;
  /** Defaults to the roots of the signer's root-cert.pem. */
  readonly bundle?: TrustBundle;
  readonly defaultTtlSeconds?: number;
  readonly maxTtlSeconds?: number;
  readonly policy?: IssuancePolicy;
  readonly now?: () => number;
}

export interface WorkloadCertificateRequest {
  readonly identity: WorkloadIdentity;
  readonly csrPem: string;
  /** Requested lifetime; zero or absent means the default. */
  readonly ttlSeconds?: number;
  readonly caller?: CallerContext;
  /** Set when a node agent asks on a pod's behalf: the pods (on its node) the certificate is for. */
  readonly pods?: readonly ScheduledPod[];
}

const NAME_PART = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9]([-a-z0-9._]{0,253}[a-z0-9])?$/;

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly bundle: TrustBundle;
  readonly signer: CaSigner;
  private readonly alg: SignatureAlgorithm;
  private readonly issuer: Buffer;
  /** KeyUsage, ExtendedKeyUsage, BasicConstraints and AuthorityKeyIdentifier: the same for every leaf. */
  private readonly fixedExtensions: Buffer;
  private readonly chainTail: readonly string[];
  private readonly signerNotAfter: number;
  private readonly defaultTtl: number;
  private readonly maxTtl: number;
  private readonly now: () => number;
  private policy: IssuancePolicy | undefined;
  private readonly sanCache = new Map<string, Buffer>();
  private readonly issuedListeners = new Set<(identity: WorkloadIdentity, issued: IssuedCertificate) => void>();

  constructor(opts: CertificateAuthorityOptions) {
    if (!TRUST_DOMAIN.test(opts.trustDomain)) throw new Error(`invalid trust domain "${opts.trustDomain}"`);
    this.trustDomain = opts.trustDomain;
    this.signer = opts.signer;
    this.bundle = opts.bundle ?? new TrustBundle(opts.signer.roots);
    this.alg = signatureAlgorithmOf(opts.signer.key);
    const parts = certificateParts(opts.signer.certificate.raw);
    this.issuer = parts.subject;
    this.fixedExtensions = Buffer.concat([
      KEY_USAGE_LEAF,
      EXT_KEY_USAGE_SERVER_CLIENT,
      BASIC_CONSTRAINTS_LEAF,
      authorityKeyIdentifier(parts.subjectKeyId),
    ]);
    const selfSigned = opts.signer.chain.length === 0;
    this.chainTail = selfSigned ? [opts.signer.root] : [...opts.signer.chain, opts.signer.root];
    this.signerNotAfter = Date.parse(opts.signer.certificate.validTo);
    this.defaultTtl = opts.defaultTtlSeconds ?? DEFAULT_WORKLOAD_TTL_SECONDS;
    this.maxTtl = opts.maxTtlSeconds ?? MAX_WORKLOAD_TTL_SECONDS;
    this.now = opts.now ?? Date.now;
    this.policy = opts.policy;
  }

  get signingCertificate(): X509Certificate {
    return this.signer.certificate;
  }

  setPolicy(policy: IssuancePolicy | undefined): void {
    this.policy = policy;
  }

  /** Issues a workload certificate whose only identity is `req.identity`. */
  async issue(req: WorkloadCertificateRequest): Promise<IssuedCertificate> {
    const id = req.identity;
    this.checkIdentity(id);
    if (this.policy !== undefined) {
      const decision = await this.policy(id, req.caller, req.pods);
      if (!decision.allowed) {
        throw new IssuanceError("permission-denied", `certificate for ${spiffeId(id)} refused: ${decision.reason}`);
      }
    }
    const ttl = this.ttlSeconds(req.ttlSeconds);
    let csr;
    try {
      csr = await parseAndVerifyCsr(req.csrPem);
    } catch (e) {
      if (e instanceof CsrError) throw new IssuanceError("invalid-argument", `invalid CSR: ${e.message}`);
      throw e;
    }
    const issued = this.sign(csr.spki, keyIdentifier(csr.publicKey), this.sanFor(spiffeId(id)), ttl);
    for (const l of this.issuedListeners) l(id, issued);
    return issued;
  }

  /** Called with every workload certificate issued (the console's certificate expiry view). */
  onIssued(listener: (identity: WorkloadIdentity, issued: IssuedCertificate) => void): () => void {
    this.issuedListeners.add(listener);
    return () => this.issuedListeners.delete(listener);
  }

  /**
   * A serving certificate for the CA's own TLS port, for a key the server generated itself; DNS
   * names only, like istiod's.
   */
  issueServing(spki: Buffer, publicKeyBits: Buffer, dnsNames: readonly string[], ttlSeconds: number): IssuedCertificate {
    if (dnsNames.length === 0) throw new Error("a serving certificate needs at least one DNS name");
    return this.sign(spki, keyIdentifier(publicKeyBits), subjectAltName({ dnsNames }, true), this.ttlSeconds(ttlSeconds));
  }

  private sign(spki: Buffer, keyId: Buffer, san: Buffer, ttlSeconds: number): IssuedCertificate {
    const now = this.now();
    const notBefore = new Date(now - BACKDATE_MS);
    const notAfter = new Date(Math.min(now + ttlSeconds * 1000, this.signerNotAfter));
    if (notAfter.getTime() <= now) {
      throw new IssuanceError("unavailable", `the CA certificate expired at ${new Date(this.signerNotAfter).toISOString()}`);
    }
    const tbs = tbsCertificate({
      serial: randomSerial(),
      signatureAlgorithm: this.alg.der,
      issuer: this.issuer,
      notBefore,
      notAfter,
      subject: EMPTY_NAME, // as Istio: the identity lives in the (then critical) SAN alone
      spki,
      extensions: [san, this.fixedExtensions, subjectKeyIdentifier(keyId)],
    });
    const leaf = pemEncode(CERTIFICATE, signCertificate(tbs, this.alg, this.signer.key));
    return { certChain: [leaf, ...this.chainTail], notBefore, notAfter };
  }

  private ttlSeconds(requested: number | undefined): number {
    if (requested === undefined || requested <= 0) return this.defaultTtl;
    if (!Number.isFinite(requested) || requested > this.maxTtl) {
      throw new IssuanceError(
        "invalid-argument",
        `requested TTL ${requested}s exceeds the maximum workload certificate TTL ${this.maxTtl}s`,
      );
    }
    return requested;
  }

  private checkIdentity(id: WorkloadIdentity): void {
    if (id.trustDomain !== this.trustDomain) {
      throw new IssuanceError("permission-denied", `identity ${spiffeId(id)} is not in trust domain ${this.trustDomain}`);
    }
    if (!NAME_PART.test(id.namespace) || !NAME_PART.test(id.serviceAccount)) {
      throw new IssuanceError("invalid-argument", `identity ${spiffeId(id)} has an invalid namespace or service account`);
    }
  }

  private sanFor(uri: string): Buffer {
    let san = this.sanCache.get(uri);
    if (san === undefined) {
      if (this.sanCache.size > 10_000) this.sanCache.clear();
      san = subjectAltName({ uris: [uri] }, true);
      this.sanCache.set(uri, san);
    }
    return san;
  }
}
