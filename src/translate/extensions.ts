// Insertion points for the security issues, asked by the listener and cluster builders of both
// proxy flavours. They return nothing today; mTLS (issue 3) fills the transport sockets from
// PeerAuthentication / DestinationRule TLS, authorization (issue 4) fills the filters from
// AuthorizationPolicy. Whatever they read must come from the snapshot (whose mesh and `others`
// digests are part of every cache key), never from elsewhere.
import type { Filter } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import type { Metadata } from "../gen/envoy/config/core/v3/base_pb.js";
import type { HttpFilter } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { ServiceTarget } from "../model/lookup.js";
import type { Service, ServiceEndpoint } from "../model/snapshot.js";
import type { ServicePortSpec } from "../model/service-entry.js";
import type { TrafficPolicy } from "../model/destination-rule.js";
import type { TranslationScope } from "./common.js";
import { inboundAuthzInput } from "./enforcement.js";
import { authzGrpcFilters, authzHttpFilters, authzNetworkFilters, type AuthzInput } from "../authz/filters.js";
import { selectPolicies } from "../authz/select.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { clusterTls, endpointTlsMetadata, type ClusterTls } from "./mtls-upstream.js";

export { outboundPolicyKinds } from "../ir/scope.js";

/**
 * One inbound filter chain: a port this proxy serves for a service, or (no target) a passthrough
 * chain for ports no service declares. Istio gives passthrough chains the same authorization
 * filters as service chains (istiod's buildInboundPassthroughChains goes through the same
 * inboundChainForOpts), so a DENY-all cannot be bypassed by calling an undeclared port.
 */
export interface InboundChainContext extends TranslationScope {
  readonly target?: ServiceTarget;
}

/** One outbound cluster (a service port, optionally a subset) with its merged DestinationRule policy. */
export interface UpstreamContext extends TranslationScope {
  readonly service: Service;
  readonly port: ServicePortSpec;
  readonly subset: string;
  readonly clusterName: string;
  readonly trafficPolicy: Omit<TrafficPolicy, "portLevelSettings">;
  /** How the cluster finds endpoints (auto-mTLS cannot choose per endpoint on ORIGINAL_DST). */
  readonly discovery?: "EDS" | "STRICT_DNS" | "LOGICAL_DNS" | "ORIGINAL_DST";
}

/** One endpoint of an EDS assignment (or a DNS cluster's inline endpoints) of one cluster. */
export interface EndpointContext extends TranslationScope {
  readonly service: Service;
  readonly endpoint: ServiceEndpoint;
  /** The cluster's service port and its merged DestinationRule policy (its TLS mode decides first). */
  readonly servicePort: number;
  readonly trafficPolicy: Omit<TrafficPolicy, "portLevelSettings">;
}

/**
 * Metadata on one EDS endpoint (auto-mTLS: `envoy.transport_socket_match: {tlsMode: istio}`).
 * Like outbound resources, shared by every proxy of a namespace and of both flavours.
 */
export function endpointMetadata(ctx: EndpointContext): Metadata | undefined {
  return endpointTlsMetadata(ctx);
}

/** HTTP filters placed before the router on an inbound HTTP chain (authorization: RBAC, ext_authz). */
export function inboundHttpFilters(ctx: InboundChainContext): HttpFilter[] {
  return [...inboundHttpAuthz(ctx).filters];
}

/** Network filters placed before tcp_proxy on an inbound TCP chain (authorization: network RBAC). */
export function inboundNetworkFilters(ctx: InboundChainContext): Filter[] {
  return [...inboundNetworkAuthz(ctx).filters];
}

/**
 * Inbound authorization filters with the key that names them within the snapshot (the selected
 * policies): chains with equal keys and equal layout are equal, which lets chains be shared.
 */
export interface SharedFilters<F> {
  readonly key: string;
  readonly filters: readonly F[];
}

export function inboundHttpAuthz(ctx: InboundChainContext): SharedFilters<HttpFilter> {
  const input = inboundAuthzInput(ctx);
  const grpc = ctx.proxy.flavour === "grpc";
  return sharedFilters(ctx.snapshot, grpc ? "grpc" : "http", input, () => (grpc ? authzGrpcFilters(input) : authzHttpFilters(input)).filters);
}

export function inboundNetworkAuthz(ctx: InboundChainContext): SharedFilters<Filter> {
  const input = inboundAuthzInput(ctx);
  return sharedFilters(ctx.snapshot, "network", input, () => authzNetworkFilters(input).filters);
}

/**
 * Authorization filters built once per snapshot and set of selected policies: every chain of a
 * proxy, and every proxy that the same policies select, gets the same filters (issue 18: a
 * quarantine changes every proxy's inbound listener, and building their RBAC filters chain by
 * chain, group by group, was most of an enforcement round's translation). The filters are a pure
 * function of the snapshot (policies, mesh config, services) and of which policies apply, which
 * is what the key names (policy namespace/name is unique within a snapshot; the quarantine's own
 * deny-all is named apart).
 */
const filtersBySnapshot = new WeakMap<MeshSnapshot, Map<string, SharedFilters<HttpFilter | Filter>>>();

function sharedFilters<F extends HttpFilter | Filter>(snapshot: MeshSnapshot, kind: string, input: AuthzInput, build: () => F[]): SharedFilters<F> {
  let memo = filtersBySnapshot.get(snapshot);
  if (memo === undefined) filtersBySnapshot.set(snapshot, (memo = new Map()));
  const selected = selectPolicies(input.policies, input.workload, input.mesh.rootNamespace);
  const names = (ps: readonly { namespace: string; name: string }[]): string => ps.map((p) => `${p.namespace}/${p.name}`).join(",");
  const key = `${kind}|${names(selected.custom)}|${names(selected.audit)}|${names(selected.deny)}|${names(selected.allow)}`;
  let shared = memo.get(key) as SharedFilters<F> | undefined;
  if (shared === undefined) memo.set(key, (shared = { key, filters: build() }));
  return shared;
}

/**
 * The upstream TLS of an outbound cluster (DestinationRule tls, auto-mTLS): a transport socket, or
 * per-endpoint socket matches; empty = plaintext. Outbound resources are shared by every proxy of
 * a namespace: read the context's service, port, subset, policy and snapshot (mesh config,
 * `outboundPolicyKinds`), not who the proxy is. The inbound side's TLS is part of the chain layout
 * (mtls-inbound.ts), since PeerAuthentication decides how many chains a port gets.
 */
export function upstreamTransportSocket(ctx: UpstreamContext): ClusterTls {
  return clusterTls(ctx);
}
