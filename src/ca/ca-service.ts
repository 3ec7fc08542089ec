// Serves istio.v1.auth.IstioCertificateService/CreateCertificate: authenticate the caller, refuse
// impersonation, then let the CA issue for the authenticated identity only.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { IstioCertificateResponseSchema } from "../gen/istio/v1/auth/ca_pb.js";
import { authenticateCaller } from "../security/authenticate.js";
import { callerContextFrom } from "../security/caller-context.js";
import { spiffeId, type Authenticator } from "../security/identity.js";
import { IssuanceError, type CertificateAuthority, type IssuanceErrorCode } from "./authority.js";
import { caServiceDefinition } from "./ca-api.js";

export interface CaServiceDeps {
  readonly ca: CertificateAuthority;
  /** Tried in order, first success wins. */
  readonly authenticators: readonly Authenticator[];
  /** Called after each decision, for audit logs and metrics. */
  readonly onDecision?: (event: CaDecision) => void;
}

export interface CaDecision {
  readonly peer: string;
  readonly identity?: string;
  readonly method?: string;
  readonly outcome: "issued" | "unauthenticated" | "denied" | "invalid" | "error";
  readonly reason?: string;
}

/** Istio's request metadata key for a node agent asking on behalf of another workload. */
export const IMPERSONATED_IDENTITY = "ImpersonatedIdentity";

const STATUS: Record<IssuanceErrorCode, grpc.status> = {
  "invalid-argument": grpc.status.INVALID_ARGUMENT,
  "permission-denied": grpc.status.PERMISSION_DENIED,
  unavailable: grpc.status.UNAVAILABLE,
};

export function registerCaService(server: grpc.Server, deps: CaServiceDeps): void {
  const report = deps.onDecision ?? ((): void => undefined);
  const handler: grpc.handleUnaryCall<
    ReturnType<typeof caServiceDefinition.CreateCertificate.requestDeserialize>,
    ReturnType<typeof caServiceDefinition.CreateCertificate.responseDeserialize>
  > = (call, callback) => {
    const ctx = callerContextFrom(call);
    const peer = ctx.peer;
    const reject = (code: grpc.status, outcome: CaDecision["outcome"], reason: string, identity?: string): void => {
      report({ peer, identity, outcome, reason });
      callback({ code, details: reason });
    };
    void (async () => {
      const authn = await authenticateCaller(deps.authenticators, ctx);
      if (!authn.ok) return reject(grpc.status.UNAUTHENTICATED, "unauthenticated", authn.reason);
      const caller = spiffeId(authn.identity);
      const impersonated = call.request.metadata?.[IMPERSONATED_IDENTITY];
      if (impersonated !== undefined && impersonated !== caller) {
        return reject(
          grpc.status.PERMISSION_DENIED,
          "denied",
          `${caller} may not request a certificate for ${String(impersonated)}: impersonation is not allowed`,
          caller,
        );
      }
      try {
        const issued = await deps.ca.issue({
          identity: authn.identity,
          csrPem: call.request.csr,
          ttlSeconds: Number(call.request.validityDuration),
          caller: ctx,
        });
        report({ peer, identity: caller, method: authn.method, outcome: "issued" });
        callback(null, create(IstioCertificateResponseSchema, { certChain: [...issued.certChain] }));
      } catch (e) {
        if (e instanceof IssuanceError) {
          const outcome = e.code === "permission-denied" ? "denied" : e.code === "invalid-argument" ? "invalid" : "error";
          return reject(STATUS[e.code], outcome, e.message, caller);
        }
        reject(grpc.status.INTERNAL, "error", `certificate signing failed: ${(e as Error).message}`, caller);
      }
    })();
  };
  server.addService(caServiceDefinition, { CreateCertificate: handler });
}
