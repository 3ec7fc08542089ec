// The routing half of enforcement: one WorkloadEnforcement object per active quarantine or
// isolate-egress (see src/model/workload-enforcement.ts for what translators do with it). It joins
// the config set next to the AuthorizationPolicy overlay, which stays: Envoy enforces that one by
// IP and principal; this one needs no data-plane IP matching, so it also holds where grpc-js-xds
// cannot match an IPv4 pod (defense in depth for every proxy kind).
import type { ConfigObject } from "../model/config.js";
import { WORKLOAD_ENFORCEMENT_API_VERSION, WORKLOAD_ENFORCEMENT_KIND, type WorkloadEnforcementSpec } from "../model/workload-enforcement.js";
import { ENFORCEMENT_CREATION_TIMESTAMP, ENFORCEMENT_ORIGIN, MANAGED_BY_LABEL, enforcementAnnotations, enforcementObjectName, podIps, type OverlayOptions } from "./enforcement-overlay.js";
import type { Enforcement } from "./quarantine.js";

/** The WorkloadEnforcements of `active` (revoke has none: it only concerns the CA), sorted by name. */
export function routingOverlay(active: readonly Enforcement[], opts: OverlayOptions = {}): ConfigObject<WorkloadEnforcementSpec>[] {
  const out: ConfigObject<WorkloadEnforcementSpec>[] = [];
  for (const e of active) {
    if (e.action === "revoke") continue;
    const addresses = podIps(e, opts);
    // A pod with no IP yet has no endpoint and no proxy to match; the model would reject an empty list.
    if (addresses.length === 0) continue;
    out.push({
      apiVersion: WORKLOAD_ENFORCEMENT_API_VERSION,
      kind: WORKLOAD_ENFORCEMENT_KIND,
      metadata: {
        name: enforcementObjectName(e, "routing"),
        namespace: e.pod.namespace,
        labels: { [MANAGED_BY_LABEL]: "meshward" },
        annotations: enforcementAnnotations(e),
        creationTimestamp: ENFORCEMENT_CREATION_TIMESTAMP,
      },
      spec: { action: e.action, addresses },
      origin: { file: `${ENFORCEMENT_ORIGIN}/${e.id}` },
    });
  }
  return out.sort((a, b) => a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name));
}
