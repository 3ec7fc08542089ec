// The certificate authority: turns an authenticated identity and a verified CSR into a short-lived
// SPIFFE certificate. The identity comes only from the caller's authentication; the CSR contributes
// its public key and nothing else.
import { X509Certificate } from "node:crypto";
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
  /** PEM certificates: the leaf first, then intermediates, the roots last (one element, Istio's root bundle). */
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

interface SignerState {
  readonly signer: CaSigner;
  readonly alg: SignatureAlgorithm;
  readonly issuer: Buffer;
  /** KeyUsage, ExtendedKeyUsage, BasicConstraints and AuthorityKeyIdentifier: the same for every leaf. */
  readonly fixedExtensions: Buffer;
  readonly notAfter: number;
}

function signerState(signer: CaSigner): SignerState {
  const parts = certificateParts(signer.certificate.raw);
  return {
    signer,
    alg: signatureAlgorithmOf(signer.key),
    issuer: parts.subject,
    fixedExtensions: Buffer.concat([KEY_USAGE_LEAF, EXT_KEY_USAGE_SERVER_CLIENT, BASIC_CONSTRAINTS_LEAF, authorityKeyIdentifier(parts.subjectKeyId)]),
    notAfter: Date.parse(signer.certificate.validTo),
  };
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
  /** What is signed with now; replaced whole by `rotate`. */
  private state: SignerState;
  /** Signing certificates rotated away from, kept while their root is still trusted. */
  private retired: X509Certificate[] = [];
  private readonly defaultTtl: number;
  private readonly maxTtl: number;
  private readonly now: () => number;
  private policy: IssuancePolicy | undefined;
  private readonly sanCache = new Map<string, Buffer>();
  private readonly issuedListeners = new Set<(identity: WorkloadIdentity, issued: IssuedCertificate) => void>();

  constructor(opts: CertificateAuthorityOptions) {
    if (!TRUST_DOMAIN.test(opts.trustDomain)) throw new Error(`invalid trust domain "${opts.trustDomain}"`);
    this.trustDomain = opts.trustDomain;
    this.state = signerState(opts.signer);
    this.bundle = opts.bundle ?? new TrustBundle(opts.signer.roots);
    this.defaultTtl = opts.defaultTtlSeconds ?? DEFAULT_WORKLOAD_TTL_SECONDS;
    this.maxTtl = opts.maxTtlSeconds ?? MAX_WORKLOAD_TTL_SECONDS;
    this.now = opts.now ?? Date.now;
    this.policy = opts.policy;
  }

  get signer(): CaSigner {
    return this.state.signer;
  }

  get signingCertificate(): X509Certificate {
    return this.state.signer.certificate;
  }

  /**
   * The current signing certificate and the ones rotated away from whose root is still in the
   * bundle: certificates they issued are still good while a root rotation is under way.
   */
  signingCertificates(): X509Certificate[] {
    const anchors = this.bundle.anchorsList().map((a) => a.certificate);
    this.retired = this.retired.filter((c) => anchors.some((r) => r.fingerprint256 === c.fingerprint256 || (c.checkIssued(r) && c.verify(r.publicKey))));
    return [this.state.signer.certificate, ...this.retired];
  }

  /**
   * Signs with `signer` from now on (a plugged-in cacerts bundle that changed: a new intermediate,
   * or a root rotation step) and makes the trust bundle exactly its root-cert.pem, as istiod does
   * when its cacerts change. Certificates issued before keep verifying while their root stays in
   * root-cert.pem (old+new during a rotation).
   */
  rotate(signer: CaSigner): void {
    const before = this.state.signer.certificate;
    this.state = signerState(signer);
    if (before.fingerprint256 !== signer.certificate.fingerprint256) this.retired = [before, ...this.retired].slice(0, 4);
    const keep = new Set(signer.roots.map((r) => new X509Certificate(r).fingerprint256));
    this.bundle.add(signer.roots.join(""));
    for (const a of this.bundle.anchorsList()) if (!keep.has(a.certificate.fingerprint256)) this.bundle.remove(a.certificate.fingerprint256);
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
    const st = this.state;
    const notAfter = new Date(Math.min(now + ttlSeconds * 1000, st.notAfter));
    if (notAfter.getTime() <= now) {
      throw new IssuanceError("unavailable", `the CA certificate expired at ${new Date(st.notAfter).toISOString()}`);
    }
    const tbs = tbsCertificate({
      serial: randomSerial(),
      signatureAlgorithm: st.alg.der,
      issuer: st.issuer,
      notBefore,
      notAfter,
      subject: EMPTY_NAME, // as Istio: the identity lives in the (then critical) SAN alone
      spki,
      extensions: [san, st.fixedExtensions, subjectKeyIdentifier(keyId)],
    });
    const leaf = pemEncode(CERTIFICATE, signCertificate(tbs, st.alg, st.signer.key));
    // The last element is every root to trust (Istio's root-cert bytes): old and new during a rotation.
    return { certChain: [leaf, ...st.signer.chain, this.bundle.pem()], notBefore, notAfter };
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
