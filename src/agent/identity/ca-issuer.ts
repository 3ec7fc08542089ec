// The node agent's side of node-scoped issuance: CreateCertificate as the node (its token or node
// certificate), with Istio's `ImpersonatedIdentity` and meshward's `ImpersonatedPod` metadata. The
// CA decides; a PERMISSION_DENIED is a refusal of this pod (quarantine, not on this node), anything
// else is the CA being unreachable.
import * as grpc from "@grpc/grpc-js";
import type { CaClient } from "../../ca/ca-api.js";
import { IMPERSONATED_IDENTITY, IMPERSONATED_POD } from "../../ca/node-impersonation.js";
import { spiffeId } from "../../security/identity.js";
import type { PodCertificateIssuer } from "./pod-certificates.js";

export function caPodIssuer(client: CaClient, token: () => string | undefined): PodCertificateIssuer {
  return {
    issue: (pod, identity, csrPem, ttlSeconds) => {
      const t = token();
      return client.createCertificate({
        csrPem,
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
        ...(t !== undefined ? { token: t } : {}),
        metadata: { [IMPERSONATED_IDENTITY]: spiffeId(identity), [IMPERSONATED_POD]: `${pod.namespace}/${pod.name}` },
      });
    },
  };
}

export function isCaRefusal(e: Error): boolean {
  return (e as Partial<grpc.StatusObject>).code === grpc.status.PERMISSION_DENIED;
}
