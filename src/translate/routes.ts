// RDS for Envoy sidecars: one RouteConfiguration per outbound HTTP port, named by the port (`80`,
// `8080`), with a virtual host `host:port` per service on it and Istio's `allow_any` catch-all to
// the PassthroughCluster. Also the shared pieces (host aliases, the default route) that the
// proxyless flavour reuses.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { RouteConfigurationSchema } from "../gen/envoy/config/route/v3/route_pb.js";
import type { RouteSchema, RouteAction_HashPolicySchema, VirtualHostSchema } from "../gen/envoy/config/route/v3/route_components_pb.js";
import type { Proxy } from "../model/proxy.js";
import { effectiveTrafficPolicy } from "../model/destination-rule.js";
import { destinationRuleFor, visibleServices } from "../model/lookup.js";
import { sidecarScope } from "../model/sidecar-scope.js";
import type { OutboundTrafficMode } from "../model/sidecar.js";
import { isHttpProtocol, isSniffedProtocol, type ServicePortSpec } from "../model/service-entry.js";
import type { MeshSnapshot, Service } from "../model/snapshot.js";
import { TypeUrl } from "../xds/types.js";
import { isIP } from "node:net";
import { PreviousHostsPredicateSchema } from "../gen/envoy/extensions/retry/host/previous_hosts/v3/previous_hosts_pb.js";
import { PassthroughCluster, built, dnsDomain, durationFromSeconds, hostPort, outboundClusterName, outboundPolicyKey, typedConfig, type PlannedResource, type TranslationScope } from "./common.js";

type RouteInit = MessageInitShape<typeof RouteSchema>;
type VirtualHostInit = MessageInitShape<typeof VirtualHostSchema>;
type HashPolicyInit = MessageInitShape<typeof RouteAction_HashPolicySchema>;

/**
 * The names a proxy may use for a service, full name first: `name.ns.svc.cluster.local`,
 * `name.ns.svc`, `name.ns`, and `name` from the same namespace (Kubernetes-style hosts only).
 */
export function hostAliases(hostname: string, proxy: Proxy): string[] {
  const domain = dnsDomain(proxy); // ns.svc.cluster.local
  const clusterDomain = domain.split(".").slice(2).join(".");
  const out = [hostname];
  const svcSuffix = `.svc.${clusterDomain}`;
  if (clusterDomain !== "" && hostname.endsWith(svcSuffix)) {
    const nameNs = hostname.slice(0, -svcSuffix.length);
    if (nameNs.includes(".")) out.push(`${nameNs}.svc`, nameNs);
    if (hostname.endsWith(`.${domain}`)) out.push(hostname.slice(0, -(domain.length + 1)));
  }
  return out;
}

/** Route hashing for a DestinationRule consistentHash; gRPC clients only hash on headers. */
function hashPolicy(snapshot: MeshSnapshot, proxy: Proxy, service: Service, port: number): HashPolicyInit[] {
  const rule = destinationRuleFor(snapshot, proxy.namespace, service);
  const key = effectiveTrafficPolicy(rule?.spec, port).loadBalancer?.consistentHash?.key;
  if (key === undefined) return [];
  if (proxy.flavour === "grpc" && key.kind !== "httpHeaderName") return [];
  switch (key.kind) {
    case "httpHeaderName":
      return [{ policySpecifier: { case: "header", value: { headerName: key.name } } }];
    case "httpCookie": {
      const ttl = key.ttlSeconds !== undefined ? { ttl: durationFromSeconds(key.ttlSeconds) } : {};
      return [{ policySpecifier: { case: "cookie", value: { name: key.name, ...(key.path ? { path: key.path } : {}), ...ttl } } }];
    }
    case "useSourceIp":
      return [{ policySpecifier: { case: "connectionProperties", value: { sourceIp: true } } }];
    case "httpQueryParameterName":
      return [{ policySpecifier: { case: "queryParameter", value: { name: key.name } } }];
  }
}

/**
 * istiod's default retry policy on sidecar routes (MeshConfig defaultHttpRetryPolicy unset): two
 * retries on connection failures and gRPC UNAVAILABLE/CANCELLED, each to another host than the
 * last. Proxyless gRPC clients get it too, as from grpcgen (grpc-js-xds retries UNAVAILABLE and
 * CANCELLED; it ignores the Envoy-only conditions).
 */
