// The mesh side of the ResourceProvider contract: snapshots in, encoded resources out.
//
// Encode once, at three levels:
//  - proxies of one flavour, namespace and DNS domain share the outbound part (the bulk: clusters,
//    endpoints, routes, outbound listeners), maps included;
//  - proxies that translate identically (same flavour, namespace, DNS domain, identity, labels and
//    served ports; IPs too for gRPC, whose server listener names carry them) share one result
//    per snapshot generation: the same Map of the same EncodedResource objects;
//  - each planned resource has a key naming its inputs (content digests), so a resource whose
//    inputs did not change keeps its bytes and version across groups and across snapshots.
// A resource is built and serialized (toBinary) only on a key miss.
import { toBinary } from "@bufbuild/protobuf";
import type { Proxy } from "../model/proxy.js";
import { emptySnapshot, type MeshSnapshot, type Service, type ServiceEndpoint } from "../model/snapshot.js";
import { snapshotChange } from "../model/changes.js";
import { dnsDomain } from "../translate/common.js";
import { outboundKey, translateInbound, translateOutbound, type PlannedResource } from "../translate/index.js";
import { workloadView } from "../model/placement.js";
import { clusterKey } from "../model/lookup.js";
import { placementKey } from "../translate/failover.js";
import { encodedResource } from "../xds/resource.js";
import { proxyEnforcement } from "../model/workload-enforcement.js";
import { ingressInstanceKey } from "../model/sidecar-scope.js";
import { OverlayMap } from "./overlay-map.js";
import { TypeUrl, type EncodedResource, type ProxyChange, type ResourceProvider } from "../xds/types.js";

/**
 * One translation's encoded resources, each type encoded when first asked for: an enforcement
 * round asks every affected proxy for EDS first (what cuts a pod off), so listeners and routes are
 * built after the cut-off has gone out, not before it.
 */
class TypedResources {
  private readonly done = new Map<TypeUrl, ReadonlyMap<string, EncodedResource>>();

  constructor(private readonly compute: (typeUrl: TypeUrl) => ReadonlyMap<string, EncodedResource>) {}

  get(typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    let m = this.done.get(typeUrl);
    if (m === undefined) this.done.set(typeUrl, (m = this.compute(typeUrl)));
    return m;
  }

  /** A type already encoded, without encoding it. */
  peek(typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> | undefined {
    return this.done.get(typeUrl);
  }
}

const EMPTY: ReadonlyMap<string, EncodedResource> = new Map();

export interface ProviderStats {
  readonly generation: number;
  /** Resources built and serialized since start. */
  readonly encodes: number;
  /** Planned resources served from the key cache since start. */
  readonly reused: number;
  /** Distinct proxy groups translated for the current generation. */
  readonly groups: number;
}

export class MeshResourceProvider implements ResourceProvider {
  private current: MeshSnapshot = emptySnapshot;
  private groups = new Map<string, TypedResources>();
  /** Outbound resources by outboundKey (flavour, namespace, DNS domain), for this generation. */
  private outbound = new Map<string, TypedResources>();
  /** The last generation's maps that were asked for: an unchanged map is handed out again as the
   * same object, which the xDS server takes as "nothing to send" without looking inside. */
  private previousGroups = new Map<string, TypedResources>();
  private previousOutbound = new Map<string, TypedResources>();
  private encoded = new Map<string, EncodedResource>();
  private previousEncoded = new Map<string, EncodedResource>();
  /** IP -> the services (and target ports) it serves, for grouping proxies. */
  private targetsByIp = new Map<string, string>();
  private readonly listeners = new Set<(change: ProxyChange) => void>();
  private readonly keys = new WeakMap<Proxy, { generation: number; key: string; targets: string }>();
  /** The part of a proxy's group key that no snapshot changes (a Proxy is immutable). */
  private readonly fixedKeys = new WeakMap<Proxy, string>();
  private encodes = 0;
  private reused = 0;

  get snapshot(): MeshSnapshot {
    return this.current;
  }

  stats(): ProviderStats {
    return { generation: this.current.generation, encodes: this.encodes, reused: this.reused, groups: this.groups.size };
  }

  /** Installs a new snapshot and tells listeners which proxies it touches (if any). */
  update(next: MeshSnapshot): ProxyChange | undefined {
    const change = snapshotChange(this.current, next);
    this.current = next;
    if (this.groups.size > 0) {
      this.previousGroups = this.groups;
      this.previousOutbound = this.outbound;
    }
    this.groups = new Map();
    this.outbound = new Map();
    // Keep the last used generation's encodings one more round: unchanged resources are found
    // there. A generation nobody asked about does not rotate (it would drop everything).
    if (this.encoded.size > 0) {
      this.previousEncoded = this.encoded;
      this.encoded = new Map();
    }
    this.targetsByIp = indexTargets(next);
    if (change !== undefined) for (const l of this.listeners) l(change);
    return change;
  }

