// Who may open an xDS stream, as istiod does with XDS_AUTH (pilot/pkg/xds/auth.go): the same
// authenticators as the CA, then the proxy's node metadata must name exactly the authenticated
// identity, so a workload can neither read nor receive secrets as another. The plaintext port is
// for loopback callers (a local agent, tests) unless the operator opens it on purpose.
import { isIP } from "node:net";
import type { Metadata } from "@grpc/grpc-js";
import type { Proxy } from "../model/proxy.js";
import { authenticateCaller } from "./authenticate.js";
import { spiffeId, type Authenticator, type CallerContext, type WorkloadIdentity } from "./identity.js";
import { bearerToken } from "./token-authenticator.js";

export type ProxyAuthorization =
  | { readonly ok: true; readonly identity: WorkloadIdentity; readonly method: string; readonly cluster?: string }
  | { readonly ok: false; readonly status: "unauthenticated" | "permission-denied"; readonly reason: string };

export async function authorizeProxy(
  authenticators: readonly Authenticator[],
  ctx: CallerContext,
  proxy: Pick<Proxy, "id" | "namespace" | "serviceAccount">,
): Promise<ProxyAuthorization> {
  const authn = await authenticateCaller(authenticators, ctx);
  if (!authn.ok) return { ok: false, status: "unauthenticated", reason: authn.reason };
  const id = authn.identity;
  if (id.namespace !== proxy.namespace || id.serviceAccount !== proxy.serviceAccount) {
    return {
      ok: false,
      status: "permission-denied",
      reason:
        `proxy ${proxy.id} claims namespace "${proxy.namespace}" service account "${proxy.serviceAccount}" ` +
        `but authenticated as ${spiffeId(id)}`,
    };
  }
  return { ok: true, identity: id, method: authn.method, ...(authn.cluster !== undefined ? { cluster: authn.cluster } : {}) };
}

/** True for a grpc-js peer string (`ip:port`, `[v6]:port` or a bare address) on loopback. */
export function isLoopbackPeer(peer: string): boolean {
  let host = peer;
  if (host.startsWith("[")) host = host.slice(1, host.indexOf("]"));
  else if (isIP(host) === 0 && host.lastIndexOf(":") > 0) host = host.slice(0, host.lastIndexOf(":"));
  if (host.startsWith("::ffff:")) host = host.slice(7);
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

/** The plaintext port's gate: loopback callers only, unless `allowRemote` was configured. */
export function plaintextCallerAllowed(peer: string, allowRemote: boolean): { ok: boolean; reason?: string } {
  if (allowRemote || isLoopbackPeer(peer)) return { ok: true };
  return { ok: false, reason: `plaintext xDS/CA from ${peer} refused: the plaintext port serves loopback only (use the TLS port 15012)` };
}

/**
 * Why a call on the plaintext port is refused, or undefined. A bearer token is a credential and
 * what it buys (a private key over SDS, a certificate) must not cross a wire anyone can read, so
 * tokens are accepted over plaintext from loopback only, whatever `allowRemote` says.
 */
export function plaintextCallProblem(peer: string, metadata: Metadata, allowRemote: boolean): string | undefined {
  if (isLoopbackPeer(peer)) return undefined;
  if (bearerToken(metadata) !== undefined) {
    return `bearer token from ${peer} refused: over plaintext, tokens are accepted from loopback only (use the TLS port 15012)`;
  }
  const gate = plaintextCallerAllowed(peer, allowRemote);
  return gate.ok ? undefined : gate.reason;
}
