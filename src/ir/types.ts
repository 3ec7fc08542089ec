// The intermediate representation between the model and the Envoy builders (Envoy Gateway's
// shape): what a proxy gets, in mesh terms and plain data, before any protobuf exists. Built from
// the model by pure functions (src/ir/*), turned into Envoy resources by src/translate/*. Every
// node carries the key of its inputs so equal nodes share one encoding (encode-once caching), and
// its content is computed only when a resource with that key is first built (`ir()`).
import type { ServicePortSpec, Protocol } from "../model/service-entry.js";
import type { DestinationRule, Service } from "../model/snapshot.js";
import type { ServiceTarget } from "../model/lookup.js";

/** An IR node of one resource: its name, the key naming every input, and its content on demand. */
export interface Keyed<T> {
  readonly name: string;
  readonly key: string;
  ir(): T;
}

// ---------------------------------------------------------------- routes (RDS)

/** How a string is matched (Istio StringMatch). */
export type StringMatch = { readonly exact: string } | { readonly prefix: string } | { readonly regex: string };

/** A header (or pseudo-header such as `:method`, `:authority`, `:scheme`) condition. */
export interface HeaderCondition {
  readonly name: string;
  /** Absent: the header must be present (any value). */
  readonly match?: StringMatch;
  /** The condition holds when the header does not match (withoutHeaders). */
  readonly invert?: boolean;
  /** A missing header counts as the empty string (inverted value matches, as istiod sets them). */
  readonly treatMissingAsEmpty?: boolean;
}

export interface QueryParamCondition {
  readonly name: string;
  /** Absent: the parameter must be present. */
  readonly match?: StringMatch;
}

/** What a request must look like for a route to apply. */
export interface RouteMatch {
  readonly path: { readonly kind: "prefix" | "exact" | "regex" | "pathSeparatedPrefix"; readonly value: string };
  /** Set on VirtualService routes (false with ignoreUriCase); unset on Istio's default routes. */
  readonly caseSensitive?: boolean;
  readonly headers?: readonly HeaderCondition[];
  readonly queryParams?: readonly QueryParamCondition[];
}

export type HashPolicy =
  | { readonly kind: "header"; readonly name: string }
  | { readonly kind: "cookie"; readonly name: string; readonly path?: string; readonly ttlSeconds?: number }
  | { readonly kind: "sourceIp" }
  | { readonly kind: "queryParameter"; readonly name: string };

export interface RetryPolicy {
  readonly retryOn: string;
  readonly numRetries: number;
  readonly perTryTimeoutSeconds?: number;
  /** Retry on another host than the last (Envoy's previous_hosts predicate; 5 selection attempts either way). */
  readonly otherHost: boolean;
  readonly retriableStatusCodes?: readonly number[];
  /** Base interval of the exponential back-off between retries (Envoy's default 25 ms when unset). */
  readonly backoffSeconds?: number;
}

/** A fraction as Envoy writes it: per hundred (Istio's integer percents) or per million (Istio's Percent). */
export interface FractionalPercent {
  readonly numerator: number;
  readonly denominator: "HUNDRED" | "MILLION";
}

/** One header to add: `append` adds a value, otherwise the header is overwritten. */
export interface HeaderValue {
  readonly key: string;
  readonly value: string;
  readonly append: boolean;
}

export interface HeaderOperations {
  readonly requestAdd?: readonly HeaderValue[];
  readonly requestRemove?: readonly string[];
  readonly responseAdd?: readonly HeaderValue[];
  readonly responseRemove?: readonly string[];
}

export interface WeightedDestination {
  readonly cluster: string;
  readonly weight: number;
  readonly headers?: HeaderOperations;
  readonly authority?: string;
}

/** A request copy sent to another cluster; Istio keeps its Host (no `-shadow` suffix) and leaves trace sampling alone. */
export interface Mirror {
  readonly cluster: string;
  readonly fraction: FractionalPercent;
}

export interface Rewrite {
  readonly prefix?: string;
  readonly regex?: { readonly pattern: string; readonly substitution: string };
}

/** Forward to one or more clusters. */
export interface ForwardAction {
  readonly kind: "forward";
  /** One destination is a plain cluster (its weight unused); several are weighted clusters. */
  readonly destinations: readonly WeightedDestination[];
  readonly timeoutSeconds: number;
  /** Envoy: how long the grpc-timeout header may ask for (0 = no cap), as Istio sets it. */
  readonly maxGrpcTimeoutSeconds?: number;
  /** gRPC clients: the stream deadline (grpcgen's max_stream_duration). */
  readonly maxStreamDurationSeconds?: number;
  readonly retry?: RetryPolicy;
  readonly hashPolicies?: readonly HashPolicy[];
  readonly mirrors?: readonly Mirror[];
  readonly rewrite?: Rewrite;
  /** The Host/:authority the request goes upstream with. */
  readonly authority?: string;
}

export interface RedirectAction {
  readonly kind: "redirect";
  readonly path?: string;
  readonly prefix?: string;
  readonly authority?: string;
  readonly port?: number;
  readonly scheme?: string;
  /** HTTP status: 301 (default), 302, 303, 307, 308. */
  readonly code?: number;
}

export interface DirectResponseAction {
  readonly kind: "directResponse";
  readonly status: number;
  readonly body?: string;
  readonly bodyBase64?: string;
}

export type RouteAction = ForwardAction | RedirectAction | DirectResponseAction;

export interface FaultInjection {
  readonly delay?: { readonly fixedDelaySeconds: number; readonly percentage: FractionalPercent };
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number; readonly percentage?: FractionalPercent };
}

