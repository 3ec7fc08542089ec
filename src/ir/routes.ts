// Route IR for the mesh (sidecars' outbound RDS and proxyless gRPC's RDS): which route tables a
// proxy gets, the virtual hosts in them (one per service port, answering every name the proxy may
// use for it), and each host's routes: the service's VirtualService routes when one applies
// (virtual-service-routes.ts), else Istio's `default` route to the service's default cluster.
import { isIP } from "node:net";
import type { Proxy } from "../model/proxy.js";
import { effectiveTrafficPolicy } from "../model/destination-rule.js";
import { destinationRuleFor, visibleServices } from "../model/lookup.js";
import { scopeImportsOnPort, sidecarScope } from "../model/sidecar-scope.js";
import { isHttpProtocol, isSniffedProtocol, type ServicePortSpec } from "../model/service-entry.js";
import type { MeshSnapshot, Service } from "../model/snapshot.js";
import { PassthroughCluster, clusterDomain, dnsDomain, hostPort, outboundClusterName, outboundPolicyKey, type TranslationScope } from "./scope.js";
import type { HashPolicy, HttpRoute, Keyed, RetryPolicy, RouteTable, VirtualHost } from "./types.js";
import { hashPolicyOf } from "./routes-hash.js";
import { virtualServiceClaims, virtualServiceRoutesKey } from "./virtual-service-hosts.js";
import { routingLabelsKey } from "./virtual-service-routes.js";

/**
 * The names a proxy may use for a service, full name first: `name.ns.svc.cluster.local`,
 * `name.ns.svc`, `name.ns`, and `name` from the same namespace (Kubernetes-style hosts only).
 */
export function hostAliases(hostname: string, proxy: Proxy): string[] {
  const domain = dnsDomain(proxy); // ns.svc.cluster.local
  const suffix = clusterDomain(proxy);
  const out = [hostname];
  const svcSuffix = `.svc.${suffix}`;
  if (suffix !== "" && hostname.endsWith(svcSuffix)) {
    const nameNs = hostname.slice(0, -svcSuffix.length);
    if (nameNs.includes(".")) out.push(`${nameNs}.svc`, nameNs);
    if (hostname.endsWith(`.${domain}`)) out.push(hostname.slice(0, -(domain.length + 1)));
  }
  return out;
}

/** Route hashing for the service's DestinationRule consistentHash on this port. */
export function hashPolicies(scope: TranslationScope, service: Service, port: number): HashPolicy[] {
  const rule = destinationRuleFor(scope.snapshot, scope.proxy.namespace, service);
  const key = effectiveTrafficPolicy(rule?.spec, port).loadBalancer?.consistentHash?.key;
  const policy = key === undefined ? undefined : hashPolicyOf(key, scope.proxy.flavour);
  return policy === undefined ? [] : [policy];
}

/**
 * istiod's default retry policy on sidecar routes (MeshConfig defaultHttpRetryPolicy unset): two
 * retries on connection failures and gRPC UNAVAILABLE/CANCELLED, each to another host than the
 * last. Proxyless gRPC clients get it too, as from grpcgen (grpc-js-xds retries UNAVAILABLE and
 * CANCELLED; it ignores the Envoy-only conditions).
 */
