// The model: ONE immutable snapshot of the mesh built from the merged sources' config set, with
// the kinds the composition root registered (src/mesh/model.ts). Invalid objects are rejected here
// one by one (with file, object and field path); an object that turns bad keeps its last good
// version from the previous snapshot, so a typo never takes a service away. An object handed over
// again unchanged (the same immutable ConfigObject) is not read again.
import { type ConfigError, type ConfigObject, objectRef } from "./config.js";
import { FieldProblems } from "./fields.js";
import { defaultMeshConfig, parseMeshConfig, type MeshConfig } from "./mesh-config.js";
import { type KindHandler, type KindRegistry, modelKinds } from "./kinds.js";
import { buildKubeRegistry, type KubePod } from "./kube-services.js";
import { WORKLOAD_ENFORCEMENT_KIND } from "./workload-enforcement.js";
import { ENDPOINT_SLICE_KIND, NAMESPACE_KIND, NODE_KIND, POD_KIND, SERVICE_KIND, type EndpointSliceSpec, type KubeNodeSpec, type KubePodSpec, type KubeServiceSpec } from "./kube-objects.js";
import type { ServiceEntrySpec, ServicePortSpec, Location, Resolution } from "./service-entry.js";
import type { WorkloadEntrySpec } from "./workload-entry.js";
import type { DestinationRuleSpec } from "./destination-rule.js";
import type { WorkloadIdentity } from "../security/identity.js";
import { digestOf } from "./digest.js";
import type { NetworkGateway } from "./networks.js";
import { EndpointList, startEndpointDigests, WorkloadIndex } from "./endpoint-index.js";

/** What a source hands the model: the mesh config document and every object it read. */
export interface ConfigSet {
  /** The parsed mesh.yaml document; absent means Istio's defaults. */
  readonly mesh?: { readonly doc: unknown; readonly file: string };
  readonly objects: readonly ConfigObject[];
  /** Problems the source found (unreadable files, YAML syntax, objects without kind/name). */
  readonly errors: readonly ConfigError[];
}

export interface AcceptedObject<Spec = unknown> {
  readonly object: ConfigObject;
  readonly spec: Spec;
}

export interface ServiceEndpoint {
  readonly address: string;
  /** Service port number -> the port this endpoint listens on. */
  readonly targetPorts: Readonly<Record<number, number>>;
  readonly labels: Readonly<Record<string, string>>;
  /** The Kubernetes cluster it runs in (Kubernetes endpoints). */
  readonly cluster?: string;
  /** Its network: peers in another network reach it through that network's gateway (split-horizon EDS). */
  readonly network?: string;
  readonly locality?: string;
  readonly weight: number;
  readonly identity: WorkloadIdentity;
  /**
   * Istio's tlsMode of the endpoint (`getTLSModeFromWorkloadEntry`): the `security.istio.io/tlsMode`
   * label, else `istio` when the WorkloadEntry / inline endpoint names a service account, else
   * `disabled`. Absent (sources that do not set it): the label alone decides.
   */
  readonly tlsMode?: string;
  /** `WorkloadEntry ns/name` or `Pod ns/name` when the endpoint is a known workload. */
  readonly workload?: string;
}

export interface Service {
  /** `namespace/hostname`. */
  readonly key: string;
  readonly hostname: string;
  readonly namespace: string;
  /** The object that declared it: `ServiceEntry ns/name` or `Service ns/name` (Kubernetes). */
  readonly source: string;
  readonly ports: readonly ServicePortSpec[];
  readonly addresses: readonly string[];
  /**
   * A Kubernetes Service in several clusters: each cluster's ClusterIPs (istiod's ClusterVIPs).
   * `addresses` are the first cluster's; a proxy sees its own cluster's (lookup.ts visibleServices),
   * the address its application resolves the name to. Absent for one cluster and for ServiceEntries.
   */
  readonly clusterAddresses?: ReadonlyMap<string, readonly string[]>;
  readonly location: Location;
  readonly resolution: Resolution;
  readonly exportTo: readonly string[];
  readonly endpoints: readonly ServiceEndpoint[];
  /** The identities serving it, for SAN checks (mTLS issue). */
  readonly identities: readonly WorkloadIdentity[];
  /** Digest of everything but the endpoints (what CDS/LDS/RDS depend on). */
  readonly digest: string;
  /** Digest of the endpoints (what EDS depends on). */
  readonly endpointsDigest: string;
}

export interface DestinationRule {
  readonly ref: string;
  readonly namespace: string;
  readonly spec: DestinationRuleSpec;
  readonly digest: string;
}

export interface Workload {
  readonly ref: string;
  readonly name: string;
  readonly namespace: string;
  readonly spec: WorkloadEntrySpec;
  readonly identity: WorkloadIdentity;
}

