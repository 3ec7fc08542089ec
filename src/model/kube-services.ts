// The Kubernetes service registry, read the way istiod's (pilot/pkg/serviceregistry/kube) reads
// it: a Service is the host `<svc>.<ns>.svc.<domain>` on its ClusterIPs (headless: the pods
// themselves, original destination); its endpoints are the ready addresses of its EndpointSlices,
// each carrying its pod's labels and service account as the workload's; a targetPort is the
// slice's port of the same name, else a number, else the pod's container port of that name.
//
// Several clusters (namespace sameness, as Istio's multi-cluster): a Service `<svc>.<ns>` in
// several clusters is one host whose endpoints come from every cluster's slices, each endpoint
// resolved against its own cluster's pods and nodes and labelled with its cluster and network
// (`topology.istio.io/cluster`, `topology.istio.io/network`); the first cluster's Service (the
// control plane's own, sources being ordered) gives the ports and addresses.
//
// Rebuilt per snapshot, but a Service whose inputs (its specs, its slices, the pods and nodes they
// name) are the same objects as in the last build keeps its Service object and digests.
import { isIP } from "node:net";
import { type ConfigError, objectRef } from "./config.js";
import type { AcceptedObject, Service, ServiceEndpoint } from "./snapshot.js";
import type { EndpointSliceSpec, KubeNodeSpec, KubePodSpec, KubeServiceSpec } from "./kube-objects.js";
import type { ServicePortSpec } from "./service-entry.js";
import type { WorkloadIdentity } from "../security/identity.js";
import { digestOf } from "./digest.js";
import { localityLabels, parseLocality, POD_LOCALITY_LABEL, REGION_LABEL, SUBZONE_LABEL, ZONE_LABEL } from "./locality.js";
import { CLUSTER_LABEL, DEFAULT_GATEWAY_PORT, GATEWAY_PORT_LABEL, meshNetworkOf, NETWORK_LABEL, type MeshNetwork, type NetworkGateway } from "./networks.js";

/** A pod as the mesh knows it from the apiserver: its addresses, node and identity. */
export interface KubePod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly cluster: string;
  /** Its network (pod label, namespace label, cluster, meshNetworks); absent in a flat mesh. */
  readonly network?: string;
  readonly ips: readonly string[];
  readonly node?: string;
  /** `region/zone/subzone` from its `istio-locality` label, else its Node's topology labels. */
  readonly locality?: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface KubeRegistryInput {
  readonly services: readonly AcceptedObject<KubeServiceSpec>[];
  readonly slices: readonly AcceptedObject<EndpointSliceSpec>[];
  readonly pods: readonly AcceptedObject<KubePodSpec>[];
  readonly nodes: readonly AcceptedObject<KubeNodeSpec>[];
  /** Namespaces (their labels: `topology.istio.io/network`). */
  readonly namespaces?: readonly AcceptedObject<KubeNodeSpec>[];
  readonly trustDomain: string;
  readonly meshNetworks?: readonly MeshNetwork[];
  /** The control plane's namespace in each cluster: its network label is the cluster's network (default istio-system). */
  readonly systemNamespace?: string;
}

export interface KubeRegistry {
  readonly services: readonly Service[];
  /**
   * Endpoints that are not ready, with their service: left out of every peer's EDS, but their own
   * proxy still serves the Service (istiod finds a proxy's services from its Pod, not from
   * readiness), so a pod that turns unready keeps its inbound listeners and can become ready again.
   */
  readonly unready: readonly { readonly service: Service; readonly endpoint: ServiceEndpoint }[];
  /** Pods by `namespace/name` (the first cluster's when two clusters have one of that name). */
  readonly pods: ReadonlyMap<string, KubePod>;
  /** Every cluster's pods. */
  readonly allPods: readonly KubePod[];
  /** East-west gateways by network. */
  readonly gateways: ReadonlyMap<string, readonly NetworkGateway[]>;
}

interface CachedService {
  readonly inputs: readonly unknown[];
  readonly service: Service;
  readonly unready: readonly ServiceEndpoint[];
}

/** Last build's services by `namespace/name`: the incremental part. */
let cache = new Map<string, CachedService>();

