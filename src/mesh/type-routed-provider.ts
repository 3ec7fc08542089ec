// One ResourceProvider for the xDS server made of several: each type URL is answered by the
// provider registered for it (secrets by the SDS provider, everything else by the mesh), and a
// change in any of them reaches the server.
import type { Proxy } from "../model/proxy.js";
import { heldResources, type EncodedResource, type ProxyChange, type ResourceProvider, type TypeUrl } from "../xds/types.js";

export class TypeRoutedProvider implements ResourceProvider {
  constructor(
    private readonly fallback: ResourceProvider,
    private readonly byType: ReadonlyMap<TypeUrl, ResourceProvider>,
  ) {}

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    return (this.byType.get(typeUrl) ?? this.fallback).resources(proxy, typeUrl);
  }

  held(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    return heldResources(this.byType.get(typeUrl) ?? this.fallback, proxy, typeUrl);
  }

  onChange(listener: (change: ProxyChange) => void): () => void {
    const offs = [this.fallback, ...new Set(this.byType.values())].map((p) => p.onChange(listener));
    return () => offs.forEach((off) => off());
  }
}