export interface CorsPolicy {
  readonly allowOrigins: readonly StringMatch[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly maxAgeSeconds?: number;
  readonly allowCredentials?: boolean;
  /** Preflights from origins the policy does not allow go on to the service (Istio's default) or are answered by Envoy. */
  readonly forwardNotMatchingPreflights: boolean;
}

export interface HttpRoute {
  readonly name?: string;
  readonly match: RouteMatch;
  readonly action: RouteAction;
  readonly headers?: HeaderOperations;
  readonly fault?: FaultInjection;
  readonly cors?: CorsPolicy;
  /** Stats of the route under this prefix (VirtualService match statPrefix). */
  readonly statPrefix?: string;
  /** The config the route came from (Istio's `/apis/networking.istio.io/v1/namespaces/<ns>/virtual-service/<name>`), as route metadata. */
  readonly origin?: string;
}

export interface VirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly HttpRoute[];
}

/** One RDS resource. `sidecar`: Envoy sidecar options (no cluster validation, ports ignored in host matching). */
export interface RouteTable {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
  readonly sidecar: boolean;
}

// ---------------------------------------------------------------- listeners (LDS)

/** Where a VirtualService tcp or tls route sends a chain's connections. */
export interface TcpRoute {
  /** One destination is a plain cluster; several are weighted clusters. */
  readonly destinations: readonly { readonly cluster: string; readonly weight: number }[];
  /** The VirtualService (`name.namespace`), the stat prefix of a weighted split as istiod names it. */
  readonly statPrefix: string;
  /** The VirtualService's config path, as the chain's metadata (istiod leaves it off destinationSubnets chains). */
  readonly origin?: string;
}

/** One TCP service port's chain on an outbound listener, with what it matches (none = everything). */
export interface TcpChain {
  /** The service port's default cluster (and the chain's identity in listener conflicts). */
  readonly cluster: string;
  readonly serverNames?: readonly string[];
  readonly prefixRanges?: readonly { addressPrefix: string; prefixLen: number }[];
  /** A VirtualService's route, instead of the default cluster. */
  readonly route?: TcpRoute;
}

/** An Envoy sidecar's outbound listeners. */
export type SidecarOutboundListener = (
  | { readonly kind: "virtualOutbound"; readonly name: string }
  /** `0.0.0.0_<port>` or `<vip>_<port>`: HTTP detected and routed by RDS `rds`; anything else to `fallbackCluster` (or the catch-all). */
  | { readonly kind: "http"; readonly name: string; readonly address: string; readonly port: number; readonly rds: string; readonly fallbackCluster?: string }
  | { readonly kind: "tcp"; readonly name: string; readonly address: string; readonly port: number; readonly chains: readonly TcpChain[] }
) & {
  /**
   * Where traffic to no known destination goes (virtualOutbound's catch-all, the listeners'
   * PassthroughFilterChain): PassthroughCluster under ALLOW_ANY, BlackHoleCluster under
   * REGISTRY_ONLY (the Sidecar's or the mesh config's outboundTrafficPolicy).
   */
  readonly catchAllCluster: string;
};

/** A proxyless gRPC client's api_listener: `name` answers for `service:port`, routed by RDS `rds`. */
export interface GrpcApiListener {
  readonly name: string;
  readonly service: Service;
  readonly port: ServicePortSpec;
  readonly rds: string;
}

/** What a proxy serves: one target per listening port, with mTLS and authorization decided by the builders' hooks. */
export interface InboundSide {
  readonly targets: readonly ServiceTarget[];
}

// ---------------------------------------------------------------- clusters (CDS)

/** One outbound cluster: the service port, the subset, and how endpoints are found. */
export interface OutboundClusterPlan {
  readonly name: string;
  readonly service: Service;
  readonly port: ServicePortSpec;
  readonly subset: string;
  readonly subsetLabels?: Readonly<Record<string, string>>;
  readonly rule?: DestinationRule;
  readonly discovery: "EDS" | "STRICT_DNS" | "LOGICAL_DNS" | "ORIGINAL_DST";
  /** Enforcement: the proxy's egress is blocked and the cluster does not go through EDS (kept by name, nowhere to connect). */
  readonly blocked?: boolean;
}

/** Where an inbound cluster sends: the instance's or loopback address and a port, or a unix socket (a Sidecar ingress defaultEndpoint). */
export type InboundEndpoint = { readonly kind: "socket"; readonly address: string; readonly port: number } | { readonly kind: "pipe"; readonly path: string };

/**
 * `inbound|port||` for a port this proxy serves; HTTP/2 options when a service on it speaks HTTP/2.
 * Without `endpoint` the original destination (istiod's ORIGINAL_DST inbound cluster).
 */
export interface InboundClusterPlan {
  readonly port: number;
  readonly protocol: Protocol;
  readonly endpoint?: InboundEndpoint;
}

/**
 * One port an Envoy sidecar serves on virtualInbound: from a service it serves, or from an
 * ingress listener of its Sidecar (which then replaces the services, as istiod).
 */
export interface InboundPort {
  /** The port the chain matches and the cluster `inbound|<targetPort>||` is named by. */
  readonly targetPort: number;
  /** The service port (the virtual host's name `inbound|http|<servicePort>`). */
  readonly servicePort: number;
  readonly protocol: Protocol;
  /** The chain's address part (`<bind>_<port>`): `0.0.0.0` unless the ingress listener binds one. */
  readonly bind: string;
  /** The Sidecar's config path for the chain's `istio.config` metadata (ingress ports only). */
  readonly origin?: string;
}
