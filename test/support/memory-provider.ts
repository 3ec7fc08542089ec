// An in-memory ResourceProvider for protocol tests: the same resources for every proxy, changed
// explicitly by the test. Each change notifies the server at once (the server debounces).
import type { EncodedResource, ProxyChange, ResourceProvider, TypeUrl } from "../../src/xds/types.js";
import type { Proxy } from "../../src/model/proxy.js";
import { encodedResource } from "../../src/xds/resource.js";

export class MemoryProvider implements ResourceProvider {
  private readonly byType = new Map<TypeUrl, Map<string, EncodedResource>>();
  private readonly listeners = new Set<(change: ProxyChange) => void>();
  /** Proxies the provider was asked about, by id (lets tests check node parsing). */
  readonly seen = new Map<string, Proxy>();

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    this.seen.set(proxy.id, proxy);
    return this.byType.get(typeUrl) ?? new Map();
  }

  onChange(listener: (change: ProxyChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sets a resource from its message bytes; the version is the content hash. */
  put(typeUrl: TypeUrl, name: string, bytes: Uint8Array, notify = true): EncodedResource {
    const r = encodedResource(typeUrl, name, bytes);
    let m = this.byType.get(typeUrl);
    if (!m) {
      m = new Map();
      this.byType.set(typeUrl, m);
    }
    // A new map per change: a stream computing a response never sees a half-applied change.
    const next = new Map(m);
    next.set(name, r);
    this.byType.set(typeUrl, next);
    if (notify) this.notify({ all: true });
    return r;
  }

  remove(typeUrl: TypeUrl, name: string, notify = true): void {
    const next = new Map(this.byType.get(typeUrl) ?? []);
    next.delete(name);
    this.byType.set(typeUrl, next);
    if (notify) this.notify({ all: true });
  }

  get(typeUrl: TypeUrl, name: string): EncodedResource | undefined {
    return this.byType.get(typeUrl)?.get(name);
  }

  notify(change: ProxyChange): void {
    for (const l of this.listeners) l(change);
  }
}
