// Which proxies a new snapshot touches. A proxy is touched when a service or DestinationRule it
// can see changed (its clusters, routes, listeners or endpoints may differ) or when one of its own
// IPs joined or left a service (its inbound side differs), or when a kind in `others` changed and
// that kind says the proxy is concerned (AuthorizationPolicy: the proxies it selects), or when its
// own locality moved (locality load balancing ranks its endpoints from it). Mesh config
// and kinds that say nothing finer touch everyone.
import type { Proxy } from "./proxy.js";
import type { ProxyChange } from "../xds/types.js";
import type { DestinationRule, MeshSnapshot, Service } from "./snapshot.js";
import type { KindTouch } from "./kinds.js";
import { isExportedTo } from "./lookup.js";
import { workloadView } from "./placement.js";

interface Scope {
  readonly exportTo: readonly string[];
  readonly namespace: string;
}

function changedServices(prev: MeshSnapshot, next: MeshSnapshot): Service[] {
  const before = new Map(prev.services.map((s) => [s.key, s]));
  const after = new Map(next.services.map((s) => [s.key, s]));
  const out: Service[] = [];
  for (const [key, s] of after) {
    const old = before.get(key);
    if (old === undefined || old.digest !== s.digest || old.endpointsDigest !== s.endpointsDigest) {
      out.push(s);
      if (old !== undefined) out.push(old);
    }
  }
  for (const [key, s] of before) if (!after.has(key)) out.push(s);
  return out;
}

function changedRules(prev: MeshSnapshot, next: MeshSnapshot): DestinationRule[] {
  const before = new Map(prev.destinationRules.map((d) => [d.ref, d]));
  const after = new Map(next.destinationRules.map((d) => [d.ref, d]));
  const out: DestinationRule[] = [];
  for (const [ref, d] of after) {
    const old = before.get(ref);
    if (old === undefined || old.digest !== d.digest) out.push(d, ...(old ? [old] : []));
  }
  for (const [ref, d] of before) if (!after.has(ref)) out.push(d);
  return out;
}

/**
 * What the changed kinds of `others` touch, each as its registered scope says (the next
 * snapshot's kinds); undefined when one of them touches every proxy.
 */
function changedKinds(prev: MeshSnapshot, next: MeshSnapshot): KindTouch[] | undefined {
  const out: KindTouch[] = [];
  if (prev.othersDigest === next.othersDigest) return out;
  const kinds = new Set([...prev.othersDigestByKind.keys(), ...next.othersDigestByKind.keys()]);
  for (const kind of kinds) {
    if (prev.othersDigestByKind.get(kind) === next.othersDigestByKind.get(kind)) continue;
    const scope = next.kinds.scopeOf(kind);
    if (scope === "none" || scope === "model") continue;
    if (scope === "all") return undefined;
    const touch = scope(prev.others.get(kind) ?? [], next.others.get(kind) ?? [], next);
    if (touch?.all === true) return undefined;
    if (touch !== undefined) out.push(touch);
  }
  return out;
}

/**
 * Proxies whose own Pod or WorkloadEntry changed what translation reads of them though no service
 * did: their locality moved (their Pod's Node was relabelled, their Pod or WorkloadEntry appeared,
 * went or changed locality: EDS priorities and weights), or their Pod's labels changed (which
 * policies, Sidecars, Gateways and sourceLabels routes select them: placement.ts workloadView).
 * Keys `ns/pod` and `ns|ip`.
 */
function movedProxies(prev: MeshSnapshot, next: MeshSnapshot): Set<string> {
  const out = new Set<string>();
  const diff = (before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>, key: (k: string) => string): void => {
    for (const [k, l] of after) if ((before.get(k) ?? "") !== l) out.add(key(k));
    for (const [k, l] of before) if ((after.get(k) ?? "") !== l) out.add(key(k));
  };
  const a = placementInputs(prev);
  const b = placementInputs(next);
  if (prev.allPods !== next.allPods) diff(a.pods, b.pods, (k) => k.slice(k.indexOf("|") + 1));
  if (prev.workloads !== next.workloads) diff(a.entries, b.entries, (k) => k);
  return out;
}

/** What movedProxies compares, once per snapshot (each snapshot is compared twice: as next, then as prev). */
const placementMemo = new WeakMap<MeshSnapshot, { readonly pods: ReadonlyMap<string, string>; readonly entries: ReadonlyMap<string, string> }>();

function placementInputs(s: MeshSnapshot): { readonly pods: ReadonlyMap<string, string>; readonly entries: ReadonlyMap<string, string> } {
  let m = placementMemo.get(s);
  if (m === undefined) {
    m = {
      pods: new Map(s.allPods.map((p) => [`${p.cluster}|${p.namespace}/${p.name}`, `${p.locality ?? ""}#${labelsKey(p.labels)}`])),
      entries: new Map(s.workloads.map((w) => [`${w.namespace}|${w.spec.address}`, w.spec.locality ?? ""])),
    };
    placementMemo.set(s, m);
  }
  return m;
}

function labelsKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(",");
}

/** `undefined` when no proxy's resources can differ between the two snapshots. */
export function snapshotChange(prev: MeshSnapshot, next: MeshSnapshot): ProxyChange | undefined {
  if (prev.meshDigest !== next.meshDigest) return { all: true };
  const policies = changedKinds(prev, next);
  if (policies === undefined) return { all: true };
  const services = changedServices(prev, next);
  const rules = changedRules(prev, next);
  const moved = movedProxies(prev, next);
  if (services.length === 0 && rules.length === 0 && policies.length === 0 && moved.size === 0) return undefined;
  const scopes: Scope[] = [
    ...services.map((s) => ({ exportTo: s.exportTo, namespace: s.namespace })),
    ...rules.map((d) => ({ exportTo: d.spec.exportTo, namespace: d.namespace })),
  ];
  const endpointIps = new Set(services.flatMap((s) => s.endpoints.map((e) => e.address)));
  return {
    all: false,
    affects(proxy: Proxy): boolean {
      if (proxy.ips.some((ip) => endpointIps.has(ip))) return true;
      if (moved.has(`${proxy.namespace}/${proxy.podName}`) || proxy.ips.some((ip) => moved.has(`${proxy.namespace}|${ip}`))) return true;
      // Selection by labels: what the proxy claims and what its Pod has (translation reads the Pod's).
      if (policies.some((t) => !t.all && (t.affects(proxy) || t.affects(workloadView(next, proxy))))) return true;
      return scopes.some((s) => isExportedTo(s.exportTo, s.namespace, proxy.namespace));
    },
  };
}
