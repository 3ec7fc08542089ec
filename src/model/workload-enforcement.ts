// WorkloadEnforcement (meshward.io/v1alpha1): routing-level enforcement of the risk stage, as a kind
// of the model so it travels in the snapshot like any policy. Written only by the risk stage (one
// object per active quarantine / isolate-egress); not meant for users, but validated like any kind.
//
// It does what the AuthorizationPolicy overlay cannot guarantee everywhere: that overlay matches the
// pod by IP, which grpc-js-xds 1.14 cannot do for an IPv4 pod seen through a dual-stack server
// (peer addresses arrive IPv4-mapped, `::ffff:a.b.c.d`, and never match an IPv4 CIDR). These
// overlays need no IP matching in the data plane:
//   quarantine      the pod's endpoints leave every peer's EDS; its own proxy gets empty EDS (it
//                   cannot call out) and an unconditional deny-all RBAC on its inbound side;
//   isolate-egress  its own proxy gets empty EDS only; it keeps serving and stays routable.
// Translators ask `proxyEnforcement` (which proxy is enforced, by its node IPs: control-plane
// matching, not data-plane) and `unroutableAddresses` (which endpoints peers must not route to).
import type { MeshSnapshot } from "./snapshot.js";
import type { Proxy } from "./proxy.js";
import { isFields, isIpAddress, stringListField, enumField, unknownKeys, type FieldProblems } from "./fields.js";
import type { KindHandler } from "./kinds.js";

export const WORKLOAD_ENFORCEMENT_KIND = "WorkloadEnforcement";
export const WORKLOAD_ENFORCEMENT_API_VERSION = "meshward.io/v1alpha1";

export type RoutingAction = "quarantine" | "isolate-egress";

export interface WorkloadEnforcementSpec {
  /** `revoke` only concerns the CA: such objects (shared between replicas) route nothing. */
  readonly action: RoutingAction | "revoke";
  /** The enforced pods' IPs (one pod, or every known pod of an identity). */
  readonly addresses: readonly string[];
  /**
   * The risk stage's whole decision (src/risk/quarantine.ts Enforcement), on objects written to
   * the apiserver so every replica enforces it (src/kube/enforcement-store.ts); opaque here.
   */
  readonly enforcement?: Readonly<Record<string, unknown>>;
}

/** What the snapshot's WorkloadEnforcements say to one proxy: "" when it is not enforced. */
export type ProxyEnforcement = "" | RoutingAction;

export function parseWorkloadEnforcement(spec: unknown, p: FieldProblems): WorkloadEnforcementSpec | undefined {
  if (!isFields(spec)) {
    p.error("spec", "must be a map");
    return undefined;
  }
  let ok = true;
  const fail = (at: string, message: string): void => {
    p.error(at, message);
    ok = false;
  };
  unknownKeys(spec, ["action", "addresses", "enforcement"], "spec", p);
  const action = enumField(spec, "action", "spec", p, ["quarantine", "isolate-egress", "revoke"] as const);
  if (spec["action"] === undefined) fail("spec.action", "is required: quarantine, isolate-egress or revoke");
  const enforcement = spec["enforcement"];
  if (enforcement !== undefined && !isFields(enforcement)) fail("spec.enforcement", "must be a map");
  const addresses = stringListField(spec, "addresses", "spec", p);
  addresses.forEach((a, i) => {
    if (!isIpAddress(a)) fail(`spec.addresses[${i}]`, `"${a}" is not an IP address`);
  });
  if (addresses.length === 0 && action !== "revoke") fail("spec.addresses", "must name at least one pod IP");
  return ok && action !== undefined ? { action, addresses, ...(isFields(enforcement) ? { enforcement } : {}) } : undefined;
}

export const workloadEnforcementKind: KindHandler = {
  apiVersions: [WORKLOAD_ENFORCEMENT_API_VERSION],
  parse: (s, p) => parseWorkloadEnforcement(s, p),
};

interface Index {
  /** IP -> the strongest action on it (quarantine over isolate-egress). */
  readonly byAddress: ReadonlyMap<string, RoutingAction>;
  /** Quarantined IPs: no peer routes to them. */
  readonly unroutable: ReadonlySet<string>;
}

const EMPTY: Index = { byAddress: new Map(), unroutable: new Set() };
const bySnapshot = new WeakMap<MeshSnapshot, Index>();

function indexOf(snapshot: MeshSnapshot): Index {
  const list = snapshot.others.get(WORKLOAD_ENFORCEMENT_KIND);
  if (list === undefined || list.length === 0) return EMPTY;
  let idx = bySnapshot.get(snapshot);
  if (idx !== undefined) return idx;
  const byAddress = new Map<string, RoutingAction>();
  for (const a of list) {
    const spec = a.spec as WorkloadEnforcementSpec;
    if (spec.action === "revoke") continue;
    for (const ip of spec.addresses) if (byAddress.get(ip) !== "quarantine") byAddress.set(ip, spec.action);
  }
  const unroutable = new Set([...byAddress].filter(([, action]) => action === "quarantine").map(([ip]) => ip));
  idx = { byAddress, unroutable };
  bySnapshot.set(snapshot, idx);
  return idx;
}

/** The endpoint addresses no peer may route to (quarantined pods). */
export function unroutableAddresses(snapshot: MeshSnapshot): ReadonlySet<string> {
  return indexOf(snapshot).unroutable;
}

/** How the snapshot enforces on this proxy (any of its IPs): quarantine wins over isolate-egress. */
export function proxyEnforcement(snapshot: MeshSnapshot, proxy: Pick<Proxy, "ips">): ProxyEnforcement {
  const { byAddress } = indexOf(snapshot);
  if (byAddress.size === 0) return "";
  let out: ProxyEnforcement = "";
  for (const ip of proxy.ips) {
    const a = byAddress.get(ip);
    if (a === "quarantine") return a;
    if (a !== undefined) out = a;
  }
  return out;
}
