// A stream worker's ResourceProvider: the resources the main thread computed for this worker's
// proxies, held as the main thread sent them (ledger.ts). The streams code is the single-thread
// server's, unchanged: it asks for a proxy's map per type and gets, as it expects, the same map
// object back while nothing changed.
import type { Proxy } from "../../model/proxy.js";
import type { EncodedResource, ProxyChange, ResourceProvider, TypeUrl } from "../types.js";
import { ReplicaLedger } from "./ledger.js";
import type { LedgerOp } from "./messages.js";

const EMPTY: ReadonlyMap<string, EncodedResource> = new Map();

export class ReplicaProvider implements ResourceProvider {
  readonly ledger = new ReplicaLedger<EncodedResource>();
  private readonly maps = new Map<number, ReadonlyMap<string, EncodedResource>>();
  /** Each admitted stream's Proxy object -> the main thread's key for it. */
  private readonly keys = new WeakMap<Proxy, number>();
  private readonly listeners = new Set<(change: ProxyChange) => void>();

  /** The main thread admitted this proxy under `key`. */
  admitted(proxy: Proxy, key: number): void {
    this.keys.set(proxy, key);
  }

  keyOf(proxy: Proxy): number | undefined {
    return this.keys.get(proxy);
  }

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    const key = this.keys.get(proxy);
    const id = key === undefined ? undefined : this.ledger.mapOf(key, typeUrl);
    return (id === undefined ? undefined : this.maps.get(id)) ?? EMPTY;
  }

  onChange(listener: (change: ProxyChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies the main thread's operations; returns the proxy keys given a new map. */
  apply(ops: readonly LedgerOp[]): Set<number> {
    const touched = new Set<number>();
    const forget = (dropped: { maps: number[] }): void => {
      for (const id of dropped.maps) this.maps.delete(id);
    };
    for (const o of ops) {
      switch (o.op) {
        case "resource": {
          const r = o.resource;
          this.ledger.addResource(r.id, { typeUrl: r.typeUrl, name: r.name, version: r.version, bytes: r.bytes });
          break;
        }
        case "map": {
          this.ledger.addMap(o.map.id, o.map.resources);
          const m = new Map<string, EncodedResource>();
          for (const id of o.map.resources) {
            const r = this.ledger.resource(id);
            m.set(r.name, r);
          }
          this.maps.set(o.map.id, m);
          break;
        }
        case "assign":
          forget(this.ledger.setMap(o.key, o.typeUrl, o.map));
          touched.add(o.key);
          break;
        case "drop":
          forget(this.ledger.dropProxy(o.key));
          touched.delete(o.key);
          break;
      }
    }
    return touched;
  }

  /** Tells the worker's server which proxies changed. */
  changed(touched: ReadonlySet<number>): void {
    if (touched.size === 0) return;
    const change: ProxyChange = { all: false, affects: (p) => touched.has(this.keys.get(p) ?? -1) };
    for (const l of this.listeners) l(change);
  }
}