  onChange(listener: (change: ProxyChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  resources(claimed: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    // Its Pod's labels, not the ones it claims (placement.ts): in the key and in translation.
    const proxy = workloadView(this.current, claimed);
    // A stream asks for several types in a row with the same Proxy object: remember its key.
    let memo = this.keys.get(proxy);
    if (memo === undefined || memo.generation !== this.current.generation) {
      // Only the inbound targets can change between snapshots; an unchanged string keeps the key.
      // An enforced proxy (risk stage) translates apart from its replicas: its own group.
      // Where it is in a multi-cluster mesh (network, failover labels) decides its EDS too, and its
      // cluster which ClusterIPs its listeners and routes match.
      const targets = proxy.ips.map((ip) => this.targetsByIp.get(ip) ?? "").join(";") + `#${proxyEnforcement(this.current, proxy)}${placementKey(this.current, proxy)}${ingressInstanceKey(this.current, proxy)}${clusterKey(this.current, proxy)}`;
      const key = memo !== undefined && memo.targets === targets ? memo.key : this.groupKey(proxy, targets);
      memo = { generation: this.current.generation, key, targets };
      this.keys.set(proxy, memo);
    }
    const key = memo.key;
    let group = this.groups.get(key);
    if (group === undefined) {
      group = this.encodeAll(proxy, this.previousGroups.get(key));
      this.groups.set(key, group);
    }
    return group.get(typeUrl);
  }

  /** Everything translation reads from a proxy, and nothing else. */
  private groupKey(proxy: Proxy, targets: string): string {
    let fixed = this.fixedKeys.get(proxy);
    if (fixed === undefined) {
      const labels = Object.keys(proxy.labels).sort().map((k) => `${k}=${proxy.labels[k]}`).join(",");
      const ips = proxy.flavour === "grpc" ? proxy.ips.join(",") : "";
      fixed = [proxy.flavour, proxy.type, proxy.namespace, dnsDomain(proxy), proxy.serviceAccount, labels, ips].join("|");
      this.fixedKeys.set(proxy, fixed);
    }
    return `${fixed}|${targets}`;
  }

  /** Encodes one type; a result equal to `previous` (same objects) is that map again. */
  private encodeType(planned: readonly PlannedResource[] | undefined, previous: ReadonlyMap<string, EncodedResource> | undefined): ReadonlyMap<string, EncodedResource> {
    if (planned === undefined || planned.length === 0) return previous !== undefined && previous.size === 0 ? previous : EMPTY;
    const byName = new Map<string, EncodedResource>();
    for (const p of planned) byName.set(p.name, this.encode(p));
    return previous !== undefined && sameEntries(previous, byName) ? previous : byName;
  }

  /** The namespace-wide outbound part (shared, maps included) plus this group's inbound part. */
  private encodeAll(proxy: Proxy, previous: TypedResources | undefined): TypedResources {
    const ok = outboundKey(proxy, this.current);
    let outbound = this.outbound.get(ok);
    if (outbound === undefined) {
      const planned = translateOutbound(this.current, proxy);
      const before = this.previousOutbound.get(ok);
      outbound = new TypedResources((t) => this.encodeType(planned.get(t), before?.peek(t)));
      this.outbound.set(ok, outbound);
    }
    const shared = outbound;
    const inbound = translateInbound(this.current, proxy);
    return new TypedResources((typeUrl) => {
      const base = shared.get(typeUrl);
      const own = this.encodeType(inbound.get(typeUrl), undefined);
      const before = previous?.peek(typeUrl);
      if (own.size === 0) return base;
      const same = before instanceof OverlayMap && before.base === base && sameEntries(before.own, own);
      return same ? before : new OverlayMap(base, own);
    });
  }

  private encode(p: PlannedResource): EncodedResource {
    const key = `${p.typeUrl}\u0000${p.name}\u0000${p.key}`;
    let r = this.encoded.get(key);
    if (r === undefined) {
      r = this.previousEncoded.get(key);
      if (r === undefined) {
        const { schema, message } = p.build();
        r = encodedResource(p.typeUrl, p.name, toBinary(schema, message));
        this.encodes++;
      } else {
        this.reused++;
      }
      this.encoded.set(key, r);
    } else {
      this.reused++;
    }
    return r;
  }
}

function sameEntries(a: ReadonlyMap<string, EncodedResource>, b: ReadonlyMap<string, EncodedResource>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of b) if (a.get(k) !== v) return false;
  return true;
}

/** What each IP serves, as a string: proxies with equal strings have equal inbound targets. */
function indexTargets(snapshot: MeshSnapshot): Map<string, string> {
  const out = new Map<string, string>();
  // Per service once, not per endpoint: a rebuild indexes every endpoint of the mesh.
  const prefixes = new Map<string, string>();
  const target = ({ service, endpoint }: { service: Service; endpoint: ServiceEndpoint }): string => {
    let prefix = prefixes.get(service.key);
    if (prefix === undefined) {
      prefix = `${service.key}@${service.digest}:`;
      prefixes.set(service.key, prefix);
    }
    return prefix + Object.values(endpoint.targetPorts).join("/");
  };
  for (const [ip, list] of snapshot.endpointsByIp) out.set(ip, list.length === 1 ? target(list[0]!) : list.map(target).sort().join(","));
  return out;
}
