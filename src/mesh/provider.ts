// The mesh side of the ResourceProvider contract: snapshots in, encoded resources out.
//
// Encode once, at two levels:
//  - proxies that translate identically (same flavour, namespace, DNS domain, identity, labels and
//    served ports; IPs too for gRPC, whose server listener names carry them) share one result
//    per snapshot generation: the same Map of the same EncodedResource objects;
//  - each planned resource has a key naming its inputs (content digests), so a resource whose
//    inputs did not change keeps its bytes and version across groups and across snapshots.
// A resource is built and serialized (toBinary) only on a key miss.
import { toBinary } from "@bufbuild/protobuf";
import type { Proxy } from "../model/proxy.js";
import { emptySnapshot, type MeshSnapshot } from "../model/snapshot.js";
import { snapshotChange } from "../model/changes.js";
import { dnsDomain } from "../translate/common.js";
import { translate, type PlannedResource } from "../translate/index.js";
import { encodedResource } from "../xds/resource.js";
import { TypeUrl, type EncodedResource, type ProxyChange, type ResourceProvider } from "../xds/types.js";

type TypedResources = ReadonlyMap<TypeUrl, ReadonlyMap<string, EncodedResource>>;

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
  private encoded = new Map<string, EncodedResource>();
  private previousEncoded = new Map<string, EncodedResource>();
  /** IP -> the services (and target ports) it serves, for grouping proxies. */
  private targetsByIp = new Map<string, string>();
  private readonly listeners = new Set<(change: ProxyChange) => void>();
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
    this.groups = new Map();
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

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    const key = this.groupKey(proxy);
    let group = this.groups.get(key);
    if (group === undefined) {
      group = this.encodeAll(proxy);
      this.groups.set(key, group);
    }
    return group.get(typeUrl) ?? new Map();
  }

  /** Everything translation reads from a proxy, and nothing else. */
  private groupKey(proxy: Proxy): string {
    const labels = Object.keys(proxy.labels).sort().map((k) => `${k}=${proxy.labels[k]}`).join(",");
    const targets = proxy.ips.map((ip) => this.targetsByIp.get(ip) ?? "").join(";");
    const ips = proxy.flavour === "grpc" ? proxy.ips.join(",") : "";
    return [proxy.flavour, proxy.type, proxy.namespace, dnsDomain(proxy), proxy.serviceAccount, labels, targets, ips].join("|");
  }

  private encodeAll(proxy: Proxy): TypedResources {
    const out = new Map<TypeUrl, Map<string, EncodedResource>>();
    for (const [typeUrl, planned] of translate(this.current, proxy)) {
      const byName = new Map<string, EncodedResource>();
      for (const p of planned) byName.set(p.name, this.encode(p));
      out.set(typeUrl, byName);
    }
    return out;
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

function indexTargets(snapshot: MeshSnapshot): Map<string, string> {
  const byIp = new Map<string, string[]>();
  for (const s of snapshot.services) {
    for (const e of s.endpoints) {
      const list = byIp.get(e.address) ?? [];
      list.push(`${s.key}@${s.digest}:${Object.values(e.targetPorts).join("/")}`);
      byIp.set(e.address, list);
    }
  }
  return new Map([...byIp].map(([ip, list]) => [ip, list.sort().join(",")]));
}
