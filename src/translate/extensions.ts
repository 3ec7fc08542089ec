// Insertion points for the security issues, asked by the listener and cluster builders of both
// proxy flavours. They return nothing today; mTLS (issue 3) fills the transport sockets from
// PeerAuthentication / DestinationRule TLS, authorization (issue 4) fills the filters from
// AuthorizationPolicy. Whatever they read must come from the snapshot (whose mesh and `others`
// digests are part of every cache key), never from elsewhere.
import type { Filter } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import type { Metadata, TransportSocket } from "../gen/envoy/config/core/v3/base_pb.js";
import type { HttpFilter } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { ServiceTarget } from "../model/lookup.js";
import type { Service, ServiceEndpoint } from "../model/snapshot.js";
import type { ServicePortSpec } from "../model/service-entry.js";
import type { TrafficPolicy } from "../model/destination-rule.js";
import type { TranslationScope } from "./common.js";

/**
 * The kinds of the snapshot's `others` bag that upstreamTransportSocket reads (auto-mTLS follows
 * the destination's PeerAuthentication). Outbound cache keys include exactly these; a hook that
 * reads another kind must list it here. Inbound hooks may read any kind.
 */
export const outboundPolicyKinds: readonly string[] = ["PeerAuthentication"];

/** One inbound filter chain: a port this proxy serves for a service. */
export interface InboundChainContext extends TranslationScope {
  readonly target: ServiceTarget;
}

/** One outbound cluster (a service port, optionally a subset) with its merged DestinationRule policy. */
export interface UpstreamContext extends TranslationScope {
  readonly service: Service;
  readonly port: ServicePortSpec;
  readonly subset: string;
  readonly clusterName: string;
  readonly trafficPolicy: Omit<TrafficPolicy, "portLevelSettings">;
}

/** One endpoint of an EDS assignment. */
export interface EndpointContext extends TranslationScope {
  readonly service: Service;
  readonly endpoint: ServiceEndpoint;
}

/**
 * Metadata on one EDS endpoint (auto-mTLS: `envoy.transport_socket_match: {tlsMode: istio}`).
 * Like outbound resources, shared by every proxy of a namespace and of both flavours.
 */
export function endpointMetadata(_ctx: EndpointContext): Metadata | undefined {
  return undefined;
}

/** HTTP filters placed before the router on an inbound HTTP chain (authorization: RBAC, ext_authz). */
export function inboundHttpFilters(_ctx: InboundChainContext): HttpFilter[] {
  return [];
}

/** Network filters placed before tcp_proxy on an inbound TCP chain (authorization: network RBAC). */
export function inboundNetworkFilters(_ctx: InboundChainContext): Filter[] {
  return [];
}

/** The downstream TLS of an inbound chain (PeerAuthentication); undefined = plaintext. */
export function inboundTransportSocket(_ctx: InboundChainContext): TransportSocket | undefined {
  return undefined;
}

/**
 * The upstream TLS of an outbound cluster (DestinationRule tls, auto-mTLS); undefined = plaintext.
 * Outbound resources are shared by every proxy of a namespace: read the context's service, port,
 * subset, policy and snapshot (mesh config, `outboundPolicyKinds`), not who the proxy is.
 */
export function upstreamTransportSocket(_ctx: UpstreamContext): TransportSocket | undefined {
  return undefined;
}