export interface MeshSnapshot {
  /** Increases by one per rebuild; caches key on it. */
  readonly generation: number;
  readonly mesh: MeshConfig;
  readonly meshDigest: string;
  /** Sorted by hostname, then namespace. */
  readonly services: readonly Service[];
  readonly workloads: readonly Workload[];
  readonly destinationRules: readonly DestinationRule[];
  /** DestinationRules by `spec.host` (wildcard hosts under their pattern, e.g. `*.example.com`). */
  readonly destinationRulesByHost: ReadonlyMap<string, readonly DestinationRule[]>;
  /** Service endpoints by address: which services a proxy with that IP serves. */
  readonly endpointsByIp: ReadonlyMap<string, readonly { readonly service: Service; readonly endpoint: ServiceEndpoint }[]>;
  /** Kinds the model does not interpret yet, by kind, sorted by namespace/name. */
  readonly others: ReadonlyMap<string, readonly AcceptedObject[]>;
  /** Digest of `others`: a policy change may touch any proxy until its issue refines that. */
  readonly othersDigest: string;
  /** Digest of each kind in `others`, for caches that depend on some kinds only. */
  readonly othersDigestByKind: ReadonlyMap<string, string>;
  /** Every accepted object by `Kind ns/name` (the last-good store for the next rebuild). */
  readonly accepted: ReadonlyMap<string, AcceptedObject>;
  readonly errors: readonly ConfigError[];
  /** Pods from Kubernetes sources by `namespace/name`: their addresses come from here, not from proxies. */
  readonly pods: ReadonlyMap<string, KubePod>;
  /** Every cluster's pods (two clusters may each have a pod `namespace/name`). */
  readonly allPods: readonly KubePod[];
  /** East-west gateways by network (Services labelled topology.istio.io/network, meshNetworks). */
  readonly networkGateways: ReadonlyMap<string, readonly NetworkGateway[]>;
  /** The kinds this snapshot was built with (which proxies a change of each touches). */
  readonly kinds: KindRegistry;
}

export const emptySnapshot: MeshSnapshot = {
  generation: 0,
  mesh: defaultMeshConfig,
  meshDigest: digestOf(defaultMeshConfig.raw),
  services: [],
  workloads: [],
  destinationRules: [],
  destinationRulesByHost: new Map(),
  endpointsByIp: new Map(),
  others: new Map(),
  othersDigest: digestOf([]),
  othersDigestByKind: new Map(),
  accepted: new Map(),
  errors: [],
  pods: new Map(),
  allPods: [],
  networkGateways: new Map(),
  kinds: modelKinds,
};

function toConfigErrors(p: FieldProblems, file: string, object: string | undefined, prefix = ""): ConfigError[] {
  return p.list.map((x) => ({
    file,
    ...(object !== undefined ? { object } : {}),
    path: prefix !== "" && x.path !== "" ? `${prefix}.${x.path}` : x.path || prefix,
    message: x.message,
    severity: x.severity,
  }));
}

function readMesh(input: ConfigSet, previous: MeshSnapshot, errors: ConfigError[]): MeshConfig {
  if (input.mesh === undefined) return defaultMeshConfig;
  const p = new FieldProblems();
  const mesh = parseMeshConfig(input.mesh.doc, p);
  const problems = toConfigErrors(p, input.mesh.file, "MeshConfig");
  if (mesh === undefined) {
    errors.push(...problems, {
      file: input.mesh.file,
      object: "MeshConfig",
      path: "",
      message: "mesh config rejected; keeping the last good one",
      severity: "error",
    });
    return previous.mesh;
  }
  errors.push(...problems);
  return mesh;
}

/**
 * One object alone, as its kind reads it: the apiVersion, then the spec. `spec` is undefined when
 * the object is rejected; `problems` hold its errors and warnings with file, object and field path.
 * `meshward validate` runs exactly this on each object.
 */
export function readObjectSpec(object: ConfigObject, handler: KindHandler): { spec: unknown; problems: ConfigError[] } {
  const p = new FieldProblems();
  if (!handler.apiVersions.includes(object.apiVersion)) {
    p.error("apiVersion", `"${object.apiVersion}" is not a version of ${object.kind} (want ${handler.apiVersions.join(" or ")})`);
  }
  const spec = p.hasErrors ? undefined : handler.parse(object.spec, p, object);
  return { spec: p.hasErrors ? undefined : spec, problems: toConfigErrors(p, object.origin.file, objectRef(object)) };
}

/**
 * Accepted objects by identity: a source hands unchanged objects again as the same (immutable)
 * ConfigObject, and a spec's reading depends on the object alone, so it is read once, not on
 * every rebuild (10,000 WorkloadEntries took a fifth of a rebuild). Warnings are replayed.
 */
const parsedObjects = new WeakMap<ConfigObject, { readonly accepted: AcceptedObject; readonly warnings: readonly ConfigError[] }>();

