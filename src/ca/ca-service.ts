// Serves istio.v1.auth.IstioCertificateService/CreateCertificate: authenticate the caller, then
// let the CA issue for the authenticated identity only, or, for a trusted node agent naming a pod
// scheduled on its node (`ImpersonatedIdentity`, see node-impersonation.ts), for that pod's identity.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { IstioCertificateResponseSchema } from "../gen/istio/v1/auth/ca_pb.js";
import { authenticateCaller } from "../security/authenticate.js";
import { callerContextFrom } from "../security/caller-context.js";
import { spiffeId, type Authenticator } from "../security/identity.js";
import { IssuanceError, type CertificateAuthority, type IssuanceErrorCode } from "./authority.js";
import { caServiceDefinition } from "./ca-api.js";
import { authorizeImpersonation, IMPERSONATED_IDENTITY, IMPERSONATED_POD, type NodeImpersonation, type ScheduledPod } from "./node-impersonation.js";

export interface CaServiceDeps {
  readonly ca: CertificateAuthority;
  /** Tried in order, first success wins. */
  readonly authenticators: readonly Authenticator[];
  /** Called after each decision, for audit logs and metrics. */
  readonly onDecision?: (event: CaDecision) => void;
  /** Which node accounts may impersonate and where pods run; absent: no impersonation at all. */
  readonly impersonation?: NodeImpersonation;
}

export interface CaDecision {
  readonly peer: string;
  readonly identity?: string;
  readonly method?: string;
  readonly outcome: "issued" | "unauthenticated" | "denied" | "invalid" | "error";
  readonly reason?: string;
}

export { IMPERSONATED_IDENTITY };

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
      const podName = call.request.metadata?.[IMPERSONATED_POD];
      let identity = authn.identity;
      let pods: readonly ScheduledPod[] | undefined;
      if (impersonated !== undefined && impersonated !== caller) {
        const decision = authorizeImpersonation(
          deps.impersonation,
          authn.identity,
          String(impersonated),
          podName === undefined ? undefined : String(podName),
        );
        if (!decision.ok) return reject(grpc.status.PERMISSION_DENIED, "denied", decision.reason, caller);
        identity = decision.identity;
        pods = decision.pods;
      }
      const issuedTo = spiffeId(identity);
      const onBehalf = pods === undefined ? caller : `${issuedTo} (for ${caller})`;
      try {
        const issued = await deps.ca.issue({
          identity,
          csrPem: call.request.csr,
          ttlSeconds: Number(call.request.validityDuration),
          // The cluster the token was reviewed in, for another cluster's pod-scoped quarantine.
          caller: authn.cluster !== undefined ? { ...ctx, cluster: authn.cluster } : ctx,
          ...(pods !== undefined ? { pods } : {}),
        });
        report({ peer, identity: onBehalf, method: authn.method, outcome: "issued" });
        callback(null, create(IstioCertificateResponseSchema, { certChain: [...issued.certChain] }));
      } catch (e) {
        if (e instanceof IssuanceError) {
          const outcome = e.code === "permission-denied" ? "denied" : e.code === "invalid-argument" ? "invalid" : "error";
          return reject(STATUS[e.code], outcome, e.message, onBehalf);
        }
        reject(grpc.status.INTERNAL, "error", `certificate signing failed: ${(e as Error).message}`, onBehalf);
      }
    })();
  };
  server.addService(caServiceDefinition, { CreateCertificate: handler });
}
