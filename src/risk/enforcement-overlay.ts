// Enforcement as plain Istio AuthorizationPolicies (security.istio.io/v1), added to the model's
// policies so the authorization translators apply them unchanged, exactly as if a user had
// written them:
//
//   quarantine      peers: DENY on every workload (root namespace, no selector) for
//                   `source.ipBlocks: [pod IP]`, plus `principals` for the identity scope;
//                   self:  DENY with `when: destination.ip in [pod IP]` in the pod's namespace.
//   isolate-egress  peers only: the pod cannot call out, and still serves.
//   revoke          no policy: the CA asks EnforcementSet.isIssuanceAllowed.
//
// Why `destination.ip` for the pod itself: a workload selector picks pods by labels, and replicas
// share their labels, so no selector can name one replica. `destination.ip` is matched against
// the local address of the inbound connection (Envoy `destination_ip`, also supported by gRPC's
// RBAC), which is the quarantined pod's own IP on its own proxy and a different IP on every
// healthy replica: the policy reaches the replicas too but never matches there. It carries no
// selector at all (namespace-wide): the peers policy already reaches every proxy, so a selector
// would save no push, and it would stop reaching the pod if its labels were changed.
//
// Why these come "first": Istio evaluates DENY before ALLOW, and any matching DENY rejects, so no
// user ALLOW can override them. Within the DENY bucket istiod orders policies by creation time
// then name; these carry the epoch as creationTimestamp and a `meshward-` name so they also sort
// first in emitted filters and debug output. They are marked with the managed-by label and the
// `meshward.io/generated` annotation, and their origin file is ENFORCEMENT_ORIGIN.
import type { ConfigObject } from "../model/config.js";
import type { ProxyChange } from "../xds/types.js";
import { spiffeId, type WorkloadIdentity } from "../security/identity.js";
import { workloadAddressProblem } from "../security/workload-address.js";
import { rfc3339 } from "./clock.js";
import type { Enforcement } from "./quarantine.js";
import { DEFAULT_ROOT_NAMESPACE } from "./runtime-policy.js";

export const AUTHORIZATION_POLICY_API_VERSION = "security.istio.io/v1";
export const GENERATED_ANNOTATION = "meshward.io/generated";
export const ENFORCEMENT_ANNOTATION = "meshward.io/enforcement";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const ENFORCEMENT_ORIGIN = "meshward:risk/enforcement";
/** Oldest possible, so Istio's creation-time order puts these before any user policy. */
export const ENFORCEMENT_CREATION_TIMESTAMP = "1970-01-01T00:00:00Z";

/** The AuthorizationPolicy fields the overlay uses, spelled as in Istio YAML. */
export interface DenyPolicySpec {
  readonly action: "DENY";
  readonly rules: readonly {
    readonly from?: readonly { readonly source: { readonly principals?: readonly string[]; readonly ipBlocks?: readonly string[] } }[];
    readonly when?: readonly { readonly key: string; readonly values: readonly string[] }[];
  }[];
}

export interface OverlayOptions {
  /** MeshConfig rootNamespace; mesh-wide policies live there. */
  readonly rootNamespace?: string;
  /**
   * Current pods of an identity, from the model snapshot: an identity-scoped quarantine denies
   * inbound calls to all of them, not only to the pod that raised the signal.
   */
  readonly podsOfIdentity?: (id: WorkloadIdentity) => readonly { readonly ip: string }[];
  /** The addresses already worked out by enforcedAddresses (so its rejections are reported once). */
  readonly addresses?: EnforcedAddresses;
}

/** An address an enforcement would have matched on but that is no single pod IP. */
export interface RejectedEnforcementAddress {
  readonly enforcement: Enforcement;
  readonly address: string;
  readonly reason: string;
}

export interface EnforcedAddresses {
  /** Enforcement id -> the single pod IPs it matches (sorted). */
  readonly byId: ReadonlyMap<string, readonly string[]>;
  readonly rejected: readonly RejectedEnforcementAddress[];
}

/** Istio's principal form: the SPIFFE id without `spiffe://`. */
export function istioPrincipal(id: WorkloadIdentity): string {
  return spiffeId(id).slice("spiffe://".length);
}

/** The annotations every generated object of an enforcement carries (who, why, since when). */
export function enforcementAnnotations(e: Enforcement): Record<string, string> {
  const annotations: Record<string, string> = {
    [GENERATED_ANNOTATION]: "true",
    [ENFORCEMENT_ANNOTATION]: e.id,
    "meshward.io/reason": e.reason,
    "meshward.io/signal": e.signalId,
    "meshward.io/created": rfc3339(e.createdAtMs),
  };
  if (e.expiresAtMs !== undefined) annotations["meshward.io/expires"] = rfc3339(e.expiresAtMs);
  return annotations;
}

