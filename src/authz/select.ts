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

export function selectPolicies(policies: readonly AuthorizationPolicy[], workload: Workload, rootNamespace: string): PoliciesForWorkload {
  const out: PoliciesForWorkload = { custom: [], deny: [], allow: [], audit: [] };
  const namespaces = rootNamespace === workload.namespace || rootNamespace === "" ? [workload.namespace] : [rootNamespace, workload.namespace];
  for (const ns of namespaces) {
    const selected = policies.filter((p) => p.namespace === ns && appliesToWorkload(p, workload)).sort(compareByCreation);
    for (const p of selected) {
      const bucket = p.spec.action === "ALLOW" ? out.allow : p.spec.action === "DENY" ? out.deny : p.spec.action === "AUDIT" ? out.audit : out.custom;
      bucket.push(p);
    }
  }
  return out;
}
