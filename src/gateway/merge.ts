// Which Gateways a router proxy runs, and how their servers share ports: istiod's mergeGateways.
// Servers are grouped per (port, protocol, bind); plaintext HTTP servers on one port share one
// RDS (`http.<port>`), each HTTPS server that terminates TLS gets its own filter chain (matched by
// SNI) and RDS (`https.<port>.<port name>.<gateway>.<namespace>`), a server that repeats another's
// TLS host on a port, or cannot share a port's protocol, is left out with a reason, as istiod does.
import type { Proxy } from "../model/proxy.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { labelsMatch } from "../model/lookup.js";
import type { Protocol } from "../model/service-entry.js";
import { isHttpServerProtocol, isHttpsTerminated, isPassthroughServer, gatewaysOf, GATEWAY_KIND, type Gateway, type GatewayServer } from "./gateway-kind.js";

/** A server as a router runs it: its gateway, hosts with `./` and `*\/` resolved, its RDS name. */
export interface RouterServer {
  readonly gateway: Gateway;
  /** `namespace/name` of the gateway (VirtualService `gateways` entries name it so). */
  readonly gatewayRef: string;
  readonly server: GatewayServer;
  /** spec.servers index, for error paths. */
  readonly index: number;
  readonly hosts: readonly string[];
  /** `http.<port>`, `https.<port>.<port name>.<gateway>.<ns>`, or "" (TCP, TLS, passthrough). */
  readonly routeName: string;
  /** TLS servers: the hosts without namespace, sorted (the filter chain's SNI match). */
  readonly sniHosts: readonly string[];
}

/** Servers that share a port, protocol and bind. */
export interface MergedServers {
  readonly number: number;
  readonly protocol: Protocol;
  readonly bind: string;
  readonly servers: RouterServer[];
  /** Plaintext HTTP: the port's RDS. */
  routeName: string;
}

/** A server the merge left out. */
export interface RejectedServer {
  /** `namespace/name` of its Gateway. */
  readonly gatewayRef: string;
  /** Its spec.servers index. */
  readonly index: number;
  readonly why: string;
}

export interface MergedGateway {
  /** In istiod's order: the first server's gateway order, then servers in order. */
  readonly ports: readonly MergedServers[];
  /** Servers of each RDS name (what the route configuration of that name serves). */
  readonly serversByRoute: ReadonlyMap<string, readonly RouterServer[]>;
  readonly autoPassthrough: boolean;
  /** The servers left out, and why. */
  readonly rejected: readonly RejectedServer[];
}

/** istiod's sanitizeServerHostNamespace: `./h` -> `<gateway ns>/h`, `*\/h` -> `h`, `*\/*` -> `*`. */
export function sanitizeServerHosts(hosts: readonly string[], namespace: string): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    const slash = h.indexOf("/");
    if (slash < 0) out.push(h);
    else {
      const [ns, host] = [h.slice(0, slash), h.slice(slash + 1)];
      if (ns === ".") out.push(`${namespace}/${host}`);
      else if (ns === "*") {
        if (host === "*") return ["*"];
        out.push(host);
      } else out.push(h);
    }
  }
  return out;
}

function withoutNamespace(h: string): string {
  const slash = h.indexOf("/");
  return slash < 0 ? h : h.slice(slash + 1);
}

/** gatewayRDSRouteName. */
export function gatewayRouteName(server: GatewayServer, gateway: Gateway): string {
  const bind = server.bind ? `.${server.bind}` : "";
  if (isHttpServerProtocol(server.port.protocol)) return `http.${server.port.number}${bind}`;
  if (server.port.protocol === "HTTPS" && !isPassthroughServer(server)) return `https.${server.port.number}.${server.port.name}.${gateway.name}.${gateway.namespace}${bind}`;
  return "";
}

