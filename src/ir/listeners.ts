// Listener IR: which listeners a proxy gets and what each one does, decided here as istiod lays
// them out (its listener conflict resolution included); the Envoy builders (translate/listeners.ts,
// translate/grpc.ts) only render them. Sidecars: virtualOutbound, one HTTP listener per HTTP port
// (`0.0.0.0_<port>`, RDS `<port>`) or detected port with a VIP (`<vip>_<port>`, RDS `<host>:<port>`),
// one TCP listener per TCP service port; proxyless gRPC clients: one api_listener per name a
// service may be dialled by; both: the inbound side (the ports the proxy serves; for an Envoy
// sidecar whose Sidecar has ingress listeners, those ports instead, as istiod).
import { isIP } from "node:net";
import { stableJson } from "../model/digest.js";
import { visibleServices, serviceTargets, withPorts, type ServiceTarget } from "../model/lookup.js";
import { scopeImportsOnPort, sidecarScope } from "../model/sidecar-scope.js";
import { isHttpProtocol, type ServicePortSpec } from "../model/service-entry.js";
import type { Service } from "../model/snapshot.js";
import { VirtualOutboundListener, catchAllFor, hostPort, outboundClusterName, outboundPolicyKey, type TranslationScope } from "./scope.js";
import { grpcRouteName, hostAliases, routedOnSharedPort, serviceVip, sniffedWithVip } from "./routes.js";
import type { GrpcApiListener, InboundPort, Keyed, SidecarOutboundListener, TcpChain } from "./types.js";
import { l4RouteChains } from "./virtual-service-l4.js";

/** Protocols whose clients open TLS themselves: the chain is picked by SNI (istiod's TLS listeners). */
function isTlsProtocol(protocol: string): boolean {
  return protocol === "TLS" || protocol === "HTTPS";
}

/** Where a TCP service port's listener binds and what its chains match: VIP, CIDR (prefix match), or SNI; a VirtualService's tcp or tls routes replace the default chain. */
function tcpChainsFor(scope: TranslationScope, service: Service, port: ServicePortSpec): { address: string; chains: TcpChain[] } {
  const { address, chain } = defaultTcpChain(service, port);
  const routed = l4RouteChains(scope, service, port, chain);
  return { address, chains: routed ?? [chain] };
}

function defaultTcpChain(service: Service, port: ServicePortSpec): { address: string; chain: TcpChain } {
  const cluster = outboundClusterName(port.number, "", service.hostname);
  const vip = service.addresses.find((a) => isIP(a) !== 0);
  const cidrs = service.addresses
    .filter((a) => a.includes("/"))
    .map((a) => {
      const [addressPrefix = "", len = "0"] = a.split("/");
      return { addressPrefix, prefixLen: Number(len) };
    });
  const serverNames = isTlsProtocol(port.protocol) ? { serverNames: [service.hostname] } : {};
  if (vip !== undefined) return { address: vip, chain: { cluster, ...serverNames } };
  return { address: "0.0.0.0", chain: { cluster, ...serverNames, ...(cidrs.length > 0 ? { prefixRanges: cidrs } : {}) } };
}

/** Whether two chains match the same connections. */
function sameMatch(a: TcpChain, b: TcpChain): boolean {
  return stableJson([a.serverNames, a.prefixRanges]) === stableJson([b.serverNames, b.prefixRanges]);
}

/** A chain without a match: it takes every connection on its listener. */
export function matchesAll(c: TcpChain): boolean {
  return c.serverNames === undefined && c.prefixRanges === undefined;
}

function fixed<T>(name: string, key: string, ir: T): Keyed<T> {
  return { name, key, ir: () => ir };
}

