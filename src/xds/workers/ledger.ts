// Which resource maps and resources one stream worker holds, kept identically on both sides of
// the thread boundary: the main thread applies each operation as it sends it, the worker as it
// receives it, in the same order, so the main thread always knows what the worker already has and
// sends every map and every resource's bytes once per worker, and the worker drops what no proxy
// of its own references any more (the main thread knows it dropped them without being told).
import type { TypeUrl } from "../types.js";

interface HeldMap {
  refs: number;
  readonly resourceIds: readonly number[];
}

/** Reference counts: proxies -> maps (one per proxy and type) -> resources. */
export class ReplicaLedger<R> {
  /** Proxy key -> type -> map id. */
  private readonly proxies = new Map<number, Map<TypeUrl, number>>();
  private readonly maps = new Map<number, HeldMap>();
  private readonly resources = new Map<number, { refs: number; readonly value: R }>();

  hasMap(id: number): boolean {
    return this.maps.has(id);
  }

  hasResource(id: number): boolean {
    return this.resources.has(id);
  }

  resource(id: number): R {
    const r = this.resources.get(id);
    if (r === undefined) throw new Error(`stream worker ledger: resource ${id} is not held`);
    return r.value;
  }

  /** The map a proxy holds for a type, if any. */
  mapOf(key: number, typeUrl: TypeUrl): number | undefined {
    return this.proxies.get(key)?.get(typeUrl);
  }

  /** How much is held (the two sides' counts agree while the ledgers are in step). */
  counts(): { proxies: number; maps: number; resources: number } {
    return { proxies: this.proxies.size, maps: this.maps.size, resources: this.resources.size };
  }

  /** A resource the worker is sent (its bytes travel with this operation). */
  addResource(id: number, value: R): void {
    if (this.resources.has(id)) throw new Error(`stream worker ledger: resource ${id} sent twice`);
    this.resources.set(id, { refs: 0, value });
  }

  /** A map the worker is sent, as the ids of its resources (all held or sent with it). */
  addMap(id: number, resourceIds: readonly number[]): void {
    if (this.maps.has(id)) throw new Error(`stream worker ledger: map ${id} sent twice`);
    for (const r of resourceIds) {
      const held = this.resources.get(r);
      if (held === undefined) throw new Error(`stream worker ledger: map ${id} names resource ${r}, which is not held`);
      held.refs++;
    }
    this.maps.set(id, { refs: 0, resourceIds });
  }

  /**
   * The proxy now uses map `id` for the type (after addMap if new). A map left unused by this
   * (and never used by another proxy) is dropped with the resources only it held; returns the
   * dropped map ids and resource ids.
   */
  setMap(key: number, typeUrl: TypeUrl, id: number): { maps: number[]; resources: number[] } {
    const m = this.maps.get(id);
    if (m === undefined) throw new Error(`stream worker ledger: map ${id} is not held`);
    let types = this.proxies.get(key);
    if (types === undefined) this.proxies.set(key, (types = new Map()));
    const before = types.get(typeUrl);
    m.refs++;
    types.set(typeUrl, id);
    const dropped = { maps: [] as number[], resources: [] as number[] };
    if (before !== undefined) this.unref(before, dropped);
    return dropped;
  }

  /** A map sent but never given to a proxy (its proxy left in between) is dropped at once. */
  dropIfUnused(id: number): { maps: number[]; resources: number[] } {
    const dropped = { maps: [] as number[], resources: [] as number[] };
    const m = this.maps.get(id);
    if (m !== undefined && m.refs === 0) {
      m.refs = 1;
      this.unref(id, dropped);
    }
    return dropped;
  }

  /** The proxy's stream ended: its maps are released. */
  dropProxy(key: number): { maps: number[]; resources: number[] } {
    const dropped = { maps: [] as number[], resources: [] as number[] };
    const types = this.proxies.get(key);
    if (types === undefined) return dropped;
    this.proxies.delete(key);
    for (const id of types.values()) this.unref(id, dropped);
    return dropped;
  }

  private unref(id: number, dropped: { maps: number[]; resources: number[] }): void {
    const m = this.maps.get(id);
    if (m === undefined || --m.refs > 0) return;
    this.maps.delete(id);
    dropped.maps.push(id);
    for (const r of m.resourceIds) {
      const held = this.resources.get(r);
      if (held !== undefined && --held.refs === 0) {
        this.resources.delete(r);
        dropped.resources.push(r);
      }
    }
  }
}