/**
 * Kinds one Kubernetes object of which exists per cluster (namespace sameness: `echo` in `demo` in
 * two clusters is two Services that make one host; a WorkloadEnforcement quarantines a pod of its
 * own cluster): they are kept by `Kind ns/name` plus their cluster, never reported as duplicates.
 */
const PER_CLUSTER_KINDS: ReadonlySet<string> = new Set([SERVICE_KIND, ENDPOINT_SLICE_KIND, POD_KIND, NODE_KIND, NAMESPACE_KIND, WORKLOAD_ENFORCEMENT_KIND]);

/** The object's key in `accepted`: `Kind ns/name`, with ` @<cluster>` for per-cluster Kubernetes kinds of a cluster. */
export function acceptedKey(object: ConfigObject): string {
  const ref = objectRef(object);
  const cluster = object.origin.cluster;
  return object.origin.source === "kubernetes" && cluster !== undefined && PER_CLUSTER_KINDS.has(object.kind) ? `${ref} @${cluster}` : ref;
}

/** Validates every object; a rejected object keeps its previous accepted version if it had one. */
function acceptObjects(input: ConfigSet, previous: MeshSnapshot, kinds: KindRegistry, errors: ConfigError[]): Map<string, AcceptedObject> {
  const accepted = new Map<string, AcceptedObject>();
  for (const object of input.objects) {
    const ref = acceptedKey(object);
    if (accepted.has(ref)) {
      const first = accepted.get(ref)!.object.origin.file;
      errors.push({ file: object.origin.file, object: objectRef(object), path: "metadata.name", message: `duplicate of the object in ${first}; ignored`, severity: "error" });
      continue;
    }
    const handler = kinds.get(object.kind);
    if (handler === undefined) {
      accepted.set(ref, { object, spec: object.spec });
      continue;
    }
    const known = parsedObjects.get(object);
    if (known !== undefined) {
      errors.push(...known.warnings);
      accepted.set(ref, known.accepted);
      continue;
    }
    const { spec, problems } = readObjectSpec(object, handler);
    errors.push(...problems);
    if (spec !== undefined) {
      const a = { object, spec };
      parsedObjects.set(object, { accepted: a, warnings: problems });
      accepted.set(ref, a);
      continue;
    }
    const lastGood = previous.accepted.get(ref);
    errors.push({
      file: object.origin.file,
      object: objectRef(object),
      path: "",
      message: lastGood ? "object rejected; keeping its last good version" : "object rejected",
      severity: "error",
    });
    if (lastGood) accepted.set(ref, lastGood);
  }
  return accepted;
}

/** Sorts by `namespace/name`; the keys are built once per object, not once per comparison. */
function sortByNamespaceName(list: AcceptedObject[]): void {
  const keyed = list.map((a) => ({ a, key: `${a.object.metadata.namespace}/${a.object.metadata.name}` }));
  keyed.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  for (let i = 0; i < keyed.length; i++) list[i] = keyed[i]!.a;
}



function buildServices(entries: AcceptedObject<ServiceEntrySpec>[], workloads: Workload[], mesh: MeshConfig, kube: readonly Service[], errors: ConfigError[]): Service[] {
  const services = new Map<string, Service>(kube.map((s) => [s.key, s]));
  const index = new WorkloadIndex(workloads);
  startEndpointDigests();
  for (const { object, spec } of entries) {
    const ns = object.metadata.namespace;
    const ref = objectRef(object);
    const endpoints = new EndpointList();
    for (const e of spec.endpoints) {
      if (e.address !== "") endpoints.add(e, spec.ports, { trustDomain: mesh.trustDomain, namespace: ns, serviceAccount: e.serviceAccount ?? "default" });
    }
    if (spec.workloadSelector !== undefined) {
      for (const w of index.select(ns, spec.workloadSelector)) {
        if (w.spec.address !== "") endpoints.add(w.spec, spec.ports, w.identity, w.ref);
      }
    }
    const identities = [...new Map(endpoints.list.map((e) => [`${e.identity.namespace}/${e.identity.serviceAccount}`, e.identity])).values()];
    const { endpoints: _inline, workloadSelector: _selector, hosts: _hosts, ...shape } = spec;
    spec.hosts.forEach((hostname, i) => {
      const key = `${ns}/${hostname}`;
      const other = services.get(key);
      if (other !== undefined) {
        errors.push({ file: object.origin.file, object: ref, path: `spec.hosts[${i}]`, message: `host already declared by ${other.source}; ignored`, severity: "error" });
        return;
      }
      services.set(key, {
        key,
        hostname,
        namespace: ns,
        source: ref,
        ports: spec.ports,
        addresses: spec.addresses,
        location: spec.location,
        resolution: spec.resolution,
        exportTo: spec.exportTo,
        endpoints: endpoints.list,
        identities,
        digest: digestOf({ hostname, ns, shape, identities }),
        endpointsDigest: endpoints.digest(ref),
      });
    });
  }
  return [...services.values()].sort((a, b) =>
    a.hostname !== b.hostname ? (a.hostname < b.hostname ? -1 : 1) : a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0,
  );
}