/** An Envoy sidecar's outbound listeners: the same for a namespace. */
export function sidecarOutboundListeners(scope: TranslationScope): Keyed<SidecarOutboundListener>[] {
  const sidecar = sidecarScope(scope.snapshot, scope.proxy);
  const catchAllCluster = catchAllFor(sidecar.outboundTrafficPolicy);
  const pk = `${outboundPolicyKey(scope.snapshot)}|${catchAllCluster}`;
  // A port bound by a Sidecar egress listener carries only that listener's services.
  const visible = visibleServices(scope.snapshot, scope.proxy);
  const services = sidecar.boundPorts.size === 0 ? visible : visible.map((s) => withPorts(s, s.ports.filter((p) => scopeImportsOnPort(sidecar, s, p.number, scope.proxy.namespace))));
  const out: Keyed<SidecarOutboundListener>[] = [fixed(VirtualOutboundListener, `lds|envoy|virtualOutbound|${pk}`, { kind: "virtualOutbound", name: VirtualOutboundListener, catchAllCluster })];
  const httpPorts = new Set(services.flatMap((s) => s.ports.filter((p) => routedOnSharedPort(s, p)).map((p) => p.number)));
  const sniffed = new Map<string, { vip: string; port: number; rds: string; cluster: string }>();
  // TCP listeners by name; on an HTTP port's 0.0.0.0 listener the first TCP service without a VIP
  // becomes the default chain instead of the passthrough (istiod's listener conflict resolution).
  const tcp = new Map<string, { address: string; port: number; chains: TcpChain[] }>();
  const httpFallback = new Map<number, string>();
  for (const service of services) {
    for (const port of service.ports) {
      if (isHttpProtocol(port.protocol)) continue;
      const vip = serviceVip(service);
      if (sniffedWithVip(service, port) && vip !== undefined) {
        const name = `${vip}_${port.number}`;
        if (!sniffed.has(name)) sniffed.set(name, { vip, port: port.number, rds: hostPort(service.hostname, port.number), cluster: outboundClusterName(port.number, "", service.hostname) });
        continue;
      }
      const { address, chains } = tcpChainsFor(scope, service, port);
      const name = `${address}_${port.number}`;
      if (address === "0.0.0.0" && httpPorts.has(port.number)) {
        const [first] = chains;
        if (!httpFallback.has(port.number) && first !== undefined && chains.length === 1 && matchesAll(first) && first.route === undefined) httpFallback.set(port.number, first.cluster);
        continue;
      }
      const entry = tcp.get(name);
      if (entry === undefined) {
        tcp.set(name, { address, port: port.number, chains: [...chains] });
        continue;
      }
      // Istio's listener conflict: a second service joins only with a match of its own; else the first keeps the port.
      for (const chain of chains) {
        if (!matchesAll(chain) && !entry.chains.some(matchesAll) && !entry.chains.some((c) => sameMatch(c, chain))) entry.chains.push(chain);
      }
    }
  }
  for (const port of [...httpPorts].sort((a, b) => a - b)) {
    const fallback = httpFallback.get(port);
    const name = `0.0.0.0_${port}`;
    out.push(fixed(name, `lds|envoy|http|${port}|${fallback ?? ""}|${pk}`, { kind: "http", name, address: "0.0.0.0", port, rds: String(port), ...(fallback !== undefined ? { fallbackCluster: fallback } : {}), catchAllCluster }));
  }
  for (const [name, e] of sniffed) {
    if (tcp.has(name)) continue; // a declared TCP service on the same VIP and port came first
    out.push(fixed(name, `lds|envoy|sniffed|${name}|${e.rds}|${e.cluster}|${pk}`, { kind: "http", name, address: e.vip, port: e.port, rds: e.rds, fallbackCluster: e.cluster, catchAllCluster }));
  }
  for (const [name, e] of tcp) {
    out.push(fixed(name, `lds|envoy|tcp|${name}|${stableJson(e.chains)}|${pk}`, { kind: "tcp", name, address: e.address, port: e.port, chains: e.chains, catchAllCluster }));
  }
  return out;
}

/**
 * A proxyless gRPC client's api_listeners, the same for a namespace: full host names first, so a
 * short alias never shadows another service's real name; `name` alone for single-port services.
 */
export function proxylessOutboundListeners(scope: TranslationScope): Keyed<GrpcApiListener>[] {
  const pk = outboundPolicyKey(scope.snapshot);
  const services = visibleServices(scope.snapshot, scope.proxy);
  const out: Keyed<GrpcApiListener>[] = [];
  const taken = new Set<string>();
  for (const fullNamesOnly of [true, false]) {
    for (const service of services) {
      const aliases = fullNamesOnly ? [service.hostname] : hostAliases(service.hostname, scope.proxy).slice(1);
      for (const port of service.ports) {
        const names = aliases.map((a) => hostPort(a, port.number));
        if (service.ports.length === 1) names.push(...aliases);
        for (const name of names) {
          if (taken.has(name)) continue;
          taken.add(name);
          out.push(fixed(name, `lds|grpc|${name}|${service.digest}|${pk}`, { name, service, port, rds: grpcRouteName(service, port) }));
        }
      }
    }
  }
  return out;
}

/** One target per listening port: the first service (by target port, then service key) wins a clash. */
export function inboundTargets(scope: TranslationScope): ServiceTarget[] {
  const byPort = new Map<number, ServiceTarget>();
  for (const t of serviceTargets(scope.snapshot, scope.proxy)) if (!byPort.has(t.targetPort)) byPort.set(t.targetPort, t);
  return [...byPort.values()];
}

/**
 * The ports an Envoy sidecar serves on virtualInbound. With Sidecar ingress listeners only those
 * (istiod's buildInboundChainsFromSidecarIngress: ports the services declare but the ingress does
 * not list get no chain of their own; the passthrough chains take them), else one per target.
 */
export function sidecarInboundPorts(scope: TranslationScope): InboundPort[] {
  const sidecar = sidecarScope(scope.snapshot, scope.proxy);
  if (sidecar.ingress.length === 0) {
    return inboundTargets(scope).map((t) => ({ targetPort: t.targetPort, servicePort: t.port.number, protocol: t.port.protocol, bind: "0.0.0.0" }));
  }
  return sidecar.ingress.map((l) => ({ targetPort: l.port.number, servicePort: l.port.number, protocol: l.port.protocol, bind: l.bind ?? "0.0.0.0", origin: sidecar.configPath }));
}
