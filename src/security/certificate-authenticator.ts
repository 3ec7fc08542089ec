// Authenticates a caller by the client certificate it presented over mutual TLS: the leaf must be
// signed by one of this CA's signing certificates, currently valid, not a CA, and carry exactly one
// SPIFFE URI SAN in our trust domain. The TLS layer verified the chain already; this check stands
// on its own so that no transport setting can widen who is trusted.
import { X509Certificate } from "node:crypto";
import type { AuthnResult, Authenticator, CallerContext, WorkloadIdentity } from "./identity.js";

const SPIFFE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

export function parseSpiffeId(uri: string): WorkloadIdentity | undefined {
  const m = SPIFFE.exec(uri);
  return m === null ? undefined : { trustDomain: m[1], namespace: m[2], serviceAccount: m[3] };
}

/** The URI SANs of a certificate (as node prints them, `URI:...` comma separated). */
export function uriSans(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san === undefined) return [];
  return san
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
}

export class ClientCertificateAuthenticator implements Authenticator {
  readonly name = "client-certificate";

  /** `issuers` is read per call so that a CA rotation takes effect at once. */
  constructor(
    private readonly trustDomain: string,
    private readonly issuers: () => readonly X509Certificate[],
    private readonly now: () => number = Date.now,
  ) {}

  async authenticate(ctx: CallerContext): Promise<AuthnResult> {
    if (ctx.peerCertificate === undefined) return { ok: false, kind: "skip", reason: "no client certificate" };
    const fail = (reason: string): AuthnResult => ({ ok: false, kind: "fail", reason: `client certificate: ${reason}` });
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(ctx.peerCertificate);
    } catch (e) {
      return fail(`unparseable (${(e as Error).message})`);
    }
    if (!this.issuers().some((issuer) => cert.checkIssued(issuer) && cert.verify(issuer.publicKey))) {
      return fail(`not issued by this CA (issuer ${cert.issuer.replace(/\n/g, ", ")})`);
    }
    const now = this.now();
    if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) {
      return fail(`outside its validity ${cert.validFrom} – ${cert.validTo}`);
    }
    if (cert.ca) return fail("is a CA certificate");
    const uris = uriSans(cert);
    if (uris.length !== 1) return fail(`must carry exactly one URI SAN, has ${uris.length}`);
    const identity = parseSpiffeId(uris[0]);
    if (identity === undefined) return fail(`SAN ${uris[0]} is not a spiffe://<td>/ns/<ns>/sa/<sa> ID`);
    if (identity.trustDomain !== this.trustDomain) return fail(`trust domain ${identity.trustDomain} is not ${this.trustDomain}`);
    return { ok: true, identity, method: this.name };
  }
}
