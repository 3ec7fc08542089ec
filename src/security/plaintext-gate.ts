// The plaintext gRPC port's gate, in front of every service on it (xDS, CA, signals): a grpc-js
// server interceptor refuses a caller from beyond loopback before any handler runs, so no service
// can forget the check and no key or certificate is ever answered over a readable wire.
import * as grpc from "@grpc/grpc-js";
import { plaintextCallProblem } from "./xds-auth.js";

/** Interceptor for the plaintext server; `allowRemote` admits credential-less remote callers only. */
export function plaintextGate(allowRemote = false): grpc.ServerInterceptor {
  return (_method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const problem = plaintextCallProblem(call.getPeer(), metadata, allowRemote);
        if (problem === undefined) next(metadata);
        else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: problem });
      })
      .build();
    return new grpc.ServerInterceptingCall(call, new grpc.ResponderBuilder().withStart((next) => next(listener)).build());
  };
}
