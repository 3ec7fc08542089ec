// The read API's identities: every SPIFFE identity the mesh knows (its workloads', and any the CA
// issued to), with the last certificate the CA issued for it and when that one expires, whether
// issuance is withheld (quarantine, revoke), and the CA's own roots and signing certificate with
// their expiry. The CA tells the recorder about each issuance (CertificateAuthority.onIssued).
import type { CertificateAuthority, IssuedCertificate } from "../ca/authority.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import type { Enforcement } from "../risk/quarantine.js";
import { spiffeId, type WorkloadIdentity } from "../security/identity.js";
import { workloadsOf } from "../analysis/analyzers.js";

/** Identities remembered at most (oldest issuance forgotten first): bounds what callers can grow. */
export const ISSUED_IDENTITIES_MAX = 10_000;

export interface IssuedRecord {
  readonly identity: WorkloadIdentity;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuedAtMs: number;
  /** Certificates issued for the identity since the control plane started. */
  readonly count: number;
}

/** The last certificate issued per identity, in memory (certificates are short-lived and reissued). */
export class IssuedCertificates {
  private readonly byId = new Map<string, IssuedRecord>();

  constructor(private readonly now: () => number = Date.now) {}

  record(identity: WorkloadIdentity, issued: IssuedCertificate): void {
    const id = spiffeId(identity);
    const count = (this.byId.get(id)?.count ?? 0) + 1;
    this.byId.delete(id);
    if (this.byId.size >= ISSUED_IDENTITIES_MAX) this.byId.delete(this.byId.keys().next().value as string);
    this.byId.set(id, { identity, notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString(), issuedAtMs: this.now(), count });
  }

  get(id: string): IssuedRecord | undefined {
    return this.byId.get(id);
  }

  all(): IssuedRecord[] {
    return [...this.byId.values()];
  }

  /** Records every issuance of `ca` from now on. */
  follow(ca: CertificateAuthority): () => void {
    return ca.onIssued((identity, issued) => this.record(identity, issued));
  }
}

export interface IdentityView {
  readonly spiffeId: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly workloads: readonly string[];
  /** The last certificate issued for it; absent when none was since the control plane started. */
  readonly certificate?: { readonly notBefore: string; readonly notAfter: string; readonly expiresInSeconds: number; readonly issued: number };
  /** Enforcements that make the CA refuse it (identity-scoped quarantine or revoke). */
  readonly withheldBy: readonly string[];
}

export interface CaView {
  readonly trustDomain: string;
  readonly signer: { readonly subject: string; readonly notAfter: string };
  readonly roots: readonly { readonly subject: string; readonly notAfter: string; readonly fingerprint256: string }[];
}

export interface IdentitiesView {
  readonly ca: CaView;
  readonly identities: readonly IdentityView[];
}

const iso = (validTo: string): string => new Date(validTo).toISOString();

export function identitiesView(snapshot: MeshSnapshot, ca: CertificateAuthority, issued: IssuedCertificates, active: readonly Enforcement[], nowMs: number): IdentitiesView {
  const byId = new Map<string, { identity: WorkloadIdentity; workloads: string[] }>();
  for (const w of workloadsOf(snapshot)) {
    const id = spiffeId(w.identity);
    const entry = byId.get(id) ?? { identity: w.identity, workloads: [] };
    entry.workloads.push(w.ref);
    byId.set(id, entry);
  }
  for (const r of issued.all()) if (!byId.has(spiffeId(r.identity))) byId.set(spiffeId(r.identity), { identity: r.identity, workloads: [] });
  const identities: IdentityView[] = [...byId.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([id, { identity, workloads }]) => {
    const cert = issued.get(id);
    const withheldBy = active
      .filter((e) => (e.action === "quarantine" || e.action === "revoke") && e.scope === "identity" && spiffeId(e.identity) === id)
      .map((e) => e.id);
    return {
      spiffeId: id,
      namespace: identity.namespace,
      serviceAccount: identity.serviceAccount,
      workloads,
      ...(cert !== undefined
        ? { certificate: { notBefore: cert.notBefore, notAfter: cert.notAfter, expiresInSeconds: Math.round((Date.parse(cert.notAfter) - nowMs) / 1000), issued: cert.count } }
        : {}),
      withheldBy,
    };
  });
  const signer = ca.signingCertificate;
  return {
    ca: {
      trustDomain: ca.trustDomain,
      signer: { subject: signer.subject, notAfter: iso(signer.validTo) },
      roots: ca.bundle.anchorsList().map((a) => ({ subject: a.certificate.subject, notAfter: iso(a.certificate.validTo), fingerprint256: a.certificate.fingerprint256 })),
    },
    identities,
  };
}
