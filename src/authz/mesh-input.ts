// The authz translator's input taken from a mesh snapshot: admitted policies, the MeshConfig
// fields authz reads, the service registry and built extension providers, computed once per
// snapshot and shared by every proxy translated from it.
import type { MeshSnapshot } from "../model/snapshot.js";
import type { Proxy } from "../model/proxy.js";
import type { MeshConfig } from "../model/mesh-config.js";
import { AUTHORIZATION_POLICY_KIND, type AuthorizationPolicy, type AuthorizationPolicySpec, authorizationPolicyOf } from "./policy.js";
import { type AuthzMeshConfig, readExtensionProviders } from "./mesh-config.js";
import type { ServiceRegistry } from "./services.js";
import { type BuiltExtAuthz, buildExtensionProviders } from "./ext-authz.js";
import type { AuthzInput } from "./filters.js";
import { selectsWorkload, type Workload } from "./select.js";
import { digestOf } from "../model/digest.js";
import { untranslatedKinds } from "../model/kinds.js";

interface SnapshotAuthz {
  readonly policies: readonly AuthorizationPolicy[];
  readonly mesh: AuthzMeshConfig;
  readonly services: ServiceRegistry;
  readonly providers: ReadonlyMap<string, BuiltExtAuthz>;
}

const bySnapshot = new WeakMap<MeshSnapshot, SnapshotAuthz>();

/** The AuthorizationPolicies the model accepted (the kind stays in the snapshot's `others`). */
export function snapshotPolicies(snapshot: MeshSnapshot): AuthorizationPolicy[] {
  return (snapshot.others.get(AUTHORIZATION_POLICY_KIND) ?? []).map((a) => authorizationPolicyOf(a.object, a.spec as AuthorizationPolicySpec));
}

/** The MeshConfig fields authz reads. */
export function authzMeshConfigOf(m: MeshConfig): AuthzMeshConfig {
  return {
    rootNamespace: m.rootNamespace,
    trustDomain: m.trustDomain,
    trustDomainAliases: m.trustDomainAliases,
    extensionProviders: readExtensionProviders(m.extensionProviders),
  };
}

function snapshotAuthz(snapshot: MeshSnapshot): SnapshotAuthz {
  let s = bySnapshot.get(snapshot);
  if (s !== undefined) return s;
  const mesh = authzMeshConfigOf(snapshot.mesh);
  const services: ServiceRegistry = {
    namespacesOf: (host) => snapshot.services.filter((svc) => svc.hostname === host).map((svc) => svc.namespace),
  };
  s = { policies: snapshotPolicies(snapshot), mesh, services, providers: buildExtensionProviders(mesh.extensionProviders, services) };
  bySnapshot.set(snapshot, s);
  return s;
}

/** The authz input of a workload (a proxy's namespace and labels) under a snapshot. */
export function authzInputFor(snapshot: MeshSnapshot, workload: Workload): AuthzInput {
  const s = snapshotAuthz(snapshot);
  return {
    workload: { namespace: workload.namespace, labels: workload.labels },
    policies: s.policies,
    mesh: s.mesh,
    services: s.services,
    extensionProviders: s.providers,
  };
}

/** Whether any of `policies` applies to the proxy under the snapshot's root namespace. */
export function policiesSelect(policies: readonly AuthorizationPolicy[], proxy: Proxy, rootNamespace: string): boolean {
  const workload = { namespace: proxy.namespace, labels: proxy.labels };
  return policies.some((p) => selectsWorkload(p, workload, rootNamespace));
}

/**
 * The AuthorizationPolicies (old and new versions) that differ between two snapshots, or
 * undefined when something else in the uninterpreted kinds changed too.
 */
export function changedPolicies(prev: MeshSnapshot, next: MeshSnapshot): AuthorizationPolicy[] | undefined {
  const others = (s: MeshSnapshot): string =>
    digestOf([...s.others.entries()].filter(([kind]) => kind !== AUTHORIZATION_POLICY_KIND && !untranslatedKinds.has(kind)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([kind, list]) => [kind, list.map((a) => [a.object.metadata, a.spec])]));
  if (others(prev) !== others(next)) return undefined;
  const versions = (s: MeshSnapshot): Map<string, { policy: AuthorizationPolicy; digest: string }> =>
    new Map(snapshotPolicies(s).map((p) => [`${p.namespace}/${p.name}`, { policy: p, digest: digestOf([p.annotations, p.creationTimestamp ?? "", p.spec]) }]));
  const before = versions(prev);
  const after = versions(next);
  const out: AuthorizationPolicy[] = [];
  for (const [ref, now] of after) {
    const old = before.get(ref);
    if (old === undefined || old.digest !== now.digest) out.push(now.policy, ...(old ? [old.policy] : []));
  }
  for (const [ref, old] of before) if (!after.has(ref)) out.push(old.policy);
  return out;
}
