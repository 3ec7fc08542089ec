// Builds the CallerContext authenticators see from a grpc-js server call. grpc-js 1.14 exposes the
// TLS peer through `getAuthContext()`, and only when the handshake verified the client's chain
// against the server's CA roots (socket.authorized); an unverified client certificate is absent.
import type { Metadata } from "@grpc/grpc-js";
import type { AuthContext } from "@grpc/grpc-js/build/src/auth-context.js";
import type { CallerContext } from "./identity.js";

export interface ServerCallLike {
  readonly metadata: Metadata;
  getPeer(): string;
  getAuthContext?(): AuthContext | null;
}

export function callerContextFrom(call: ServerCallLike): CallerContext {
  const raw = call.getAuthContext?.()?.sslPeerCertificate?.raw;
  return raw === undefined || raw.length === 0
    ? { metadata: call.metadata, peer: call.getPeer() }
    : { metadata: call.metadata, peer: call.getPeer(), peerCertificate: raw };
}
