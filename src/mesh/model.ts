// The composition root of the model: which kinds the mesh understands, registered here so that the
// model never imports the stages owning a kind (authz/, risk/), and the one buildSnapshot that the
// control plane, the CLI and the tests use.
import { KindRegistry, defaultClusterDomain, modelKinds } from "../model/kinds.js";
import { kubernetesKinds } from "../model/kube-objects.js";
import { buildModelSnapshot, emptySnapshot, type ConfigSet, type MeshSnapshot } from "../model/snapshot.js";
import { authorizationPolicyKind } from "../authz/model-kind.js";
import { AUTHORIZATION_POLICY_KIND } from "../authz/policy.js";
import { runtimePolicyKind } from "../risk/model-kind.js";
import { withGatewayApi } from "../gateway-api/model-input.js";
import { RUNTIME_POLICY_KIND } from "../risk/runtime-policy.js";
import { sidecarKind } from "../model/sidecar-kind.js";
import { SIDECAR_KIND } from "../model/sidecar.js";
import { GATEWAY_KIND, gatewayKind } from "../gateway/gateway-kind.js";

/** Every kind of the mesh, Kubernetes Services named under `domain` (istiod's --domain). */
export function meshKinds(domain: string = defaultClusterDomain): KindRegistry {
  return modelKinds.with({
    ...kubernetesKinds(domain),
    [AUTHORIZATION_POLICY_KIND]: authorizationPolicyKind,
    [RUNTIME_POLICY_KIND]: runtimePolicyKind,
    [SIDECAR_KIND]: sidecarKind,
    [GATEWAY_KIND]: gatewayKind,
  });
}

const defaultKinds = meshKinds();

/**
 * Builds the next snapshot with every kind of the mesh (`kinds` and `domain` for another cluster
 * domain). Kubernetes Gateway API objects enter the model as the Istio Gateways and
 * VirtualServices istiod would make of them (src/gateway-api/).
 */
export function buildSnapshot(input: ConfigSet, previous: MeshSnapshot = emptySnapshot, kinds: KindRegistry = defaultKinds, domain: string = defaultClusterDomain): MeshSnapshot {
  return buildModelSnapshot(withGatewayApi(input, domain), previous, kinds);
}
