// A read-only map of a shared base plus a few entries of one's own (own entries win), so a proxy
// group's resources can reuse its namespace's outbound map without copying thousands of entries.
export class OverlayMap<K, V> implements ReadonlyMap<K, V> {
  readonly size: number;

  constructor(
    readonly base: ReadonlyMap<K, V>,
    readonly own: ReadonlyMap<K, V>,
  ) {
    let size = base.size;
    for (const k of own.keys()) if (!base.has(k)) size++;
    this.size = size;
  }

  get(key: K): V | undefined {
    return this.own.has(key) ? this.own.get(key) : this.base.get(key);
  }

  has(key: K): boolean {
    return this.own.has(key) || this.base.has(key);
  }

  *entries(): MapIterator<[K, V]> {
    for (const [k, v] of this.base) if (!this.own.has(k)) yield [k, v];
    yield* this.own.entries();
  }

  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}
