// Building EncodedResources: the version is a hash of the bytes, so identical content has an
// identical version in every process and across restarts (delta reconnects rely on this to skip
// resources a client already holds).
import { createHash } from "node:crypto";
import type { EncodedResource, TypeUrl } from "./types.js";

/** A short content hash: 96 bits of SHA-256, base64url. */
export function contentVersion(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64url").slice(0, 16);
}

export function encodedResource(typeUrl: TypeUrl, name: string, bytes: Uint8Array): EncodedResource {
  return { typeUrl, name, version: contentVersion(bytes), bytes };
}

/** Short lower-case name of a type for metric labels and logs (lds, rds, cds, eds, sds). */
export function typeShortName(typeUrl: string): string {
  switch (typeUrl) {
    case "type.googleapis.com/envoy.config.listener.v3.Listener":
      return "lds";
    case "type.googleapis.com/envoy.config.route.v3.RouteConfiguration":
      return "rds";
    case "type.googleapis.com/envoy.config.cluster.v3.Cluster":
      return "cds";
    case "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment":
      return "eds";
    case "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret":
      return "sds";
    default:
      return "other";
  }
}
