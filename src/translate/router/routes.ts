// RDS for router proxies, as istiod's buildGatewayHTTPRouteConfig: one RouteConfiguration per RDS
// name of the merged gateway (`http.<port>`, `https.<port>.<port name>.<gateway>.<ns>`), with a
// virtual host per host that a bound VirtualService and the server share (virtual-hosts.ts),
// `require_tls: ALL` for an httpsRedirect server's hosts (a redirect to https for every plain
// request), catch-all routes last, hosts with the same routes collapsed into one, and when no
// host is left a `blackhole:<port>` host with no route (Envoy answers 404).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { RouteConfigurationSchema } from "../../gen/envoy/config/route/v3/route_pb.js";
import { VirtualHost_TlsRequirementType, type VirtualHost, type VirtualHostSchema } from "../../gen/envoy/config/route/v3/route_components_pb.js";
import { mergedGatewayFor, type RouterServer } from "../../gateway/merge.js";
import { isCatchAll } from "../../ir/virtual-service-routes.js";
import { virtualServiceRoutesKey } from "../../ir/virtual-service-hosts.js";
import { TypeUrl } from "../../xds/types.js";
import { built, hostPort, type PlannedResource, type TranslationScope } from "../common.js";
import { envoyRoute } from "../routes.js";
import { boundHosts, type BoundHost } from "./virtual-hosts.js";
import { compareHostSpecificity } from "../../gateway/hosts.js";

/** The object form of a VirtualHost init (spreadable). */
export type VirtualHostInit = Exclude<MessageInitShape<typeof VirtualHostSchema>, VirtualHost>;

/** A virtual host being assembled: its bound routes (and their VirtualServices), the port, redirect. */
interface Pending {
  readonly name: string;
  readonly domain: string;
  bound?: BoundHost;
  requireTls: boolean;
}

function bareHost(h: string): string {
  const slash = h.indexOf("/");
  return (slash < 0 ? h : h.slice(slash + 1)).toLowerCase();
}

function routeConfiguration(scope: TranslationScope, routeName: string, servers: readonly RouterServer[]): MessageInitShape<typeof RouteConfigurationSchema> {
  const hosts = new Map<string, Pending>();
  for (const rs of servers) {
    const port = rs.server.port.number;
    const redirect = rs.server.tls?.httpsRedirect === true;
    for (const [host, b] of boundHosts(scope, rs)) {
      const had = hosts.get(host);
      if (had === undefined) hosts.set(host, { name: hostPort(host, port), domain: host, bound: b, requireTls: redirect });
      else {
        had.bound = had.bound === undefined ? b : { host, routes: [...had.bound.routes, ...b.routes], from: [...had.bound.from, ...b.from] };
        had.requireTls ||= redirect;
      }
    }
    if (!redirect) continue;
    for (const h of rs.hosts) {
      const host = h.toLowerCase();
      const had = hosts.get(host);
      if (had !== undefined) had.requireTls = true;
      else hosts.set(host, { name: hostPort(host, port), domain: bareHost(host), requireTls: true });
    }
  }
  if (hosts.size === 0) {
    return { name: routeName, virtualHosts: [{ name: `blackhole:${servers[0]?.server.port.number ?? 0}`, domains: ["*"] }], validateClusters: false, maxDirectResponseBodySizeBytes: 1048576, ignorePortInHostMatching: true };
  }
  // istiod's collapseDuplicateRoutes: in host order, a host whose routes are the same as an earlier
  // host's (the same VirtualServices' routes; hosts most specific first, as istiod sorts them) and whose TLS requirement is the same joins it.
  const collapsed: { vh: VirtualHostInit; same: string }[] = [];
  for (const key of [...hosts.keys()].sort(compareHostSpecificity)) {
    const p = hosts.get(key)!;
    const same = `${p.bound?.from.join(",") ?? ""}|${p.requireTls}`;
    const into = collapsed.find((c) => c.same === same);
    if (into !== undefined) {
      into.vh.domains = [...(into.vh.domains ?? []), p.domain];
      continue;
    }
    const routes = p.bound === undefined ? [] : [...p.bound.routes.filter((r) => !isCatchAll(r.match)), ...p.bound.routes.filter((r) => isCatchAll(r.match))];
    collapsed.push({
      same,
      vh: {
        name: p.name,
        domains: [p.domain],
        ...(routes.length > 0 ? { routes: routes.map(envoyRoute) } : {}),
        includeRequestAttemptCount: true,
        ...(p.requireTls ? { requireTls: VirtualHost_TlsRequirementType.ALL } : {}),
      },
    });
  }
  const virtualHosts = collapsed.map((c) => c.vh).sort((a, b) => ((a.name ?? "") < (b.name ?? "") ? -1 : (a.name ?? "") > (b.name ?? "") ? 1 : 0));
  return { name: routeName, virtualHosts, validateClusters: false, maxDirectResponseBodySizeBytes: 1048576, ignorePortInHostMatching: true };
}

/** A router's route configurations, one per RDS name its listeners use. */
export function routerRoutes(scope: TranslationScope, key: string): PlannedResource[] {
  const merged = mergedGatewayFor(scope.snapshot, scope.proxy);
  const vk = virtualServiceRoutesKey(scope);
  return [...merged.serversByRoute].map(([name, servers]) => ({
    typeUrl: TypeUrl.RouteConfiguration,
    name,
    key: `rds|router|${name}|${key}|${vk}`,
    build: () => built(RouteConfigurationSchema, routeConfiguration(scope, name, servers)),
  }));
}
