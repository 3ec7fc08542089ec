// Cluster IR: which clusters a proxy gets (`outbound|port|subset|host` per visible service port and
// DestinationRule subset, `inbound|port||` per port it serves) and how each finds its endpoints,
// with enforcement attached (an egress-blocked proxy's non-EDS clusters lose their endpoints).
// The Envoy builder (translate/clusters.ts) renders them with their mTLS and DestinationRule policy.
import { effectiveTrafficPolicy } from "../model/destination-rule.js";
import { destinationRuleFor, serviceTargets, visibleServices } from "../model/lookup.js";
import { isHttp2Protocol, type Protocol } from "../model/service-entry.js";
import type { Service } from "../model/snapshot.js";
import { proxyEnforcement } from "../model/workload-enforcement.js";
import { outboundClusterName, type TranslationScope } from "./scope.js";
import type { InboundClusterPlan, InboundEndpoint, OutboundClusterPlan } from "./types.js";
import { sidecarScope } from "../model/sidecar-scope.js";
import { isIP } from "node:net";
import type { Proxy } from "../model/proxy.js";

function discoveryFor(scope: TranslationScope, service: Service): OutboundClusterPlan["discovery"] {
  // grpcgen always builds EDS clusters; Envoy follows the ServiceEntry's resolution.
  if (scope.proxy.flavour === "grpc") return "EDS";
  switch (service.resolution) {
    case "STATIC":
      return "EDS";
    case "DNS":
      return "STRICT_DNS";
    case "DNS_ROUND_ROBIN":
      return "LOGICAL_DNS";
    case "NONE":
      return "ORIGINAL_DST";
  }
}

/** Every outbound cluster this proxy gets (also the list EDS answers for). */
export function outboundClusterPlans(scope: TranslationScope): OutboundClusterPlan[] {
  const out: OutboundClusterPlan[] = [];
  // EDS clusters stay as they are when egress is blocked: their assignments are empty for that proxy.
  const blocked = proxyEnforcement(scope.snapshot, scope.proxy) !== "";
  for (const service of visibleServices(scope.snapshot, scope.proxy)) {
    const rule = destinationRuleFor(scope.snapshot, scope.proxy.namespace, service);
    const discovery = discoveryFor(scope, service);
    for (const port of service.ports) {
      const base = { service, port, ...(rule ? { rule } : {}) };
      // PASSTHROUGH load balancing turns a cluster into an original-destination one (Envoy only).
      const via = (subset?: string): Pick<OutboundClusterPlan, "discovery" | "blocked"> => {
        const d = scope.proxy.flavour === "envoy" && effectiveTrafficPolicy(rule?.spec, port.number, subset).loadBalancer?.simple === "PASSTHROUGH" ? "ORIGINAL_DST" : discovery;
        return { discovery: d, ...(blocked && d !== "EDS" ? { blocked: true } : {}) };
      };
      out.push({ ...base, ...via(), name: outboundClusterName(port.number, "", service.hostname), subset: "" });
      for (const s of rule?.spec.subsets ?? []) {
        out.push({ ...base, ...via(s.name), name: outboundClusterName(port.number, s.name, service.hostname), subset: s.name, subsetLabels: s.labels });
      }
    }
  }
  return out;
}

/** `inbound|port||` per port an Envoy sidecar serves: HTTP/2 wins if any service on the port speaks it, else the first service's protocol. */
export function inboundClusterPlans(scope: TranslationScope): InboundClusterPlan[] {
  const ingress = sidecarScope(scope.snapshot, scope.proxy).ingress;
  if (ingress.length > 0) {
    return ingress.map((l) => {
      const endpoint = l.defaultEndpoint === undefined ? undefined : ingressEndpoint(l.defaultEndpoint, scope.proxy);
      return { port: l.port.number, protocol: l.port.protocol, ...(endpoint ? { endpoint } : {}) };
    });
  }
  const inbound = new Map<number, Protocol>();
  for (const t of serviceTargets(scope.snapshot, scope.proxy)) {
    const had = inbound.get(t.targetPort);
    if (had === undefined || (!isHttp2Protocol(had) && isHttp2Protocol(t.port.protocol))) inbound.set(t.targetPort, t.port.protocol);
  }
  return [...inbound.entries()].sort(([a], [b]) => a - b).map(([port, protocol]) => ({ port, protocol }));
}

/**
 * A Sidecar ingress defaultEndpoint as istiod resolves it (buildInboundClusters): `unix://path` a
 * pipe; `0.0.0.0` the proxy's first IPv4 (`[::]` its first IPv6), loopback when it has none;
 * `[::1]` IPv6 loopback; anything else 127.0.0.1. Validation (sidecar.ts) guarantees the form.
 */
export function ingressEndpoint(defaultEndpoint: string, proxy: Pick<Proxy, "ips">): InboundEndpoint {
  if (defaultEndpoint.startsWith("unix://")) return { kind: "pipe", path: defaultEndpoint.slice("unix://".length) };
  const colon = defaultEndpoint.lastIndexOf(":");
  const host = defaultEndpoint.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(defaultEndpoint.slice(colon + 1));
  const address = host === "0.0.0.0" ? (proxy.ips.find((ip) => isIP(ip) === 4) ?? "127.0.0.1") : host === "::" ? (proxy.ips.find((ip) => isIP(ip) === 6) ?? "::1") : host === "::1" ? "::1" : "127.0.0.1";
  return { kind: "socket", address, port };
}
