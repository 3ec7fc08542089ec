// RDS for router proxies, as istiod's buildGatewayHTTPRouteConfig: one RouteConfiguration per RDS
// name of the merged gateway (`http.<port>`, `https.<port>.<port name>.<gateway>.<ns>`), with a
// virtual host per host that a bound VirtualService and the server share, `require_tls: ALL` for
// an httpsRedirect server's hosts (a redirect to https for every plain request), and when no host
// is left a `blackhole:<port>` host with no route (Envoy answers 404).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { RouteConfigurationSchema } from "../../gen/envoy/config/route/v3/route_pb.js";
import { VirtualHost_TlsRequirementType, type VirtualHost, type VirtualHostSchema } from "../../gen/envoy/config/route/v3/route_components_pb.js";
import { mergedGatewayFor, type RouterServer } from "../../gateway/merge.js";
import { TypeUrl } from "../../xds/types.js";
import { built, hostPort, type PlannedResource, type TranslationScope } from "../common.js";

/** The object form of a VirtualHost init (spreadable). */
export type VirtualHostInit = Exclude<MessageInitShape<typeof VirtualHostSchema>, VirtualHost>;

/**
 * The virtual hosts VirtualServices bound to a server give it, by lower-cased host. Hook for the
 * VirtualService translation (issue 11 item 3): until it lands on this branch, none.
 */
export type BoundVirtualHosts = (scope: TranslationScope, server: RouterServer) => ReadonlyMap<string, VirtualHostInit>;

const noVirtualServices: BoundVirtualHosts = () => new Map();

/** Hosts without the `ns/` part a server may carry. */
function bareHost(h: string): string {
  const slash = h.indexOf("/");
  return (slash < 0 ? h : h.slice(slash + 1)).toLowerCase();
}

function routeConfiguration(scope: TranslationScope, routeName: string, servers: readonly RouterServer[], bound: BoundVirtualHosts): MessageInitShape<typeof RouteConfigurationSchema> {
  const vhosts = new Map<string, VirtualHostInit>();
  for (const rs of servers) {
    const port = rs.server.port.number;
    const redirect = rs.server.tls?.httpsRedirect === true;
    for (const [host, vh] of bound(scope, rs)) {
      const had = vhosts.get(host);
      if (had === undefined) vhosts.set(host, { ...vh, ...(redirect ? { requireTls: VirtualHost_TlsRequirementType.ALL } : {}) });
      else vhosts.set(host, { ...had, routes: [...(had.routes ?? []), ...(vh.routes ?? [])], ...(redirect ? { requireTls: VirtualHost_TlsRequirementType.ALL } : {}) });
    }
    if (!redirect) continue;
    for (const h of rs.hosts) {
      const host = h.toLowerCase();
      const had = vhosts.get(host);
      if (had !== undefined) vhosts.set(host, { ...had, requireTls: VirtualHost_TlsRequirementType.ALL });
      // istiod names the redirect host by the server's host as written (namespace part included).
      else vhosts.set(host, { name: hostPort(host, port), domains: [bareHost(host)], includeRequestAttemptCount: true, requireTls: VirtualHost_TlsRequirementType.ALL });
    }
  }
  const virtualHosts =
    vhosts.size === 0
      ? [{ name: `blackhole:${servers[0]?.server.port.number ?? 0}`, domains: ["*"] }]
      : [...vhosts.values()].sort((a, b) => ((a.name ?? "") < (b.name ?? "") ? -1 : (a.name ?? "") > (b.name ?? "") ? 1 : 0));
  return { name: routeName, virtualHosts, validateClusters: false, maxDirectResponseBodySizeBytes: 1048576, ignorePortInHostMatching: true };
}

/** A router's route configurations, one per RDS name its listeners use. */
export function routerRoutes(scope: TranslationScope, key: string, bound: BoundVirtualHosts = noVirtualServices): PlannedResource[] {
  const merged = mergedGatewayFor(scope.snapshot, scope.proxy);
  return [...merged.serversByRoute].map(([name, servers]) => ({
    typeUrl: TypeUrl.RouteConfiguration,
    name,
    key: `rds|router|${name}|${key}`,
    build: () => built(RouteConfigurationSchema, routeConfiguration(scope, name, servers, bound)),
  }));
}
