// State-of-the-world streams (xds-protocol.md §1). LDS and CDS responses carry the full
// subscribed set (absence means deletion); RDS, EDS and SDS carry only what the client lacks.
// Nothing is re-sent after an ACK, and after a NACK the rejected set is held: `sent` keeps what
// was sent, so only a change in the provider's resources for this proxy produces a new response.
import type { DiscoveryRequest } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { PushOrder, TypeUrl, type EncodedResource } from "./types.js";
import { sotwResponse } from "./wire.js";
import { changedNames } from "./map-diff.js";
import { XdsStream, type StreamContext, type StreamHost, type TypeState } from "./stream.js";
import { answerNow } from "./stale-nonce.js";

/** Types whose SotW responses must hold every subscribed resource. */
export function isFullStateType(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.Cluster;
}

export class SotwStream extends XdsStream {
  readonly protocol = "sotw";

  constructor(host: StreamHost, ctx: StreamContext) {
    super(host, ctx);
  }

  handle(typeUrl: TypeUrl, req: DiscoveryRequest): void {
    const t = this.state(typeUrl);
    const first = !t.sub.isRequested;
    const ack = this.acknowledge(t, req.responseNonce, req.errorDetail);
    const changed = t.sub.replace(req.resourceNames);
    if (changed) t.computedFrom = undefined;
    if (answerNow(t, ack, changed)) this.respond(t, first);
  }

  push(only?: ReadonlySet<TypeUrl>): void {
    let clustersChanged = false;
    for (const typeUrl of PushOrder) {
      const t = this.types.get(typeUrl);
      if (t === undefined || !t.sub.isRequested || (only !== undefined && !only.has(typeUrl))) continue;
      // A changed cluster is re-warmed by Envoy and waits for its endpoints; send them again even
      // if unchanged (java-control-plane PR #131).
      if (typeUrl === TypeUrl.ClusterLoadAssignment && clustersChanged) {
        t.sent.clear();
        t.computedFrom = undefined;
      }
      t.dirty = false;
      const sent = this.respond(t, false);
      if (typeUrl === TypeUrl.Cluster && sent) clustersChanged = true;
    }
  }

  /** Sends what the client lacks; `force` sends even an unchanged full-state set. Returns whether it sent. */
  private respond(t: TypeState, force: boolean): boolean {
    const available = this.host.provider.resources(this.proxy, t.typeUrl);
    const prev = force ? undefined : t.computedFrom;
    if (available === prev) return false;
    t.computedFrom = available;
    const changed = prev === undefined ? undefined : changedNames(prev, available);
    let send: EncodedResource[];
    if (isFullStateType(t.typeUrl)) {
      if (changed !== undefined && !changed.some((n) => t.sub.wants(n))) return false;
      send = t.sub.select(available);
      if (changed === undefined && !force && send.length === t.sent.size && send.every((r) => t.sent.get(r.name) === r.version)) return false;
      t.sent.clear();
      for (const r of send) t.sent.set(r.name, r.version);
    } else {
      send = [];
      if (changed !== undefined) {
        for (const name of changed) {
          if (!t.sub.wants(name)) continue;
          const r = available.get(name);
          if (r === undefined) t.sent.delete(name); // gone: forget it, so it is sent if it returns
          else if (t.sent.get(name) !== r.version) send.push(r);
        }
      } else {
        // Forget what is no longer wanted or offered, so that it is sent again if it comes back.
        for (const name of t.sent.keys()) if (!t.sub.wants(name) || !available.has(name)) t.sent.delete(name);
        t.sub.forEachSelected(available, (r) => {
          if (t.sent.get(r.name) !== r.version) send.push(r);
        });
      }
      for (const r of send) t.sent.set(r.name, r.version);
      if (send.length === 0) return false;
    }
    const version = this.host.nextVersion();
    const nonce = this.nextNonce();
    const response = sotwResponse({ versionInfo: version, resources: send, typeUrl: t.typeUrl, nonce });
    this.send(t, response, version, nonce, send.map((r) => r.name));
    return true;
  }
}