export function defaultRetryPolicy(): NonNullable<Extract<RouteInit["action"], { case: "route" }>["value"]["retryPolicy"]> {
  return {
    retryOn: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    numRetries: 2,
    retryHostPredicate: [{ name: "envoy.retry_host_predicates.previous_hosts", configType: { case: "typedConfig", value: typedConfig(PreviousHostsPredicateSchema, {}) } }],
    hostSelectionRetryMaxAttempts: 5n,
  };
}

/** Istio's `default` route: everything to the service's default cluster. */
export function defaultRoute(scope: TranslationScope, service: Service, port: ServicePortSpec): RouteInit {
  const cluster = outboundClusterName(port.number, "", service.hostname);
  const hash = hashPolicy(scope.snapshot, scope.proxy, service, port.number);
  // timeout 0s turns off Envoy's 15 s default and max_grpc_timeout 0s lets the grpc-timeout header
  // decide, as Istio does; grpcgen emits the same route (grpc-js-xds reads only the retry policy).
  return {
    name: "default",
    match: { pathSpecifier: { case: "prefix", value: "/" } },
    action: {
      case: "route",
      value: { clusterSpecifier: { case: "cluster", value: cluster }, timeout: { seconds: 0n }, retryPolicy: defaultRetryPolicy(), maxGrpcTimeout: { seconds: 0n }, ...(hash.length ? { hashPolicy: hash } : {}) },
    },
  };
}

/**
 * The domains a virtual host answers for (istiod's generateVirtualHostDomains): the host name, its
 * absolute form `host.`, its short Kubernetes forms and the service addresses. Envoy sidecars match
 * hosts ignoring the port (ignore_port_in_host_matching), so only gRPC clients get `:port` forms.
 * `used` prevents a domain in two hosts (Envoy NACKs).
 */
export function virtualHostDomains(scope: TranslationScope, service: Service, port: number, used: Set<string>): string[] {
  const [hostname, ...aliases] = hostAliases(service.hostname, scope.proxy);
  const absolute = isIP(service.hostname) === 0 ? [`${service.hostname}.`] : [];
  const names = [hostname!, ...absolute, ...aliases, ...service.addresses.filter((a) => !a.includes("/"))];
  const withPort = scope.proxy.flavour === "grpc";
  const out: string[] = [];
  for (const n of names) {
    for (const d of withPort ? [n, hostPort(n, port)] : [n]) {
      if (used.has(d)) continue;
      used.add(d);
      out.push(d);
    }
  }
  return out;
}

/** The service's virtual IP, if it has one (a sniffed port with one gets a listener of its own). */
export function serviceVip(service: Service): string | undefined {
  return service.addresses.find((a) => isIP(a) !== 0);
}

/**
 * Whether a port is routed on the shared `0.0.0.0_<port>` HTTP listener and its RDS `<port>`:
 * declared HTTP, or detected (no protocol) on a service without a VIP, as istiod does.
 */
export function routedOnSharedPort(service: Service, port: ServicePortSpec): boolean {
  return isHttpProtocol(port.protocol) || (isSniffedProtocol(port.protocol) && serviceVip(service) === undefined);
}

/** A detected-protocol port of a service with a VIP: listener `<vip>_<port>`, RDS `<host>:<port>`. */
export function sniffedWithVip(service: Service, port: ServicePortSpec): boolean {
  return isSniffedProtocol(port.protocol) && serviceVip(service) !== undefined;
}

function httpPorts(services: readonly Service[]): number[] {
  return [...new Set(services.flatMap((s) => s.ports.filter((p) => routedOnSharedPort(s, p)).map((p) => p.number)))].sort((a, b) => a - b);
}

/**
 * The `*` virtual host after every service's: `allow_any` to the PassthroughCluster, or under
 * REGISTRY_ONLY `block_all` answering 502 itself (istiod's buildCatchAllVirtualHost).
 */
