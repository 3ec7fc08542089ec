// Caller authentication shared by the CA, the xDS server and the signal API. Identity always
// comes from what the caller proved (a client certificate from this CA or a verified token),
// never from what it claims (CSR SANs, node metadata).
import type { Metadata } from "@grpc/grpc-js";

/** A workload identity, rendered as `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`. */
export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

export function spiffeId(id: WorkloadIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** What an authenticator sees of a call. */
export interface CallerContext {
  readonly metadata: Metadata;
  /** DER of the peer's leaf certificate when the call arrived over mutual TLS. */
  readonly peerCertificate?: Buffer;
  /** Remote address as `ip:port`. */
  readonly peer: string;
  /**
   * The caller's pod as the control plane knows it (an xDS stream's proxy: namespace proven by
   * admission, name and IPs announced and checked), so the CA's policy can match a pod-scoped
   * quarantine when the call does not come from the pod's own address (a relay, a node agent).
   */
  readonly pod?: { readonly namespace: string; readonly name: string; readonly ips: readonly string[] };
  /**
   * The cluster whose apiserver vouched for the caller (AuthnResult.cluster), set by the control
   * plane once the call is authenticated, never from the call's metadata: the CA's policy matches
   * another cluster's pod-scoped quarantine with it. Authenticators do not read it.
   */
  readonly cluster?: string;
}

export type AuthnResult =
  | {
      readonly ok: true;
      readonly identity: WorkloadIdentity;
      readonly method: string;
      /** The Kubernetes cluster whose apiserver vouched for the caller (TokenReview), when one did. */
      readonly cluster?: string;
    }
  /** `skip`: this authenticator does not apply (no credential of its kind); `fail`: it applies and rejects. */
  | { readonly ok: false; readonly kind: "skip" | "fail"; readonly reason: string };

export interface Authenticator {
  readonly name: string;
  authenticate(ctx: CallerContext): Promise<AuthnResult>;
}
