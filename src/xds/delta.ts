// Incremental (delta) streams (xds-protocol.md §1 "Delta"). `sent` holds what the client has,
// seeded from initial_resource_versions on reconnect, so a restarted server re-sends only what
// changed and reports what disappeared in removed_resources. Resource versions are content hashes,
// so they match across restarts.
import type { DeltaDiscoveryRequest } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { PushOrder, type EncodedResource, type TypeUrl } from "./types.js";
import { assembleDeltaResponse } from "./wire.js";
import { changedNames } from "./map-diff.js";
import { XdsStream, type StreamContext, type StreamHost, type TypeState } from "./stream.js";
import { WILDCARD } from "./subscription.js";
import { answerNow } from "./stale-nonce.js";

export class DeltaStream extends XdsStream {
  readonly protocol = "delta";
  /** Per type: names just subscribed, sent even if the client is believed to hold them. */
  private readonly forced = new Map<TypeUrl, Set<string>>();

  constructor(host: StreamHost, ctx: StreamContext) {
    super(host, ctx);
  }

  handle(typeUrl: TypeUrl, req: DeltaDiscoveryRequest): void {
    const t = this.state(typeUrl);
    const first = !t.sub.isRequested;
    const initial = req.initialResourceVersions;
    if (first) for (const [name, version] of Object.entries(initial)) t.sent.set(name, version);
    const ack = this.acknowledge(t, req.responseNonce, req.errorDetail);
    const { added, removed } = t.sub.update(req.resourceNamesSubscribe, req.resourceNamesUnsubscribe);
    for (const name of removed) t.sent.delete(name);
    if (req.resourceNamesUnsubscribe.includes(WILDCARD)) {
      for (const name of t.sent.keys()) if (!t.sub.names.has(name)) t.sent.delete(name);
    }
    const forced = this.forcedFor(typeUrl);
    for (const name of added) if (!(first && Object.hasOwn(initial, name))) forced.add(name);
    // Unsubscribing a name still covered by `*` is answered with the resource again (or a removal),
    // which the deletion from `sent` above produces.
    const changed = first || added.length > 0 || req.resourceNamesUnsubscribe.length > 0 || req.resourceNamesSubscribe.includes(WILDCARD);
    if (changed) t.computedFrom = undefined;
    // Applied above even when stale: in delta the client never repeats a subscription change.
    if (answerNow(t, ack, changed)) this.respond(t);
  }

  push(only?: ReadonlySet<TypeUrl>): void {
    for (const typeUrl of PushOrder) {
      const t = this.types.get(typeUrl);
      if (t === undefined || !t.sub.isRequested || (only !== undefined && !only.has(typeUrl))) continue;
      t.dirty = false;
      this.respond(t);
    }
  }

  private forcedFor(typeUrl: TypeUrl): Set<string> {
    let s = this.forced.get(typeUrl);
    if (s === undefined) {
      s = new Set();
      this.forced.set(typeUrl, s);
    }
    return s;
  }

  private respond(t: TypeState): void {
    const available = this.host.provider.resources(this.proxy, t.typeUrl);
    const forced = this.forcedFor(t.typeUrl);
    const prev = forced.size === 0 ? t.computedFrom : undefined;
    if (available === prev) return;
    t.computedFrom = available;
    const send: EncodedResource[] = [];
    const removed: string[] = [];
    if (prev !== undefined) {
      for (const name of changedNames(prev, available)) {
        if (!t.sub.wants(name)) continue;
        const r = available.get(name);
        if (r !== undefined) {
          if (t.sent.get(name) !== r.version) send.push(r);
        } else if (t.sent.has(name)) removed.push(name);
      }
    } else {
      t.sub.forEachSelected(available, (r) => {
        if (forced.has(r.name) || t.sent.get(r.name) !== r.version) send.push(r);
      });
      const desired = (name: string): boolean => t.sub.wants(name) && available.has(name);
      for (const name of t.sent.keys()) if (!desired(name)) removed.push(name);
      // Explicitly subscribed names that do not exist are reported as removed (gcp #565).
      for (const name of forced) if (!desired(name) && !t.sent.has(name)) removed.push(name);
    }
    forced.clear();
    for (const r of send) t.sent.set(r.name, r.version);
    for (const name of removed) t.sent.delete(name);
    if (send.length === 0 && removed.length === 0) return;
    const version = this.host.nextVersion();
    const nonce = this.nextNonce();
    const bytes = assembleDeltaResponse({
      systemVersionInfo: version,
      resources: send,
      typeUrl: t.typeUrl,
      removedResources: removed,
      nonce,
    });
    this.send(t, bytes, version, nonce, send.map((r) => r.name), removed);
  }
}
