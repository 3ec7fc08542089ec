// What the risk stage's WorkloadEnforcements change in translation (src/model/workload-enforcement.ts):
//  - every proxy's EDS leaves out quarantined endpoints (peers stop routing to the pod);
//  - an enforced proxy (quarantine or isolate-egress) gets empty EDS, and its other outbound
//    clusters (DNS, original destination, Envoy's PassthroughCluster) lose every endpoint
//    (clusters.ts): it cannot call out;
//  - a quarantined proxy's inbound side gets a deny-all DENY policy before any other, on its own
//    proxy only, which gRPC and Envoy enforce without matching any IP.
// Cache keys: the enforcement string joins a proxy's outbound and inbound keys only when it is
// enforced, and an EDS key names only the endpoints it drops, so an enforcement re-encodes the
// assignments of the pod's services once for everyone, and other resources for its proxy alone.
import type { AuthorizationPolicy } from "../authz/policy.js";
import type { AuthzInput } from "../authz/filters.js";
import { authzInputFor } from "../authz/mesh-input.js";
import { proxyEnforcement, unroutableAddresses, type ProxyEnforcement } from "../model/workload-enforcement.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import type { Proxy } from "../model/proxy.js";
import type { TranslationScope } from "./common.js";

export { proxyEnforcement, unroutableAddresses, type ProxyEnforcement };

/** Whether the proxy may not call out (quarantine or isolate-egress). */
export function egressBlocked(snapshot: MeshSnapshot, proxy: Pick<Proxy, "ips">): boolean {
  return proxyEnforcement(snapshot, proxy) !== "";
}

/** The endpoints to keep for peers: everything but quarantined addresses, and the ones dropped (for the cache key). */
export function routableEndpoints<E extends { readonly address: string }>(snapshot: MeshSnapshot, endpoints: readonly E[]): { kept: readonly E[]; dropped: string } {
  const unroutable = unroutableAddresses(snapshot);
  if (unroutable.size === 0) return { kept: endpoints, dropped: "" };
  const kept = endpoints.filter((e) => !unroutable.has(e.address));
  if (kept.length === endpoints.length) return { kept: endpoints, dropped: "" };
  return { kept, dropped: endpoints.filter((e) => unroutable.has(e.address)).map((e) => e.address).sort().join(",") };
}

/** Named like the AuthorizationPolicy overlay (meshward-...) so the filter's policy shows why. */
export const QUARANTINE_SELF_POLICY = "meshward-quarantine-self-proxy";

/** `rules: [{}]` under DENY matches every request and connection (Istio's deny-all). */
function selfDenyAll(namespace: string): AuthorizationPolicy {
  return {
    name: QUARANTINE_SELF_POLICY,
    namespace,
    annotations: { "meshward.io/generated": "true" },
    creationTimestamp: "1970-01-01T00:00:00Z",
    spec: { action: "DENY", rules: [{}] },
    origin: { file: "meshward:risk/enforcement/self-proxy" },
  };
}

/** The authorization input of the proxy's inbound chains, with the deny-all first when it is quarantined. */
export function inboundAuthzInput(scope: TranslationScope): AuthzInput {
  const input = authzInputFor(scope.snapshot, scope.proxy);
  if (proxyEnforcement(scope.snapshot, scope.proxy) !== "quarantine") return input;
  return { ...input, policies: [selfDenyAll(scope.proxy.namespace), ...input.policies] };
}
