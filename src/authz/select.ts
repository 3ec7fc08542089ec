// Which AuthorizationPolicies apply to one workload, as istiod lists them: policies of the root
// namespace (mesh-wide) and of the workload's namespace, whose `selector.matchLabels` is a subset
// of the workload's labels (no selector = every workload there). Sidecars and proxyless gRPC
// ignore policies with targetRef(s). Each namespace's policies are ordered by creation time.
import type { AuthorizationPolicy } from "./policy.js";

export interface Workload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface PoliciesForWorkload {
  readonly custom: AuthorizationPolicy[];
  readonly deny: AuthorizationPolicy[];
  readonly allow: AuthorizationPolicy[];
  readonly audit: AuthorizationPolicy[];
}

/** Oldest first; ties by name then namespace, istiod's deterministic order. */
export function compareByCreation(a: AuthorizationPolicy, b: AuthorizationPolicy): number {
  const ta = a.creationTimestamp === undefined ? 0 : Date.parse(a.creationTimestamp) || 0;
  const tb = b.creationTimestamp === undefined ? 0 : Date.parse(b.creationTimestamp) || 0;
  if (ta !== tb) return ta - tb;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

export function appliesToWorkload(p: AuthorizationPolicy, workload: Workload): boolean {
  if (p.spec.targetRef !== undefined || (p.spec.targetRefs?.length ?? 0) > 0) return false;
  const labels = p.spec.selector?.matchLabels ?? {};
  return Object.entries(labels).every(([k, v]) => workload.labels[k] === v);
}

/**
 * Whether a policy applies to the workload: the predicate a push uses to find the proxies a policy
 * change touches (those selected by the old or the new version).
 */
export function selectsWorkload(p: AuthorizationPolicy, workload: Workload, rootNamespace: string): boolean {
  return (p.namespace === workload.namespace || (rootNamespace !== "" && p.namespace === rootNamespace)) && appliesToWorkload(p, workload);
}

/** Policies by namespace, oldest first; built once per policy list (a snapshot's list is shared by all its proxies). */
const byNamespaceCache = new WeakMap<readonly AuthorizationPolicy[], Map<string, AuthorizationPolicy[]>>();

function byNamespace(policies: readonly AuthorizationPolicy[]): Map<string, AuthorizationPolicy[]> {
  let index = byNamespaceCache.get(policies);
  if (index !== undefined) return index;
  index = new Map();
  for (const p of policies) {
    const list = index.get(p.namespace) ?? [];
    list.push(p);
    index.set(p.namespace, list);
  }
  for (const list of index.values()) list.sort(compareByCreation);
  byNamespaceCache.set(policies, index);
  return index;
}

export function selectPolicies(policies: readonly AuthorizationPolicy[], workload: Workload, rootNamespace: string): PoliciesForWorkload {
  const out: PoliciesForWorkload = { custom: [], deny: [], allow: [], audit: [] };
  const index = byNamespace(policies);
  const namespaces = rootNamespace === workload.namespace || rootNamespace === "" ? [workload.namespace] : [rootNamespace, workload.namespace];
  for (const ns of namespaces) {
    for (const p of index.get(ns) ?? []) {
      if (!appliesToWorkload(p, workload)) continue;
      const bucket = p.spec.action === "ALLOW" ? out.allow : p.spec.action === "DENY" ? out.deny : p.spec.action === "AUDIT" ? out.audit : out.custom;
      bucket.push(p);
    }
  }
  return out;
}
