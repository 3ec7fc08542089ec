// What ext_authz needs of the service registry: which namespaces define a host name, so an
// extension provider's `service` ("ns/host" or "host") resolves to an outbound cluster.
import type { ConfigObject } from "../model/config.js";

export interface ServiceRegistry {
  /** Namespaces that define a service with this exact host name. */
  namespacesOf(hostname: string): readonly string[];
}

export const EMPTY_SERVICE_REGISTRY: ServiceRegistry = { namespacesOf: () => [] };

/**
 * A registry from ServiceEntry hosts and Kubernetes Services (`<name>.<ns>.svc.<domain>`).
 * The mesh model will provide its own; this serves `meshward x authz` and tests.
 */
export function serviceRegistryFromConfig(objects: readonly ConfigObject[], domainSuffix = "cluster.local"): ServiceRegistry {
  const index = new Map<string, Set<string>>();
  const add = (host: string, ns: string): void => {
    const set = index.get(host) ?? new Set<string>();
    set.add(ns);
    index.set(host, set);
  };
  for (const o of objects) {
    const ns = o.metadata.namespace;
    if (o.kind === "ServiceEntry" && o.apiVersion.startsWith("networking.istio.io/")) {
      const hosts = (o.spec as { hosts?: unknown } | null)?.hosts;
      if (Array.isArray(hosts)) for (const h of hosts) if (typeof h === "string") add(h, ns);
    } else if (o.kind === "Service" && o.apiVersion === "v1") {
      add(`${o.metadata.name}.${ns}.svc.${domainSuffix}`, ns);
    }
  }
  return { namespacesOf: (host) => [...(index.get(host) ?? [])].sort() };
}

/** Istio's outbound cluster name `outbound|<port>|<subset>|<host>`. */
export function outboundClusterName(host: string, port: number, subset = ""): string {
  return `outbound|${port}|${subset}|${host}`;
}

/** Resolves a provider's `service` to its host name and outbound cluster, as istiod's LookupCluster does. */
export function lookupCluster(registry: ServiceRegistry, service: string, port: number): { hostname: string; cluster: string } | { error: string } {
  if (service === "") return { error: "service must not be empty" };
  const parts = service.split("/");
  if (parts.length === 2) {
    const [ns, host] = parts as [string, string];
    if (registry.namespacesOf(host).includes(ns)) return { hostname: host, cluster: outboundClusterName(host, port) };
  } else {
    const namespaces = registry.namespacesOf(service);
    if (namespaces.length === 1) return { hostname: service, cluster: outboundClusterName(service, port) };
    if (namespaces.length > 1) {
      return { error: `found ${service} in multiple namespaces ${namespaces.join(", ")}, specify the namespace explicitly in the format of <Namespace>/<Hostname>` };
    }
  }
  return { error: `could not find service ${service} in Istio service registry` };
}