/**
 * istiod's PILOT_SCOPE_GATEWAY_TO_NAMESPACE, read once at start as istiod reads it: when `true`, a
 * router runs only the Gateways of its own namespace; off (every namespace's) by default.
 */
export const scopeGatewayToNamespace = process.env["PILOT_SCOPE_GATEWAY_TO_NAMESPACE"] === "true";

/** The Gateways selecting a router, oldest first. */
export function gatewaysFor(snapshot: MeshSnapshot, proxy: Pick<Proxy, "type" | "labels" | "namespace">, scopeToNamespace = scopeGatewayToNamespace): Gateway[] {
  if (proxy.type !== "router") return [];
  const created = new Map((snapshot.others.get(GATEWAY_KIND) ?? []).map((a) => [`${a.object.metadata.namespace}/${a.object.metadata.name}`, a.object.metadata.creationTimestamp ?? ""]));
  return gatewaysOf(snapshot)
    .filter((g) => !scopeToNamespace || g.namespace === proxy.namespace)
    .filter((g) => g.spec.selector === undefined || labelsMatch(g.spec.selector, proxy.labels))
    .sort((a, b) => {
      // istiod's sortConfigByCreationTime: creation time, then name, then namespace.
      const ta = created.get(`${a.namespace}/${a.name}`) ?? "";
      const tb = created.get(`${b.namespace}/${b.name}`) ?? "";
      if (ta !== tb) return ta < tb ? -1 : 1;
      if (a.name !== b.name) return a.name < b.name ? -1 : 1;
      return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
    });
}

function canMergeProtocols(current: Protocol, p: Protocol): boolean {
  return (isHttpServerProtocol(current) || current === p) && isHttpServerProtocol(p);
}

/** istiod's gateway.IsTLSServer: TLS settings on a server that is not plaintext HTTP (an httpsRedirect is not TLS). */
function isTlsServer(s: GatewayServer): boolean {
  return s.tls !== undefined && !isHttpServerProtocol(s.port.protocol);
}

/** A server served over HTTP (plaintext, or HTTPS the gateway terminates). */
export function isHttpServer(s: GatewayServer): boolean {
  return isHttpServerProtocol(s.port.protocol) || isHttpsTerminated(s);
}

