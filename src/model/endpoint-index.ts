// Building services' endpoint lists fast at 10,000 workloads: ServiceEntry selectors look up
// workloads through an index instead of scanning all of them, and each endpoint (and its part of
// the endpoints digest) is built once per workload spec and reused by later rebuilds while its
// inputs (the spec object, the service's ports, the identity) stay the same.
import type { ServicePortSpec } from "./service-entry.js";
import type { WorkloadEntrySpec } from "./workload-entry.js";
import type { ServiceEndpoint, Workload } from "./snapshot.js";
import type { WorkloadIdentity } from "../security/identity.js";
/** The label (on pods / WorkloadEntries) that says whether an endpoint speaks Istio mTLS. */
export const TlsModeLabel = "security.istio.io/tlsMode";
import { contentHash, stableJson } from "./digest.js";
import { labelsMatch } from "./lookup.js";

/**
 * Workloads by namespace and by `namespace, label=value`, in snapshot order: a ServiceEntry's
 * selector is matched against the workloads carrying its first label only (not every workload of
 * the mesh: S services x W workloads dominated rebuilds at 10,000 workloads).
 */
export class WorkloadIndex {
  private readonly byKey = new Map<string, Workload[]>();

  constructor(workloads: readonly Workload[]) {
    for (const w of workloads) {
      this.add(w.namespace, w);
      for (const [k, v] of Object.entries(w.spec.labels)) this.add(`${w.namespace}\u0000${k}\u0000${v}`, w);
    }
  }

  private add(key: string, w: Workload): void {
    const list = this.byKey.get(key);
    if (list) list.push(w);
    else this.byKey.set(key, [w]);
  }

  /** The workloads of `namespace` whose labels include every selector label, in snapshot order. */
  select(namespace: string, selector: Readonly<Record<string, string>>): readonly Workload[] {
    const first = Object.entries(selector)[0];
    const candidates = this.byKey.get(first === undefined ? namespace : `${namespace}\u0000${first[0]}\u0000${first[1]}`) ?? [];
    return candidates.filter((w) => labelsMatch(selector, w.spec.labels));
  }
}

function endpointFrom(w: WorkloadEntrySpec, ports: readonly ServicePortSpec[], identity: WorkloadIdentity, workload?: string): ServiceEndpoint {
  const targetPorts: Record<number, number> = {};
  for (const port of ports) targetPorts[port.number] = w.ports[port.name] ?? port.targetPort ?? port.number;
  return {
    address: w.address,
    targetPorts,
    labels: w.labels,
    ...(w.network !== undefined ? { network: w.network } : {}),
    ...(w.locality !== undefined ? { locality: w.locality } : {}),
    weight: w.weight ?? 1,
    identity,
    tlsMode: w.labels[TlsModeLabel] ?? (w.serviceAccount !== undefined && w.serviceAccount !== "" ? "istio" : "disabled"),
    ...(workload !== undefined ? { workload } : {}),
  };
}

interface BuiltEndpoint {
  readonly ports: readonly ServicePortSpec[];
  readonly identity: WorkloadIdentity;
  readonly workload: string | undefined;
  readonly endpoint: ServiceEndpoint;
  /** stableJson(endpoint): its part of the service's endpoints digest. */
  readonly json: string;
}

/** Per workload spec (immutable, reused across rebuilds for unchanged objects), its endpoints by service ports. */
const built = new WeakMap<WorkloadEntrySpec, BuiltEndpoint[]>();

const sameIdentity = (a: WorkloadIdentity, b: WorkloadIdentity): boolean =>
  a.trustDomain === b.trustDomain && a.namespace === b.namespace && a.serviceAccount === b.serviceAccount;

/** One service's endpoints, in order, with their digest. */
export class EndpointList {
  readonly list: ServiceEndpoint[] = [];
  private readonly jsons: string[] = [];

  add(w: WorkloadEntrySpec, ports: readonly ServicePortSpec[], identity: WorkloadIdentity, workload?: string): void {
    let forSpec = built.get(w);
    let b = forSpec?.find((x) => x.ports === ports && x.workload === workload && sameIdentity(x.identity, identity));
    if (b === undefined) {
      const endpoint = endpointFrom(w, ports, identity, workload);
      b = { ports, identity, workload, endpoint, json: stableJson(endpoint) };
      if (forSpec === undefined) built.set(w, (forSpec = []));
      // A spec shared by several services' port lists keeps a few entries; bound it anyway.
      if (forSpec.length >= 8) forSpec.shift();
      forSpec.push(b);
    }
    this.list.push(b.endpoint);
    this.jsons.push(b.json);
  }

  /**
   * digestOf(list), from the endpoints' cached JSON; when `owner` (the ServiceEntry) had the very
   * same endpoint JSON strings in the previous rebuild, that digest is reused without hashing.
   */
  digest(owner: string): string {
    const before = previousDigests.get(owner);
    const same = before !== undefined && before.jsons.length === this.jsons.length && before.jsons.every((j, i) => j === this.jsons[i]);
    const digest = same ? before.digest : contentHash(`[${this.jsons.join(",")}]`);
    currentDigests.set(owner, { jsons: this.jsons, digest });
    return digest;
  }
}

/** Endpoint digests by owner for the rebuild in progress and the one before it. */
let currentDigests = new Map<string, { readonly jsons: readonly string[]; readonly digest: string }>();
let previousDigests = currentDigests;

/** Called once per rebuild, before any EndpointList.digest: forgets owners not seen in the last one. */
export function startEndpointDigests(): void {
  previousDigests = currentDigests;
  currentDigests = new Map();
}
