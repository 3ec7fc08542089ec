// Several providers answering one type together (SDS: the workload's own certificate from the CA
// provider, a gateway's credentials from the gateway credential provider): the union of their
// resources, the first provider winning a name, and a change in any reaches the server.
import { heldResources, type EncodedResource, type ProxyChange, type ResourceProvider, type TypeUrl } from "../xds/types.js";
import type { Proxy } from "../model/proxy.js";

export class UnionProvider implements ResourceProvider {
  constructor(private readonly providers: readonly ResourceProvider[]) {}

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    return this.union(this.providers.map((p) => p.resources(proxy, typeUrl)));
  }

  held(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    return this.union(this.providers.map((p) => heldResources(p, proxy, typeUrl)));
  }

  onChange(listener: (change: ProxyChange) => void): () => void {
    const offs = this.providers.map((p) => p.onChange(listener));
    return () => offs.forEach((off) => off());
  }

  /** One provider's map as it is when the others add nothing, so an unchanged answer stays the same map. */
  private union(maps: readonly ReadonlyMap<string, EncodedResource>[]): ReadonlyMap<string, EncodedResource> {
    const nonEmpty = maps.filter((m) => m.size > 0);
    if (nonEmpty.length <= 1) return nonEmpty[0] ?? maps[0] ?? new Map();
    const out = new Map<string, EncodedResource>();
    for (const m of nonEmpty) for (const [k, v] of m) if (!out.has(k)) out.set(k, v);
    return out;
  }
}