/** mergeGateways for the router's Gateways. */
export function mergeGateways(gateways: readonly Gateway[]): MergedGateway {
  const gatewayPorts = new Set<number>();
  const plainText = new Map<number, { protocol: Protocol; bind: string }>();
  const merged = new Map<string, MergedServers>();
  const ports: MergedServers[] = [];
  const serversByRoute = new Map<string, RouterServer[]>();
  const tlsHostsByPort = new Map<number, Map<string, string>>();
  const nonPlainTextBinds = new Map<number, Set<string>>();
  const rejected: RejectedServer[] = [];
  let autoPassthrough = false;
  const key = (n: number, p: Protocol, b: string): string => `${n}|${p}|${b}`;
  const add = (rs: RouterServer, bind: string): void => {
    const s = rs.server;
    if (!isTlsServer(s)) plainText.set(s.port.number, { protocol: s.port.protocol, bind });
    if (isHttpServer(s)) serversByRoute.set(rs.routeName, [rs]);
    const m: MergedServers = { number: s.port.number, protocol: s.port.protocol, bind, servers: [rs], routeName: rs.routeName };
    merged.set(key(s.port.number, s.port.protocol, bind), m);
    ports.push(m);
  };
  for (const gateway of gateways) {
    const gatewayRef = `${gateway.namespace}/${gateway.name}`;
    gateway.spec.servers.forEach((server, index) => {
      const why = (m: string): void => void rejected.push({ gatewayRef, index, why: m });
      const hosts = sanitizeServerHosts(server.hosts, gateway.namespace);
      const routeName = gatewayRouteName(server, gateway);
      const bind = server.bind ?? "";
      const port = server.port.number;
      const rs: RouterServer = { gateway, gatewayRef, server, index, hosts, routeName, sniHosts: server.tls ? [...new Set(hosts.map(withoutNamespace))].sort() : [] };
      if (server.tls !== undefined) {
        // Envoy rejects two filter chains with the same SNI match: a repeated host drops the server.
        const known = tlsHostsByPort.get(port) ?? new Map<string, string>();
        tlsHostsByPort.set(port, known);
        const duplicates = hosts.filter((h) => known.get(h) === bind);
        if (duplicates.length > 0) return why(`duplicate host names on port ${port}: ${duplicates.join(", ")}`);
        for (const h of hosts) known.set(h, bind);
        if (server.tls.mode === "AUTO_PASSTHROUGH") autoPassthrough = true;
      }
      const protocol = server.port.protocol;
      if (!gatewayPorts.has(port)) {
        gatewayPorts.add(port);
        add(rs, bind);
        return;
      }
      const current = plainText.get(port);
      if (current !== undefined) {
        if (!canMergeProtocols(protocol, current.protocol) && current.bind === bind) return why(`port ${port} ${protocol} conflicts with the ${current.protocol} server already on it`);
        if (routeName === "" && current.bind === bind) return why(`port ${port} is already taken and a ${protocol} server has no route name to share it by`);
        const at = merged.get(key(port, protocol, bind)) ?? merged.get(key(port, current.protocol, current.bind));
        if (current.bind !== bind && merged.get(key(port, protocol, bind)) === undefined) {
          add(rs, bind);
          return;
        }
        at!.servers.push(rs);
        if (current.bind !== bind) at!.routeName = routeName;
        serversByRoute.set(routeName, [...(serversByRoute.get(routeName) ?? []), rs]);
        return;
      }
      if (!isTlsServer(server)) {
        plainText.set(port, { protocol, bind });
        if (isHttpServer(server)) serversByRoute.set(routeName, [rs]);
        const m: MergedServers = { number: port, protocol, bind, servers: [rs], routeName };
        merged.set(key(port, protocol, bind), m);
        ports.push(m);
        return;
      }
      if (isHttpServer(server)) {
        if (routeName === "") return why(`could not build an RDS name for port ${port}`);
        if (serversByRoute.has(routeName)) return why(`port name "${server.port.name}" is not unique for HTTPS port ${port}`);
        serversByRoute.set(routeName, [rs]);
      }
      const binds = nonPlainTextBinds.get(port) ?? new Set<string>();
      const newBind = !binds.has(bind);
      binds.add(bind);
      nonPlainTextBinds.set(port, binds);
      if (server.tls === undefined && !newBind) return why(`TLS server without TLS settings on port ${port}`);
      const m = merged.get(key(port, protocol, bind));
      if (m === undefined) {
        const fresh: MergedServers = { number: port, protocol, bind, servers: [rs], routeName: "" };
        merged.set(key(port, protocol, bind), fresh);
        ports.push(fresh);
      } else m.servers.push(rs);
    });
  }
  return { ports, serversByRoute, autoPassthrough, rejected };
}

const mergedBySnapshot = new WeakMap<MeshSnapshot, Map<string, MergedGateway>>();

/** The merged gateway of a router proxy (memoised per snapshot, namespace and labels). */
export function mergedGatewayFor(snapshot: MeshSnapshot, proxy: Pick<Proxy, "type" | "labels" | "namespace">): MergedGateway {
  let byKey = mergedBySnapshot.get(snapshot);
  if (byKey === undefined) {
    byKey = new Map();
    mergedBySnapshot.set(snapshot, byKey);
  }
  const k = `${proxy.type}|${proxy.namespace}|${Object.keys(proxy.labels).sort().map((l) => `${l}=${proxy.labels[l]}`).join(",")}`;
  let m = byKey.get(k);
  if (m === undefined) {
    m = mergeGateways(gatewaysFor(snapshot, proxy));
    byKey.set(k, m);
  }
  return m;
}
