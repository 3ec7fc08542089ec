// What one stream has asked for of one type: explicit names, wildcard, or both
// (xds-protocol.md §1 "Wildcard and empty lists").
import { TypeUrl, type EncodedResource } from "./types.js";

export const WILDCARD = "*";

/** Only LDS and CDS treat an empty first request as the legacy wildcard. */
export function supportsLegacyWildcard(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.Cluster;
}

export class Subscription {
  readonly names = new Set<string>();
  wildcard = false;
  /** Whether this stream has ever sent a request of this type; decides the legacy-wildcard rule. */
  private requested = false;
  /** Whether wildcard came from the legacy empty first request (kept while requests stay empty). */
  private legacyWildcard = false;

  constructor(readonly typeUrl: string) {}

  /**
   * SotW: the request's resource_names replace the subscription. Returns true when it changed.
   * An empty list is the legacy wildcard on the first request of LDS/CDS (and stays so while the
   * client keeps sending empty lists, as Envoy does in its ACKs); otherwise it unsubscribes all.
   */
  replace(resourceNames: readonly string[]): boolean {
    const before = this.key();
    const first = !this.requested;
    this.requested = true;
    this.names.clear();
    if (resourceNames.length === 0) {
      this.legacyWildcard = (first || this.legacyWildcard) && supportsLegacyWildcard(this.typeUrl);
      this.wildcard = this.legacyWildcard;
    } else {
      this.legacyWildcard = false;
      this.wildcard = false;
      for (const n of resourceNames) {
        if (n === WILDCARD) this.wildcard = true;
        else this.names.add(n);
      }
    }
    return first || this.key() !== before;
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

  /** The subset of `available` this subscription selects. */
  select(available: ReadonlyMap<string, EncodedResource>): ReadonlyMap<string, EncodedResource> {
    if (this.wildcard) return available;
    const out = new Map<string, EncodedResource>();
    for (const n of this.names) {
      const r = available.get(n);
      if (r !== undefined) out.set(n, r);
    }
    return out;
  }

  /** Names as a client would list them (`*` first when wildcard). */
  list(): string[] {
    return (this.wildcard ? [WILDCARD] : []).concat([...this.names].sort());
  }

  private key(): string {
    return this.list().join("\n");
  }
}