export const defaultRetryPolicy: RetryPolicy = { retryOn: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", numRetries: 2, otherHost: true };

/**
 * Istio's `default` route: everything to the service's default cluster. timeout 0s turns off
 * Envoy's 15 s default and max_grpc_timeout 0s lets the grpc-timeout header decide, as Istio does;
 * grpcgen emits the same route (grpc-js-xds reads only the retry policy).
 */
export function defaultRoute(scope: TranslationScope, service: Service, port: ServicePortSpec): HttpRoute {
  const hash = hashPolicies(scope, service, port.number);
  return {
    name: "default",
    match: { path: { kind: "prefix", value: "/" } },
    action: {
      kind: "forward",
      destinations: [{ cluster: outboundClusterName(port.number, "", service.hostname), weight: 100 }],
      timeoutSeconds: 0,
      maxGrpcTimeoutSeconds: 0,
      retry: defaultRetryPolicy,
      ...(hash.length ? { hashPolicies: hash } : {}),
    },
  };
}

/** Istio's `allow_any` virtual host: any other host name passes through to where it was going. */
const allowAnyHost: VirtualHost = {
  name: "allow_any",
  domains: ["*"],
  routes: [{ name: "allow_any", match: { path: { kind: "prefix", value: "/" } }, action: { kind: "forward", destinations: [{ cluster: PassthroughCluster, weight: 100 }], timeoutSeconds: 0, maxGrpcTimeoutSeconds: 0 } }],
};

/** Under REGISTRY_ONLY, istiod's `block_all`: any other host name is answered 502 by the sidecar itself. */
const blockAllHost: VirtualHost = {
  name: "block_all",
  domains: ["*"],
  routes: [{ name: "block_all", match: { path: { kind: "prefix", value: "/" } }, action: { kind: "directResponse", status: 502 } }],
};

/** The `*` virtual host after every service's, as the Sidecar's (or the mesh config's) outbound traffic policy says. */
function catchAllHost(scope: TranslationScope): VirtualHost {
  return sidecarScope(scope.snapshot, scope.proxy).outboundTrafficPolicy === "REGISTRY_ONLY" ? blockAllHost : allowAnyHost;
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

/** What a service's routes depend on besides the service: its DestinationRule (hashing). */
function routeDeps(scope: TranslationScope, service: Service): string {
  return `${service.digest}:${destinationRuleFor(scope.snapshot, scope.proxy.namespace, service)?.digest ?? ""}`;
}

/**
 * The routes of one port as this proxy sees them: per service the VirtualService that claims it
 * (or none: Istio's default route), and the VirtualService hosts that are no service.
 */
type PortRoutes = { byService: Map<string, HttpRoute[]>; otherHosts: { host: string; routes: HttpRoute[] }[] };

/**
 * portRoutes per snapshot and what it reads of the proxy (flavour, namespace, DNS domain, the
 * labels sourceLabels match, the Sidecar that applies): proxyless route tables ask once per service port, not once per port.
 */
const portRoutesMemo = new WeakMap<MeshSnapshot, Map<string, PortRoutes>>();

function portRoutes(scope: TranslationScope, services: readonly Service[], port: number): PortRoutes {
  const p = scope.proxy;
  // The Sidecar that applies decides which VirtualServices are imported (virtualServiceClaims).
  const key = `${p.flavour}|${p.namespace}|${dnsDomain(p)}|${routingLabelsKey(scope.snapshot, p.labels)}|${sidecarScope(scope.snapshot, p).key}|${port}|${services.map((s) => s.key).join(",")}`;
  let memo = portRoutesMemo.get(scope.snapshot);
  if (memo === undefined) portRoutesMemo.set(scope.snapshot, (memo = new Map()));
  let out = memo.get(key);
  if (out === undefined) memo.set(key, (out = computePortRoutes(scope, services, port)));
  return out;
}

function computePortRoutes(scope: TranslationScope, services: readonly Service[], port: number): PortRoutes {
  const byService = new Map<string, HttpRoute[]>();
  const otherHosts: { host: string; routes: HttpRoute[] }[] = [];
  for (const claim of virtualServiceClaims(scope, services, port)) {
    for (const host of claim.hosts) if (!otherHosts.some((h) => h.host === host)) otherHosts.push({ host, routes: claim.routes });
    for (const s of claim.services) if (!byService.has(s.hostname)) byService.set(s.hostname, claim.routes);
  }
  return { byService, otherHosts };
}

function sharedPortTable(scope: TranslationScope, services: readonly Service[], port: number): RouteTable {
  const used = new Set<string>();
  const virtualHosts: VirtualHost[] = [];
  const { byService, otherHosts } = portRoutes(scope, services, port);
  // VirtualService hosts that are no service answer for their name only (istiod's buildVirtualHost without a service).
  for (const { host, routes } of otherHosts) {
    if (used.has(host)) continue;
    used.add(host);
    virtualHosts.push({ name: hostPort(host, port), domains: [host], routes });
  }
  for (const service of services) {
    const sp = service.ports.find((p) => p.number === port && routedOnSharedPort(service, p));
    if (sp === undefined) continue;
    const domains = virtualHostDomains(scope, service, port, used);
    if (domains.length === 0) continue;
    virtualHosts.push({ name: hostPort(service.hostname, port), domains, routes: byService.get(service.hostname) ?? [defaultRoute(scope, service, sp)] });
  }
  virtualHosts.push(catchAllHost(scope));
  return { name: String(port), virtualHosts, sidecar: true };
}

/** The routes of one service port as this proxy sees them: its VirtualService's, else Istio's default route. */
export function serviceRoutes(scope: TranslationScope, service: Service, port: ServicePortSpec): HttpRoute[] {
  const onPort = visibleServices(scope.snapshot, scope.proxy).filter((s) => s.ports.some((p) => p.number === port.number));
  return portRoutes(scope, onPort, port.number).byService.get(service.hostname) ?? [defaultRoute(scope, service, port)];
}

/** A sniffed service's own route table: every host to the service (the listener already chose it by VIP). */
function sniffedTable(scope: TranslationScope, service: Service, port: ServicePortSpec): RouteTable {
  const name = hostPort(service.hostname, port.number);
  return { name, virtualHosts: [{ name, domains: ["*"], routes: serviceRoutes(scope, service, port) }], sidecar: true };
}

/**
 * An Envoy sidecar's route tables: `<port>` per HTTP port shared by the services on it, and
 * `<host>:<port>` per detected-protocol port of a service with a VIP.
 */
export function sidecarRouteTables(scope: TranslationScope): Keyed<RouteTable>[] {
  const services = visibleServices(scope.snapshot, scope.proxy);
  const sidecar = sidecarScope(scope.snapshot, scope.proxy);
  const pk = `${outboundPolicyKey(scope.snapshot)}|${sidecar.outboundTrafficPolicy}`;
  const vk = virtualServiceRoutesKey(scope);
  const ports = [...new Set(services.flatMap((s) => s.ports.filter((p) => routedOnSharedPort(s, p)).map((p) => p.number)))].sort((a, b) => a - b);
  const shared = ports.map((port): Keyed<RouteTable> => {
    // A port bound by a Sidecar egress listener routes only that listener's services (istiod's GetEgressListenerForRDS).
    const onPort = services.filter((s) => s.ports.some((p) => p.number === port) && scopeImportsOnPort(sidecar, s, port, scope.proxy.namespace));
    // Short host aliases depend on the proxy's DNS domain (its namespace).
    return { name: String(port), key: `rds|envoy|${port}|${dnsDomain(scope.proxy)}|${onPort.map((s) => routeDeps(scope, s)).join(",")}|${pk}${vk}`, ir: () => sharedPortTable(scope, onPort, port) };
  });
  const sniffed = services.flatMap((service) =>
    service.ports
      .filter((p) => sniffedWithVip(service, p))
      .map((port): Keyed<RouteTable> => {
        const name = hostPort(service.hostname, port.number);
        return { name, key: `rds|envoy|sniffed|${name}|${routeDeps(scope, service)}|${pk}${vk}`, ir: () => sniffedTable(scope, service, port) };
      }),
  );
  return [...shared, ...sniffed];
}

/** The RDS name for a service port: grpcgen names it like the default cluster, `outbound|port||host`. */
export function grpcRouteName(service: Service, port: ServicePortSpec): string {
  return outboundClusterName(port.number, "", service.hostname);
}

/**
 * gRPC clients forward or fail: a route that redirects or answers directly makes grpc-js-xds
 * NACK the whole route table (grpcgen sends it anyway), so such routes are left out and the
 * request falls to the next route (test/oracle/differences.ts: proxyless-non-forwarding-routes).
 */
function proxylessRoutes(routes: readonly HttpRoute[]): HttpRoute[] {
  return routes.filter((r) => r.action.kind === "forward");
}

/** A proxyless gRPC workload's route tables: one per service port. */
export function proxylessRouteTables(scope: TranslationScope): Keyed<RouteTable>[] {
  const pk = outboundPolicyKey(scope.snapshot);
  const vk = virtualServiceRoutesKey(scope);
  return visibleServices(scope.snapshot, scope.proxy).flatMap((service) =>
    service.ports.map((port): Keyed<RouteTable> => {
      const name = grpcRouteName(service, port);
      return {
        name,
        key: `rds|grpc|${name}|${dnsDomain(scope.proxy)}|${service.digest}|${destinationRuleFor(scope.snapshot, scope.proxy.namespace, service)?.digest ?? ""}|${pk}${vk}`,
        ir: () => ({
          name,
          // A port declared as not HTTP gets no virtual host, as from grpcgen: gRPC cannot reach it.
          virtualHosts:
            isHttpProtocol(port.protocol) || isSniffedProtocol(port.protocol)
              ? [{ name: hostPort(service.hostname, port.number), domains: virtualHostDomains(scope, service, port.number, new Set()), routes: proxylessRoutes(serviceRoutes(scope, service, port)) }]
              : [],
          sidecar: false,
        }),
      };
    }),
  );
}
