// Gates in front of every service on a gRPC port (xDS, CA, signals), as grpc-js server
// interceptors: they refuse a call UNAUTHENTICATED before any handler runs, so no service can
// forget the check.
//
// Plaintext port: a caller from beyond loopback is refused, and a bearer token from beyond
// loopback in any case, so no key or certificate is ever answered over a readable wire.
//
// TLS port: client certificates are requested but optional (a workload's first call carries only
// a token, as with istiod's VerifyClientCertIfGiven). grpc-js reports a certificate only when it
// verified, so one presented that failed verification looked like none and the call went on to
// other credentials. "If given, verify": such a call is refused. grpc-js 1.14 exposes no public
// hook for an unverified peer certificate; the gate reads the TLS socket behind the base call's
// HTTP/2 stream. If a grpc-js upgrade moves it, the test pinning this gate fails.
import { TLSSocket } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { plaintextCallProblem } from "./xds-auth.js";

/** An interceptor that refuses a call UNAUTHENTICATED when `problem` names one. */
function gate(problem: (call: grpc.ServerInterceptingCallInterface, metadata: grpc.Metadata) => string | undefined): grpc.ServerInterceptor {
  return (_method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const refused = problem(call, metadata);
        if (refused === undefined) next(metadata);
        else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: refused });
      })
      .build();
    return new grpc.ServerInterceptingCall(call, new grpc.ResponderBuilder().withStart((next) => next(listener)).build());
  };
}

/** For the plaintext server; `allowRemote` admits credential-less remote callers only. */
export function plaintextGate(allowRemote = false): grpc.ServerInterceptor {
  return gate((call, metadata) => plaintextCallProblem(call.getPeer(), metadata, allowRemote));
}

interface CallWithStream {
  readonly stream?: { readonly session?: { readonly socket?: unknown } };
}

/** The socket behind a call (a TLSSocket on a TLS connection), read as presentedButUnverified does. */
function socketOf(call: unknown): unknown {
  return (call as CallWithStream).stream?.session?.socket;
}

/** Why a call's TLS client certificate is refused (presented, not verified), or undefined. */
export function presentedButUnverified(call: unknown): string | undefined {
  const socket = socketOf(call);
  if (!(socket instanceof TLSSocket) || socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return undefined; // none presented
  return `client certificate presented but not verified against this mesh's CA (${String(socket.authorizationError)}); present one from this CA, or none`;
}

/** For the TLS server; must be its first interceptor (it reads the base call). */
export function clientCertificateGate(): grpc.ServerInterceptor {
  return gate((call) => presentedButUnverified(call));
}

/**
 * For a stream worker serving a plaintext and a TLS listener from one gRPC server: a call over TLS
 * gets the TLS port's gate, any other call the plaintext port's (when `plaintext`). A call whose
 * socket cannot be read is treated as plaintext (loopback only, no tokens from elsewhere): it
 * fails closed.
 */
export function workerTransportGate(plaintext: boolean): grpc.ServerInterceptor {
  return gate((call, metadata) => {
    if (socketOf(call) instanceof TLSSocket) return presentedButUnverified(call);
    return plaintext ? plaintextCallProblem(call.getPeer(), metadata, false) : undefined;
  });
}
