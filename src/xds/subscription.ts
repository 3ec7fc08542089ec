// What one stream has asked for of one type: explicit names, wildcard, or both
// (xds-protocol.md §1 "Wildcard and empty lists").
import { TypeUrl, type EncodedResource } from "./types.js";

export const WILDCARD = "*";

/** Only LDS and CDS treat an empty first request as the legacy wildcard. */
export function supportsLegacyWildcard(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.Cluster;
}

export class Subscription {
  /** Explicitly subscribed names (without `*`). */
  names = new Set<string>();
  wildcard = false;
  /** Whether this stream has ever sent a request of this type; decides the legacy-wildcard rule. */
  private requested = false;
  /** Whether wildcard came from the legacy empty first request (kept while requests stay empty). */
  private legacyWildcard = false;
  /** list()'s answer until the subscription changes (statuses carry it on every ACK). */
  private listed: readonly string[] | undefined;
  /** The previous SotW resource_names, for the common case of an ACK repeating them. */
  private lastList: readonly string[] = [];

  constructor(readonly typeUrl: string) {}

  /**
   * SotW: the request's resource_names replace the subscription. Returns true when it changed.
   * An empty list is the legacy wildcard on the first request of LDS/CDS (and stays so while the
   * client keeps sending empty lists, as Envoy does in its ACKs); otherwise it unsubscribes all.
   */
  replace(resourceNames: readonly string[]): boolean {
    const first = !this.requested;
    this.requested = true;
    if (resourceNames.length === 0) {
      this.lastList = resourceNames;
      this.legacyWildcard = (first || this.legacyWildcard) && supportsLegacyWildcard(this.typeUrl);
      const changed = first || this.wildcard !== this.legacyWildcard || this.names.size > 0;
      this.wildcard = this.legacyWildcard;
      this.names.clear();
      if (changed) this.listed = undefined;
      return changed;
    }
    this.legacyWildcard = false;
    // Most requests are ACKs repeating the previous list verbatim: compare element-wise first, and
    // keep the old list (whose strings the name set shares) rather than holding a second copy.
    const last = this.lastList;
    // The request decoder hands the same (interned, frozen) array for the same encoded list.
    if (!first && (last === resourceNames || (last.length === resourceNames.length && last.every((n, i) => n === resourceNames[i])))) return false;
    this.lastList = resourceNames;
    const incoming = new Set(resourceNames);
    const wildcard = incoming.delete(WILDCARD);
    let changed = first || wildcard !== this.wildcard || incoming.size !== this.names.size;
    if (!changed) for (const n of incoming) if (!this.names.has(n)) {
      changed = true;
      break;
    }
    this.wildcard = wildcard;
    if (changed) {
      this.names = incoming;
      this.listed = undefined;
    }
    return changed;
  }

  /**
   * Delta: subscribe/unsubscribe lists. A first request of LDS/CDS with nothing to subscribe is the
   * legacy wildcard. Returns the names newly subscribed (which must be sent even if the client is
   * believed to hold them) and those unsubscribed.
   */
  update(subscribe: readonly string[], unsubscribe: readonly string[]): { added: string[]; removed: string[] } {
    const first = !this.requested;
    this.requested = true;
    if (first && subscribe.length === 0 && supportsLegacyWildcard(this.typeUrl)) this.wildcard = true;
    const added: string[] = [];
    const removed: string[] = [];
    if (first || subscribe.length > 0 || unsubscribe.length > 0) this.listed = undefined;
    for (const n of subscribe) {
      if (n === WILDCARD) this.wildcard = true;
      else {
        this.names.add(n);
        added.push(n);
      }
    }
    for (const n of unsubscribe) {
      if (n === WILDCARD) this.wildcard = false;
      else if (this.names.delete(n)) removed.push(n);
    }
    return { added, removed };
  }

  get isRequested(): boolean {
    return this.requested;
  }

  /** Whether the stream wants anything at all of this type. */
  get active(): boolean {
    return this.wildcard || this.names.size > 0;
  }

  wants(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /**
   * Calls `fn` for each resource of `available` this subscription selects, until it returns false.
   * No intermediate collection: this runs per stream per type on every push.
   */
  forEachSelected(available: ReadonlyMap<string, EncodedResource>, fn: (r: EncodedResource) => boolean | void): void {
    if (this.wildcard) {
      for (const r of available.values()) if (fn(r) === false) return;
      return;
    }
    for (const n of this.names) {
      const r = available.get(n);
      if (r !== undefined && fn(r) === false) return;
    }
  }

  /** The resources of `available` this subscription selects. */
  select(available: ReadonlyMap<string, EncodedResource>): EncodedResource[] {
    if (this.wildcard) return [...available.values()];
    const out: EncodedResource[] = [];
    for (const n of this.names) {
      const r = available.get(n);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  /**
   * Names as a client would list them (`*` first when wildcard). The same frozen array until the
   * subscription changes, so its identity says whether it did.
   */
  list(): readonly string[] {
    this.listed ??= Object.freeze((this.wildcard ? [WILDCARD] : []).concat([...this.names].sort()));
    return this.listed;
  }
}