/**
 * Builds the next snapshot with `kinds`; `previous` supplies last-good objects and the generation.
 * The composition root's buildSnapshot (src/mesh/model.ts) passes the mesh's kinds.
 */
export function buildModelSnapshot(input: ConfigSet, previous: MeshSnapshot, kinds: KindRegistry): MeshSnapshot {
  const errors: ConfigError[] = [...input.errors];
  const mesh = readMesh(input, previous, errors);
  const accepted = acceptObjects(input, previous, kinds, errors);
  const byKind = new Map<string, AcceptedObject[]>();
  for (const a of accepted.values()) {
    const list = byKind.get(a.object.kind) ?? [];
    list.push(a);
    byKind.set(a.object.kind, list);
  }
  for (const list of byKind.values()) sortByNamespaceName(list);
  const take = <S>(kind: string): AcceptedObject<S>[] => {
    const list = (byKind.get(kind) ?? []) as AcceptedObject<S>[];
    byKind.delete(kind);
    return list;
  };
  const workloads: Workload[] = take<WorkloadEntrySpec>("WorkloadEntry").map(({ object, spec }) => ({
    ref: objectRef(object),
    name: object.metadata.name,
    namespace: object.metadata.namespace,
    spec,
    identity: { trustDomain: mesh.trustDomain, namespace: object.metadata.namespace, serviceAccount: spec.serviceAccount ?? "default" },
  }));
  const kube = buildKubeRegistry(
    {
      services: take<KubeServiceSpec>(SERVICE_KIND),
      slices: take<EndpointSliceSpec>(ENDPOINT_SLICE_KIND),
      pods: take<KubePodSpec>(POD_KIND),
      nodes: take<KubeNodeSpec>(NODE_KIND),
      namespaces: take<KubeNodeSpec>(NAMESPACE_KIND),
      trustDomain: mesh.trustDomain,
      meshNetworks: mesh.meshNetworks,
      systemNamespace: mesh.rootNamespace,
    },
    errors,
  );
  const services = buildServices(take<ServiceEntrySpec>("ServiceEntry"), workloads, mesh, kube.services, errors);
  const destinationRules: DestinationRule[] = take<DestinationRuleSpec>("DestinationRule").map(({ object, spec }) => ({
    ref: objectRef(object),
    namespace: object.metadata.namespace,
    spec,
    digest: digestOf(spec),
  }));
  const destinationRulesByHost = new Map<string, DestinationRule[]>();
  for (const dr of destinationRules) destinationRulesByHost.set(dr.spec.host, [...(destinationRulesByHost.get(dr.spec.host) ?? []), dr]);
  const endpointsByIp = new Map<string, { service: Service; endpoint: ServiceEndpoint }[]>();
  for (const service of services) {
    for (const endpoint of service.endpoints) {
      const list = endpointsByIp.get(endpoint.address);
      if (list) list.push({ service, endpoint });
      else endpointsByIp.set(endpoint.address, [{ service, endpoint }]);
    }
  }
  // A Pod that is not ready still serves its Services (its own inbound side), peers do not reach it.
  for (const target of kube.unready) {
    const list = endpointsByIp.get(target.endpoint.address);
    if (list) list.push(target);
    else endpointsByIp.set(target.endpoint.address, [target]);
  }
  // The model folds these kinds into services and workloads; they are not policies in `others`.
  for (const kind of [...byKind.keys()]) if (kinds.scopeOf(kind) === "model") byKind.delete(kind);
  for (const [kind, list] of byKind) errors.push(...(kinds.get(kind)?.check?.(list) ?? []));
  const others: ReadonlyMap<string, readonly AcceptedObject[]> = byKind;
  const othersDigestByKind = new Map(
    [...byKind.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([kind, list]) => [kind, digestOf(list.map((a) => [objectRef(a.object), a.object.metadata, a.spec]))]),
  );
  const othersDigest = digestOf([...othersDigestByKind].filter(([kind]) => kinds.scopeOf(kind) !== "none"));
  return {
    generation: previous.generation + 1,
    mesh,
    meshDigest: digestOf(mesh.raw),
    services,
    workloads,
    destinationRules,
    destinationRulesByHost,
    endpointsByIp,
    others,
    othersDigest,
    othersDigestByKind,
    accepted,
    errors,
    pods: kube.pods,
    allPods: kube.allPods,
    networkGateways: kube.gateways,
    kinds,
  };
}
