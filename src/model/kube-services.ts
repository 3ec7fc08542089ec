// The Kubernetes service registry, read the way istiod's (pilot/pkg/serviceregistry/kube) reads
// it: a Service is the host `<svc>.<ns>.svc.<domain>` on its ClusterIPs (headless: the pods
// themselves, original destination); its endpoints are the ready addresses of its EndpointSlices,
// each carrying its pod's labels and service account as the workload's; a targetPort is the
// slice's port of the same name, else a number, else the pod's container port of that name.
//
// Rebuilt per snapshot, but a Service whose inputs (its spec, its slices, the pods and nodes they
// name) are the same objects as in the last build keeps its Service object and digests.
import { type ConfigError, objectRef } from "./config.js";
import type { AcceptedObject, Service, ServiceEndpoint } from "./snapshot.js";
import type { EndpointSliceSpec, KubeNodeSpec, KubePodSpec, KubeServiceSpec } from "./kube-objects.js";
import type { ServicePortSpec } from "./service-entry.js";
import type { WorkloadIdentity } from "../security/identity.js";
import { digestOf } from "./digest.js";

/** A pod as the mesh knows it from the apiserver: its addresses, node and identity. */
export interface KubePod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly cluster: string;
  readonly ips: readonly string[];
  readonly node?: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface KubeRegistryInput {
  readonly services: readonly AcceptedObject<KubeServiceSpec>[];
  readonly slices: readonly AcceptedObject<EndpointSliceSpec>[];
  readonly pods: readonly AcceptedObject<KubePodSpec>[];
  readonly nodes: readonly AcceptedObject<KubeNodeSpec>[];
  readonly trustDomain: string;
}

export interface KubeRegistry {
  readonly services: readonly Service[];
  /**
   * Endpoints that are not ready, with their service: left out of every peer's EDS, but their own
   * proxy still serves the Service (istiod finds a proxy's services from its Pod, not from
   * readiness), so a pod that turns unready keeps its inbound listeners and can become ready again.
   */
  readonly unready: readonly { readonly service: Service; readonly endpoint: ServiceEndpoint }[];
  /** Pods by `namespace/name`. */
  readonly pods: ReadonlyMap<string, KubePod>;
}

interface CachedService {
  readonly inputs: readonly unknown[];
  readonly service: Service;
  readonly unready: readonly ServiceEndpoint[];
}

/** Last build's services by `namespace/name`: the incremental part. */
let cache = new Map<string, CachedService>();