function catchAllVirtualHost(mode: OutboundTrafficMode): VirtualHostInit {
  if (mode === "REGISTRY_ONLY") {
    return {
      name: "block_all",
      domains: ["*"],
      routes: [{ name: "block_all", match: { pathSpecifier: { case: "prefix", value: "/" } }, action: { case: "directResponse", value: { status: 502 } } }],
      includeRequestAttemptCount: true,
    };
  }
  return {
    name: "allow_any",
    domains: ["*"],
    routes: [
      {
        name: "allow_any",
        match: { pathSpecifier: { case: "prefix", value: "/" } },
        action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: PassthroughCluster }, timeout: { seconds: 0n }, maxGrpcTimeout: { seconds: 0n } } },
      },
    ],
    includeRequestAttemptCount: true,
  };
}

function routeConfiguration(scope: TranslationScope, services: readonly Service[], port: number): ReturnType<typeof built> {
  const used = new Set<string>();
  const virtualHosts: VirtualHostInit[] = [];
  for (const service of services) {
    const sp = service.ports.find((p) => p.number === port && routedOnSharedPort(service, p));
    if (sp === undefined) continue;
    const domains = virtualHostDomains(scope, service, port, used);
    if (domains.length === 0) continue;
    virtualHosts.push({ name: hostPort(service.hostname, port), domains, routes: [defaultRoute(scope, service, sp)], includeRequestAttemptCount: true });
  }
  virtualHosts.push(catchAllVirtualHost(sidecarScope(scope.snapshot, scope.proxy).outboundTrafficPolicy));
  // Direct responses (VirtualService directResponse) may carry up to 1 MiB, as istiod allows.
  return built(RouteConfigurationSchema, { name: String(port), virtualHosts, validateClusters: false, ignorePortInHostMatching: true, maxDirectResponseBodySizeBytes: 1048576 });
}

/** A sniffed service's own route configuration: every host to the service (the listener already chose it by VIP). */
function sniffedRouteConfiguration(scope: TranslationScope, service: Service, port: ServicePortSpec): ReturnType<typeof built> {
  const name = hostPort(service.hostname, port.number);
  return built(RouteConfigurationSchema, {
    name,
    virtualHosts: [{ name, domains: ["*"], routes: [defaultRoute(scope, service, port)], includeRequestAttemptCount: true }],
    validateClusters: false,
    ignorePortInHostMatching: true,
    maxDirectResponseBodySizeBytes: 1048576,
  });
}

/** The RDS resources of an Envoy sidecar. */
export function routes(scope: TranslationScope): PlannedResource[] {
  const services = visibleServices(scope.snapshot, scope.proxy);
  const pk = `${outboundPolicyKey(scope.snapshot)}|${sidecarScope(scope.snapshot, scope.proxy).outboundTrafficPolicy}`;
  const sniffed: PlannedResource[] = services.flatMap((service) =>
    service.ports
      .filter((p) => sniffedWithVip(service, p))
      .map((port) => {
        const name = hostPort(service.hostname, port.number);
        const rule = destinationRuleFor(scope.snapshot, scope.proxy.namespace, service);
        return { typeUrl: TypeUrl.RouteConfiguration, name, key: `rds|envoy|sniffed|${name}|${service.digest}:${rule?.digest ?? ""}|${pk}`, build: () => sniffedRouteConfiguration(scope, service, port) };
      }),
  );
  return [...sharedPortRoutes(scope, services, pk), ...sniffed];
}

function sharedPortRoutes(scope: TranslationScope, services: readonly Service[], pk: string): PlannedResource[] {
  return httpPorts(services).map((port) => {
    const onPort = services.filter((s) => s.ports.some((p) => p.number === port));
    const deps = onPort.map((s) => `${s.digest}:${destinationRuleFor(scope.snapshot, scope.proxy.namespace, s)?.digest ?? ""}`).join(",");
    // Short host aliases depend on the proxy's DNS domain (its namespace).
    return {
      typeUrl: TypeUrl.RouteConfiguration,
      name: String(port),
      key: `rds|envoy|${port}|${dnsDomain(scope.proxy)}|${deps}|${pk}`,
      build: () => routeConfiguration(scope, onPort, port),
    };
  });
}