const sameInputs = (a: readonly unknown[], b: readonly unknown[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

const clusterOf = (a: AcceptedObject): string => a.object.origin.cluster ?? "";

/**
 * istiod's getPodLocality: the Pod's `istio-locality` label (parts separated by `.`), else its
 * Node's region, zone (the GA labels, else the beta failure-domain ones) and subzone labels.
 */
function locality(podLabels: Readonly<Record<string, string>> | undefined, node: KubeNodeSpec | undefined, zone: string | undefined): string | undefined {
  const own = podLabels?.[POD_LOCALITY_LABEL];
  if (own !== undefined && own !== "") return own.replaceAll(".", "/");
  const region = node?.labels[REGION_LABEL] ?? node?.labels["failure-domain.beta.kubernetes.io/region"];
  const z = zone ?? node?.labels[ZONE_LABEL] ?? node?.labels["failure-domain.beta.kubernetes.io/zone"];
  const subzone = node?.labels[SUBZONE_LABEL];
  if (region === undefined && z === undefined) return undefined;
  return [region ?? "", z ?? "", ...(subzone !== undefined ? [subzone] : [])].join("/");
}

function servicePorts(spec: KubeServiceSpec): ServicePortSpec[] {
  return spec.ports.map((p) => ({
    number: p.port,
    protocol: p.protocol,
    name: p.name,
    ...(typeof p.targetPort === "number" ? { targetPort: p.targetPort } : {}),
  }));
}

/** One cluster's objects, looked up by name or address. */
interface ClusterLookups {
  readonly podSpecs: Map<string, AcceptedObject<KubePodSpec>>;
  readonly podsByIp: Map<string, AcceptedObject<KubePodSpec>>;
  readonly nodes: Map<string, KubeNodeSpec>;
  readonly namespaces: Map<string, KubeNodeSpec>;
}

interface Lookups {
  readonly clusters: ReadonlyMap<string, ClusterLookups>;
  readonly trustDomain: string;
  readonly networkOf: (cluster: string, namespace: string, pod: AcceptedObject<KubePodSpec> | undefined, address: string) => string | undefined;
}

export function buildKubeRegistry(input: KubeRegistryInput, errors: ConfigError[]): KubeRegistry {
  const clusters = new Map<string, ClusterLookups>();
  const lookupsOf = (cluster: string): ClusterLookups => {
    let l = clusters.get(cluster);
    if (l === undefined) clusters.set(cluster, (l = { podSpecs: new Map(), podsByIp: new Map(), nodes: new Map(), namespaces: new Map() }));
    return l;
  };
  for (const n of input.nodes) lookupsOf(clusterOf(n)).nodes.set(n.object.metadata.name, n.spec);
  for (const n of input.namespaces ?? []) lookupsOf(clusterOf(n)).namespaces.set(n.object.metadata.name, n.spec);
  const meshNetworks = input.meshNetworks ?? [];
  const systemNamespace = input.systemNamespace ?? "istio-system";
  const networkOf = (cluster: string, namespace: string, pod: AcceptedObject<KubePodSpec> | undefined, address: string): string | undefined => {
    const l = clusters.get(cluster);
    return (
      pod?.object.metadata.labels[NETWORK_LABEL] ??
      l?.namespaces.get(namespace)?.labels[NETWORK_LABEL] ??
      l?.namespaces.get(systemNamespace)?.labels[NETWORK_LABEL] ??
      meshNetworkOf(meshNetworks, cluster, address)
    );
  };
  const pods = new Map<string, KubePod>();
  const allPods: KubePod[] = [];
  for (const a of input.pods) {
    const m = a.object.metadata;
    const key = `${m.namespace}/${m.name}`;
    const cluster = clusterOf(a);
    const l = lookupsOf(cluster);
    l.podSpecs.set(key, a);
    for (const ip of a.spec.ips) l.podsByIp.set(ip, a);
    const network = networkOf(cluster, m.namespace, a, a.spec.ips[0] ?? "");
    const where = locality(m.labels, l.nodes.get(a.spec.nodeName ?? ""), undefined);
    const pod: KubePod = {
      namespace: m.namespace,
      name: m.name,
      uid: m.uid ?? "",
      cluster,
      ...(network !== undefined ? { network } : {}),
      ips: a.spec.ips,
      ...(a.spec.nodeName !== undefined ? { node: a.spec.nodeName } : {}),
      ...(where !== undefined ? { locality: where } : {}),
      serviceAccount: a.spec.serviceAccount,
      labels: m.labels,
    };
    allPods.push(pod);
    if (!pods.has(key)) pods.set(key, pod);
  }
  const slicesByService = new Map<string, AcceptedObject<EndpointSliceSpec>[]>();
  for (const s of input.slices) {
    const key = `${s.object.metadata.namespace}/${s.spec.serviceName}`;
    const list = slicesByService.get(key);
    if (list) list.push(s);
    else slicesByService.set(key, [s]);
  }
  // One host per `namespace/name`, from every cluster that has the Service (sources in order).
  const sameName = new Map<string, AcceptedObject<KubeServiceSpec>[]>();
  for (const svc of input.services) {
    const key = `${svc.object.metadata.namespace}/${svc.object.metadata.name}`;
    const list = sameName.get(key);
    if (list) list.push(svc);
    else sameName.set(key, [svc]);
  }
  const lookups: Lookups = { clusters, trustDomain: input.trustDomain, networkOf };
  const next = new Map<string, CachedService>();
  const services: Service[] = [];
  const unready: { service: Service; endpoint: ServiceEndpoint }[] = [];
  for (const [key, svcs] of sameName) {
    const svc = svcs[0]!;
    if (svc.spec.externalName !== undefined) {
      errors.push({ file: svc.object.origin.file, object: objectRef(svc.object), path: "spec.type", message: "ExternalName Services are not served yet; ignored", severity: "warning" });
      continue;
    }
    const ns = svc.object.metadata.namespace;
    // A cluster's slices count where that cluster has the Service too.
    const specByCluster = new Map(svcs.map((x) => [clusterOf(x), x.spec]));
    const slices = (slicesByService.get(key) ?? []).filter((s) => specByCluster.has(clusterOf(s)));
    // Everything this service's translation reads, by identity (objects are immutable).
    const inputs: unknown[] = [...svcs.map((x) => x.spec), input.trustDomain, meshNetworks];
    for (const s of slices) {
      const l = clusters.get(clusterOf(s));
      inputs.push(s.spec, l?.namespaces.get(ns), l?.namespaces.get(systemNamespace));
      for (const e of s.spec.endpoints) {
        const pod = e.pod !== undefined ? l?.podSpecs.get(`${ns}/${e.pod}`) : l?.podsByIp.get(e.addresses[0] ?? "");
        inputs.push(pod?.spec, pod?.object.metadata.labels, l?.nodes.get(e.nodeName ?? pod?.spec.nodeName ?? ""));
      }
    }
    const before = cache.get(key);
    const built = before !== undefined && sameInputs(before.inputs, inputs) ? before : { inputs, ...kubeService(svc, specByCluster, slices, lookups) };
    next.set(key, built);
    services.push(built.service);
    for (const endpoint of built.unready) unready.push({ service: built.service, endpoint });
  }
  cache = next;
  return { services, unready, pods, allPods, gateways: networkGateways(input.services, meshNetworks) };
}

/** East-west gateways: Services labelled with their network, and meshNetworks' gateways. */
function networkGateways(services: readonly AcceptedObject<KubeServiceSpec>[], meshNetworks: readonly MeshNetwork[]): Map<string, NetworkGateway[]> {
  const out = new Map<string, NetworkGateway[]>();
  const add = (g: NetworkGateway): void => {
    if (isIP(g.address) === 0) return; // EDS carries IP literals only
    const list = out.get(g.network) ?? [];
    if (!list.some((x) => x.address === g.address && x.port === g.port)) list.push(g);
    out.set(g.network, list);
  };
  for (const svc of services) {
    const network = svc.object.metadata.labels[NETWORK_LABEL];
    if (network === undefined || network === "") continue;
    const port = Number(svc.object.metadata.labels[GATEWAY_PORT_LABEL] ?? DEFAULT_GATEWAY_PORT);
    for (const address of svc.spec.externalAddresses) add({ network, address, port, source: `${objectRef(svc.object)} @${clusterOf(svc)}` });
  }
  for (const n of meshNetworks) {
    for (const g of n.gateways) {
      if ("address" in g) {
        add({ network: n.name, address: g.address, port: g.port, source: `meshNetworks.networks.${n.name}` });
        continue;
      }
      for (const svc of services) {
        if (svc.spec.hostname !== g.registryServiceName) continue;
        if (n.fromRegistry.length > 0 && !n.fromRegistry.includes(clusterOf(svc))) continue;
        for (const address of svc.spec.externalAddresses) add({ network: n.name, address, port: g.port, source: `meshNetworks.networks.${n.name} (${objectRef(svc.object)} @${clusterOf(svc)})` });
      }
    }
  }
  return out;
}

function kubeService(
  svc: AcceptedObject<KubeServiceSpec>,
  specByCluster: ReadonlyMap<string, KubeServiceSpec>,
  slices: readonly AcceptedObject<EndpointSliceSpec>[],
  l: Lookups,
): { service: Service; unready: ServiceEndpoint[] } {
  const ns = svc.object.metadata.namespace;
  const spec = svc.spec;
  const ports = servicePorts(spec);
  const endpoints: ServiceEndpoint[] = [];
  const unready: ServiceEndpoint[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    if (slice.spec.addressType === "FQDN") continue;
    const cluster = clusterOf(slice);
    const c = l.clusters.get(cluster);
    const clusterSpec = specByCluster.get(cluster) ?? spec;
    for (const e of slice.spec.endpoints) {
      const pod = e.pod !== undefined ? c?.podSpecs.get(`${ns}/${e.pod}`) : c?.podsByIp.get(e.addresses[0] ?? "");
      const identity: WorkloadIdentity = { trustDomain: l.trustDomain, namespace: ns, serviceAccount: pod?.spec.serviceAccount ?? "default" };
      const where = locality(pod?.object.metadata.labels, c?.nodes.get(e.nodeName ?? pod?.spec.nodeName ?? ""), e.zone);
      for (const address of e.addresses) {
        // Two slices may carry one address during a slice rebalancing: serve it once.
        if (seen.has(address) || (!e.ready && endpoints.some((x) => x.address === address))) continue;
        seen.add(address);
        const targetPorts: Record<number, number> = {};
        for (const port of spec.ports) {
          const own = clusterSpec.ports.find((p) => p.port === port.port) ?? port;
          const named = typeof own.targetPort === "string" ? pod?.spec.namedPorts[own.targetPort] : undefined;
          targetPorts[port.port] = slice.spec.ports[own.name] ?? (typeof own.targetPort === "number" ? own.targetPort : named) ?? port.port;
        }
        const network = l.networkOf(cluster, ns, pod, address);
        // Istio's AugmentLabels: subsets, policies and failoverPriority can select by locality, cluster and network.
        const labels = { ...(pod?.object.metadata.labels ?? {}), ...localityLabels(parseLocality(where)), ...(cluster !== "" ? { [CLUSTER_LABEL]: cluster } : {}), ...(network !== undefined ? { [NETWORK_LABEL]: network } : {}) };
        (e.ready ? endpoints : unready).push({
          address,
          targetPorts,
          labels,
          ...(cluster !== "" ? { cluster } : {}),
          ...(network !== undefined ? { network } : {}),
          ...(where !== undefined ? { locality: where } : {}),
          weight: 1,
          identity,
          ...(pod !== undefined ? { workload: `Pod ${ns}/${pod.object.metadata.name}` } : {}),
        });
      }
    }
  }
  endpoints.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const identities = [...new Map(endpoints.map((e) => [`${e.identity.namespace}/${e.identity.serviceAccount}`, e.identity])).values()];
  const addresses = spec.headless ? [] : spec.clusterIPs;
  // One Service in several clusters has a ClusterIP in each (istiod's ClusterVIPs).
  const clusterAddresses = specByCluster.size > 1 ? new Map([...specByCluster].map(([c, s]) => [c, s.headless ? [] : s.clusterIPs] as const)) : undefined;
  const shape = { ports, addresses, clusterAddresses: clusterAddresses && [...clusterAddresses], location: "MESH_INTERNAL", resolution: spec.headless ? "NONE" : "STATIC", exportTo: spec.exportTo };
  const service: Service = {
    key: `${ns}/${spec.hostname}`,
    hostname: spec.hostname,
    namespace: ns,
    source: objectRef(svc.object),
    ports,
    addresses,
    ...(clusterAddresses !== undefined ? { clusterAddresses } : {}),
    location: "MESH_INTERNAL",
    resolution: spec.headless ? "NONE" : "STATIC",
    exportTo: spec.exportTo,
    endpoints,
    identities,
    digest: digestOf({ hostname: spec.hostname, ns, shape, identities }),
    // Unready endpoints count: their own proxies' inbound side depends on them.
    endpointsDigest: digestOf([endpoints, unready.map((e) => e.address)]),
  };
  return { service, unready };
}
