// The contract between the protocol side (src/xds/server*, which knows streams, versions, nonces
// and nothing of the mesh) and the mesh side (translators and the resource cache, which know
// nothing of gRPC). Keep it small.
import type { Proxy } from "../model/proxy.js";

export const TypeUrl = {
  Cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  ClusterLoadAssignment: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  Listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  RouteConfiguration: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  Secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
} as const;
export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** Make-before-break push order (xds-protocol.md §1). */
export const PushOrder: readonly TypeUrl[] = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
  TypeUrl.Secret,
];

/**
 * One version of one resource, encoded once. Every stream that receives this version is sent the
 * same bytes.
 */
export interface EncodedResource {
  readonly typeUrl: TypeUrl;
  readonly name: string;
  /** Content-derived, so equal bytes have equal versions across restarts. */
  readonly version: string;
  /** The resource's message bytes (the value inside the Any, without the Any wrapper). */
  readonly bytes: Uint8Array;
}

/** Which proxies a change touches: every proxy, or those for which `affects` is true. */
export type ProxyChange = { readonly all: true } | { readonly all: false; affects(proxy: Proxy): boolean };

/** What the protocol side asks of the mesh side. */
export interface ResourceProvider {
  /**
   * The full current set of resources of one type that this proxy may receive, by name. A returned
   * map is never modified afterwards: a change returns a new map (the server skips recomputing a
   * stream's type when it gets the same map back).
   */
  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource>;
  /**
   * What `resources` would answer now, without starting anything (a provider that produces
   * resources on demand, such as SDS issuing a certificate, implements it). For readers such as CSDS.
   */
  held?(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource>;
  /** Subscribe to changes; returns the unsubscribe function. */
  onChange(listener: (change: ProxyChange) => void): () => void;
}

/** A provider's resources for a reader: its side-effect-free view where it has one. */
export function heldResources(p: ResourceProvider, proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
  return p.held !== undefined ? p.held(proxy, typeUrl) : p.resources(proxy, typeUrl);
}