/** `meshward-<action>-<id hash>-<part>`: sorts before user objects and names its enforcement. */
export function enforcementObjectName(e: Enforcement, part: string): string {
  return `meshward-${e.action}-${e.id.slice(e.id.indexOf("-") + 1)}-${part}`;
}

function policy(e: Enforcement, part: "peers" | "self", namespace: string, spec: DenyPolicySpec): ConfigObject<DenyPolicySpec> {
  const name = enforcementObjectName(e, part);
  const annotations = enforcementAnnotations(e);
  return {
    apiVersion: AUTHORIZATION_POLICY_API_VERSION,
    kind: "AuthorizationPolicy",
    metadata: {
      name,
      namespace,
      labels: { [MANAGED_BY_LABEL]: "meshward" },
      annotations,
      creationTimestamp: ENFORCEMENT_CREATION_TIMESTAMP,
    },
    spec,
    origin: { file: `${ENFORCEMENT_ORIGIN}/${e.id}` },
  };
}

/**
 * The IPs each enforcement matches: the pod's, plus every known pod of the identity for an
 * identity scope. Only single pod IPs are kept; any other address (a CIDR, unspecified, multicast,
 * malformed) is rejected on its own, so it can neither widen the DENY to every caller nor make the
 * model reject the enforcement's objects, and the caller reports it.
 */
export function enforcedAddresses(active: readonly Enforcement[], opts: OverlayOptions = {}): EnforcedAddresses {
  const byId = new Map<string, string[]>();
  const rejected: RejectedEnforcementAddress[] = [];
  for (const e of active) {
    const candidates = new Set([e.pod.ip]);
    if (e.scope === "identity") for (const p of opts.podsOfIdentity?.(e.identity) ?? []) candidates.add(p.ip);
    candidates.delete(""); // a pod with no IP yet: nothing to match, nothing wrong
    const ips: string[] = [];
    for (const address of candidates) {
      const reason = workloadAddressProblem(address);
      if (reason === undefined) ips.push(address);
      else rejected.push({ enforcement: e, address, reason });
    }
    byId.set(e.id, ips.sort());
  }
  return { byId, rejected };
}

/** The enforced IPs of one enforcement (see enforcedAddresses). */
export function podIps(e: Enforcement, opts: OverlayOptions): readonly string[] {
  return (opts.addresses ?? enforcedAddresses([e], opts)).byId.get(e.id) ?? [];
}

/** Deny, on every peer, calls whose source is the enforced pod (or identity). */
function peersPolicy(e: Enforcement, ips: readonly string[], root: string): ConfigObject<DenyPolicySpec> | undefined {
  const from: { source: { principals?: string[]; ipBlocks?: string[] } }[] = [];
  // Principals catch the identity's mTLS calls from any pod, including pods not yet known;
  // ipBlocks also catch plaintext calls, which carry no principal.
  if (e.scope === "identity") from.push({ source: { principals: [istioPrincipal(e.identity)] } });
  if (ips.length > 0) from.push({ source: { ipBlocks: [...ips] } });
  // A pod with no IP cannot call anyone yet; an empty `from` would be an invalid policy.
  if (from.length === 0) return undefined;
  return policy(e, "peers", root, { action: "DENY", rules: [{ from }] });
}

/** Deny every inbound call on the enforced pod's own proxy (see the file comment for why by IP). */
function selfPolicy(e: Enforcement, ips: readonly string[]): ConfigObject<DenyPolicySpec> {
  return policy(e, "self", e.pod.namespace, {
    action: "DENY",
    rules: [{ when: [{ key: "destination.ip", values: [...ips] }] }],
  });
}

/** The AuthorizationPolicies that enforce `active`, sorted by namespace and name. */
export function enforcementOverlay(active: readonly Enforcement[], opts: OverlayOptions = {}): ConfigObject<DenyPolicySpec>[] {
  const root = opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const out: ConfigObject<DenyPolicySpec>[] = [];
  for (const e of active) {
    const ips = podIps(e, opts);
    if (e.action === "revoke") continue;
    const peers = peersPolicy(e, ips, root);
    if (peers) out.push(peers);
    if (e.action === "quarantine" && ips.length > 0) out.push(selfPolicy(e, ips));
  }
  return out.sort((a, b) => a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name));
}

/**
 * Which proxies a change in these enforcements touches: quarantine and isolate-egress add a
 * mesh-wide peers policy, so every proxy; revoke changes no proxy (only the CA).
 */
export function enforcementProxyChange(changed: readonly Enforcement[]): ProxyChange {
  if (changed.some((e) => e.action !== "revoke")) return { all: true };
  return { all: false, affects: () => false };
}
