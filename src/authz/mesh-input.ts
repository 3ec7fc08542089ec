// The authz translator's input taken from a mesh snapshot: admitted policies, the MeshConfig
// fields authz reads, the service registry and built extension providers, computed once per
// snapshot and shared by every proxy translated from it.
import type { AcceptedObject, MeshSnapshot } from "../model/snapshot.js";
import type { Proxy } from "../model/proxy.js";
import type { MeshConfig } from "../model/mesh-config.js";
import { AUTHORIZATION_POLICY_KIND, type AuthorizationPolicy, type AuthorizationPolicySpec, authorizationPolicyOf } from "./policy.js";
import { type AuthzMeshConfig, readExtensionProviders } from "./mesh-config.js";
import type { ServiceRegistry } from "./services.js";
import { type BuiltExtAuthz, buildExtensionProviders } from "./ext-authz.js";
import type { AuthzInput } from "./filters.js";
import { selectsWorkload, type Workload } from "./select.js";
import { digestOf } from "../model/digest.js";

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

/** The AuthorizationPolicies (old and new versions) that differ between two lists of accepted ones. */
export function changedPolicies(before: readonly AcceptedObject[], after: readonly AcceptedObject[]): AuthorizationPolicy[] {
  const versions = (list: readonly AcceptedObject[]): Map<string, { policy: AuthorizationPolicy; digest: string }> =>
    new Map(
      list.map((a) => {
        const p = authorizationPolicyOf(a.object, a.spec as AuthorizationPolicySpec);
        return [`${p.namespace}/${p.name}`, { policy: p, digest: digestOf([p.annotations, p.creationTimestamp ?? "", p.spec]) }];
      }),
    );
  const was = versions(before);
  const now = versions(after);
  const out: AuthorizationPolicy[] = [];
  for (const [ref, n] of now) {
    const old = was.get(ref);
    if (old === undefined || old.digest !== n.digest) out.push(n.policy, ...(old ? [old.policy] : []));
  }
  for (const [ref, old] of was) if (!now.has(ref)) out.push(old.policy);
  return out;
}