const sameInputs = (a: readonly unknown[], b: readonly unknown[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function locality(node: KubeNodeSpec | undefined, zone: string | undefined): string | undefined {
  const region = node?.labels["topology.kubernetes.io/region"];
  const z = zone ?? node?.labels["topology.kubernetes.io/zone"];
  const subzone = node?.labels["topology.istio.io/subzone"];
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

export function buildKubeRegistry(input: KubeRegistryInput, errors: ConfigError[]): KubeRegistry {
  const pods = new Map<string, KubePod>();
  const podSpecs = new Map<string, AcceptedObject<KubePodSpec>>();
  const podsByIp = new Map<string, AcceptedObject<KubePodSpec>>();
  for (const a of input.pods) {
    const m = a.object.metadata;
    const key = `${m.namespace}/${m.name}`;
    podSpecs.set(key, a);
    for (const ip of a.spec.ips) podsByIp.set(ip, a);
    pods.set(key, {
      namespace: m.namespace,
      name: m.name,
      uid: m.uid ?? "",
      cluster: a.object.origin.cluster ?? "",
      ips: a.spec.ips,
      ...(a.spec.nodeName !== undefined ? { node: a.spec.nodeName } : {}),
      serviceAccount: a.spec.serviceAccount,
      labels: m.labels,
    });
  }
  const nodes = new Map(input.nodes.map((n) => [n.object.metadata.name, n.spec]));
  const slicesByService = new Map<string, AcceptedObject<EndpointSliceSpec>[]>();
  for (const s of input.slices) {
    const key = `${s.object.metadata.namespace}/${s.spec.serviceName}`;
    const list = slicesByService.get(key);
    if (list) list.push(s);
    else slicesByService.set(key, [s]);
  }
  const next = new Map<string, CachedService>();
  const services: Service[] = [];
  const unready: { service: Service; endpoint: ServiceEndpoint }[] = [];
  for (const svc of input.services) {
    const ns = svc.object.metadata.namespace;
    const key = `${ns}/${svc.object.metadata.name}`;
    const slices = slicesByService.get(key) ?? [];
    if (svc.spec.externalName !== undefined) {
      errors.push({ file: svc.object.origin.file, object: objectRef(svc.object), path: "spec.type", message: "ExternalName Services are not served yet; ignored", severity: "warning" });
      continue;
    }
    // Everything this service's translation reads, by identity (objects are immutable).
    const inputs: unknown[] = [svc.spec, input.trustDomain];
    for (const s of slices) {
      inputs.push(s.spec);
      for (const e of s.spec.endpoints) {
        const pod = e.pod !== undefined ? podSpecs.get(`${ns}/${e.pod}`) : podsByIp.get(e.addresses[0] ?? "");
        inputs.push(pod?.spec, pod?.object.metadata.labels, nodes.get(e.nodeName ?? pod?.spec.nodeName ?? ""));
      }
    }
    const before = cache.get(key);
    const built = before !== undefined && sameInputs(before.inputs, inputs) ? before : { inputs, ...kubeService(svc, slices, { podSpecs, podsByIp, nodes, trustDomain: input.trustDomain }) };
    next.set(key, built);
    services.push(built.service);
    for (const endpoint of built.unready) unready.push({ service: built.service, endpoint });
  }
  cache = next;
  return { services, unready, pods };
}

interface Lookups {
  readonly podSpecs: ReadonlyMap<string, AcceptedObject<KubePodSpec>>;
  readonly podsByIp: ReadonlyMap<string, AcceptedObject<KubePodSpec>>;
  readonly nodes: ReadonlyMap<string, KubeNodeSpec>;
  readonly trustDomain: string;
}

function kubeService(svc: AcceptedObject<KubeServiceSpec>, slices: readonly AcceptedObject<EndpointSliceSpec>[], l: Lookups): { service: Service; unready: ServiceEndpoint[] } {
  const ns = svc.object.metadata.namespace;
  const spec = svc.spec;
  const ports = servicePorts(spec);
  const endpoints: ServiceEndpoint[] = [];
  const unready: ServiceEndpoint[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    if (slice.spec.addressType === "FQDN") continue;
    for (const e of slice.spec.endpoints) {
      const pod = e.pod !== undefined ? l.podSpecs.get(`${ns}/${e.pod}`) : l.podsByIp.get(e.addresses[0] ?? "");
      const identity: WorkloadIdentity = { trustDomain: l.trustDomain, namespace: ns, serviceAccount: pod?.spec.serviceAccount ?? "default" };
      const where = locality(l.nodes.get(e.nodeName ?? pod?.spec.nodeName ?? ""), e.zone);
      for (const address of e.addresses) {
        // Two slices may carry one address during a slice rebalancing: serve it once.
        if (seen.has(address) || (!e.ready && endpoints.some((x) => x.address === address))) continue;
        seen.add(address);
        const targetPorts: Record<number, number> = {};
        for (const port of spec.ports) {
          const named = typeof port.targetPort === "string" ? pod?.spec.namedPorts[port.targetPort] : undefined;
          targetPorts[port.port] = slice.spec.ports[port.name] ?? (typeof port.targetPort === "number" ? port.targetPort : named) ?? port.port;
        }
        (e.ready ? endpoints : unready).push({
          address,
          targetPorts,
          labels: pod?.object.metadata.labels ?? {},
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
  const shape = { ports, addresses, location: "MESH_INTERNAL", resolution: spec.headless ? "NONE" : "STATIC", exportTo: spec.exportTo };
  const service: Service = {
    key: `${ns}/${spec.hostname}`,
    hostname: spec.hostname,
    namespace: ns,
    source: objectRef(svc.object),
    ports,
    addresses,
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
