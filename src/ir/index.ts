// The IR of one proxy, per proxy kind: what the Envoy builders (src/translate/) render. Each part
// is a list of keyed nodes (types.ts: name, cache key, content on demand), so a caller can share
// encodings across proxies whose keys are equal. Router proxies (Istio Gateway) add their own
// listeners and route tables here, reusing the route IR (routes.ts, virtual-service-routes.ts).
import { inboundClusterPlans, outboundClusterPlans } from "./clusters.js";
import { inboundTargets, proxylessOutboundListeners, sidecarInboundPorts, sidecarOutboundListeners } from "./listeners.js";
import { proxylessRouteTables, sidecarRouteTables } from "./routes.js";
import type { TranslationScope } from "./scope.js";
import type { GrpcApiListener, InboundClusterPlan, InboundPort, Keyed, OutboundClusterPlan, RouteTable, SidecarOutboundListener } from "./types.js";
import type { ServiceTarget } from "../model/lookup.js";

export type * from "./types.js";
export type { TranslationScope } from "./scope.js";

/** An Envoy sidecar's outbound side: the same for every proxy with one outboundKey. */
export interface SidecarOutboundIR {
  readonly listeners: readonly Keyed<SidecarOutboundListener>[];
  readonly routes: readonly Keyed<RouteTable>[];
  readonly clusters: readonly OutboundClusterPlan[];
}

/** A proxyless gRPC client's outbound side. */
export interface ProxylessOutboundIR {
  readonly listeners: readonly Keyed<GrpcApiListener>[];
  readonly routes: readonly Keyed<RouteTable>[];
  readonly clusters: readonly OutboundClusterPlan[];
}

/** What a proxy serves (either kind): its targets, and for Envoy its inbound clusters. */
export interface InboundIR {
  readonly targets: readonly ServiceTarget[];
  /** An Envoy sidecar's served ports (its Sidecar's ingress listeners when it has any); empty for proxyless gRPC. */
  readonly ports: readonly InboundPort[];
  readonly clusters: readonly InboundClusterPlan[];
}

export function sidecarOutboundIR(scope: TranslationScope): SidecarOutboundIR {
  return { listeners: sidecarOutboundListeners(scope), routes: sidecarRouteTables(scope), clusters: outboundClusterPlans(scope) };
}

export function proxylessOutboundIR(scope: TranslationScope): ProxylessOutboundIR {
  return { listeners: proxylessOutboundListeners(scope), routes: proxylessRouteTables(scope), clusters: outboundClusterPlans(scope) };
}

export function inboundIR(scope: TranslationScope): InboundIR {
  return { targets: inboundTargets(scope), ports: scope.proxy.flavour === "grpc" ? [] : sidecarInboundPorts(scope), clusters: scope.proxy.flavour === "grpc" ? [] : inboundClusterPlans(scope) };
}
