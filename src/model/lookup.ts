// Questions translators ask of a snapshot on behalf of one proxy, answered the way istiod's
// SidecarScope and PushContext answer them (visibility by exportTo, DestinationRule lookup).
import type { Proxy } from "./proxy.js";
import { importedPorts, scopeImports, sidecarScope } from "./sidecar-scope.js";
import { placeProxy } from "./placement.js";
import type { ServicePortSpec } from "./service-entry.js";
import type { DestinationRule, MeshSnapshot, Service, ServiceEndpoint } from "./snapshot.js";

/** exportTo semantics: `*` everyone, `.` own namespace, otherwise the named namespaces. */
export function isExportedTo(exportTo: readonly string[], ownerNamespace: string, namespace: string): boolean {
  return exportTo.some((e) => e === "*" || e === namespace || (e === "." && ownerNamespace === namespace));
}

/**
 * The services a proxy sees, one per hostname: those exported to its namespace and imported by
 * the Sidecar that applies to it (sidecar-scope.ts); its own namespace's declaration wins a
 * hostname clash, otherwise the first by namespace (Istio picks the oldest).
 */
export function visibleServices(snapshot: MeshSnapshot, proxy: Proxy): Service[] {
  const namespace = proxy.namespace;
  const cluster = hasClusterAddresses(snapshot) ? placeProxy(snapshot, proxy).cluster : undefined;
  const scope = sidecarScope(snapshot, proxy);
  const out = new Map<string, Service>();
  for (const s of snapshot.services) {
    if (!isExportedTo(s.exportTo, s.namespace, namespace) || !scopeImports(scope, s, namespace)) continue;
    const seen = out.get(s.hostname);
    if (seen === undefined || (seen.namespace !== namespace && s.namespace === namespace)) out.set(s.hostname, s);
  }
  return [...out.values()].flatMap((s) => {
    const ports = importedPorts(scope, s, s.ports, namespace);
    if (ports.length === 0) return [];
    const own = cluster === undefined ? s : inCluster(s, cluster);
    return [ports === s.ports ? own : withPorts(own, ports)];
  });
}

const clusterAddressesUsed = new WeakMap<MeshSnapshot, boolean>();

/** Whether some service has addresses per cluster: then a proxy's cluster decides what it sees. */
export function hasClusterAddresses(snapshot: MeshSnapshot): boolean {
  let v = clusterAddressesUsed.get(snapshot);
  if (v === undefined) clusterAddressesUsed.set(snapshot, (v = snapshot.services.some((s) => s.clusterAddresses !== undefined)));
  return v;
}

/** A Service with ClusterIPs per cluster makes listeners and routes depend on the proxy's cluster: a part of translation keys. */
export function clusterKey(snapshot: MeshSnapshot, proxy: Proxy): string {
  return hasClusterAddresses(snapshot) ? `cluster=${placeProxy(snapshot, proxy).cluster}|` : "";
}

const byCluster = new WeakMap<Service, Map<string, Service>>();

/**
 * The service as a proxy in `cluster` sees it: with that cluster's ClusterIPs when it has the
 * Service (istiod's GetAddressForProxy), else the first cluster's; one object per cluster.
 */
function inCluster(s: Service, cluster: string): Service {
  const own = s.clusterAddresses?.get(cluster);
  if (own === undefined || (own.length === s.addresses.length && own.every((a, i) => a === s.addresses[i]))) return s;
  let m = byCluster.get(s);
  if (m === undefined) byCluster.set(s, (m = new Map()));
  let out = m.get(cluster);
  if (out === undefined) m.set(cluster, (out = { ...s, addresses: own, digest: `${s.digest}#cluster:${cluster}` }));
  return out;
}

const narrowed = new WeakMap<Service, Map<string, Service>>();

/** The service with only some of its ports (a port-bound Sidecar egress listener), one object per port set. */
export function withPorts(s: Service, ports: readonly ServicePortSpec[]): Service {
  if (ports.length === s.ports.length) return s; // a filter of its ports that kept them all
  const id = ports.map((p) => p.number).join(",");
  let byPorts = narrowed.get(s);
  if (byPorts === undefined) narrowed.set(s, (byPorts = new Map()));
  let out = byPorts.get(id);
  if (out === undefined) byPorts.set(id, (out = { ...s, ports, digest: `${s.digest}#ports:${id}` }));
  return out;
}

/** The DR hosts that can match `hostname`: itself, then `*.suffix` patterns, most specific first, then `*`. */
function hostPatterns(hostname: string): string[] {
  const out = [hostname];
  for (let i = hostname.indexOf("."); i >= 0; i = hostname.indexOf(".", i + 1)) out.push(`*${hostname.slice(i)}`);
  out.push("*");
  return out;
}

/**
 * The DestinationRule for a service as seen from `namespace`: the proxy's namespace first, then
 * the service's, then the root namespace; within one, the most specific host wins.
 */
export function destinationRuleFor(snapshot: MeshSnapshot, namespace: string, service: Service): DestinationRule | undefined {
  if (snapshot.destinationRulesByHost.size === 0) return undefined;
  const candidates = hostPatterns(service.hostname).flatMap((h) =>
    (snapshot.destinationRulesByHost.get(h) ?? []).filter((dr) => isExportedTo(dr.spec.exportTo, dr.namespace, namespace)),
  );
  for (const ns of [namespace, service.namespace, snapshot.mesh.rootNamespace]) {
    const first = candidates.find((dr) => dr.namespace === ns);
    if (first !== undefined) return first;
  }
  return undefined;
}

/** An inbound target: a service port this proxy serves, and the port it listens on. */
export interface ServiceTarget {
  readonly service: Service;
  readonly port: ServicePortSpec;
  readonly endpoint: ServiceEndpoint;
  readonly targetPort: number;
}

/**
 * The service ports whose endpoints carry one of the proxy's IPs, sorted by target port. Only
 * services of the proxy's own namespace count (istiod's ServiceEntry GetProxyServiceTargets): a
 * proxy announces its IPs itself, and must not receive another namespace's inbound config by
 * claiming one of its workloads' addresses.
 */
export function serviceTargets(snapshot: MeshSnapshot, proxy: Pick<Proxy, "ips" | "namespace">): ServiceTarget[] {
  const out: ServiceTarget[] = [];
  for (const ip of new Set(proxy.ips)) {
    for (const { service, endpoint } of snapshot.endpointsByIp.get(ip) ?? []) {
      if (service.namespace !== proxy.namespace) continue;
      for (const port of service.ports) {
        out.push({ service, port, endpoint, targetPort: endpoint.targetPorts[port.number] ?? port.number });
      }
    }
  }
  return out.sort((a, b) => a.targetPort - b.targetPort || (a.service.key < b.service.key ? -1 : 1));
}

export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The service's endpoints in a subset (all endpoints without one). */
export function subsetEndpoints(service: Service, subsetLabels: Readonly<Record<string, string>> | undefined): readonly ServiceEndpoint[] {
  return subsetLabels === undefined ? service.endpoints : service.endpoints.filter((e) => labelsMatch(subsetLabels, e.labels));
}
