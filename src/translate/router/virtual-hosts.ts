// The virtual hosts VirtualServices bound to a gateway give one of its servers, as istiod's
// buildGatewayHTTPRouteConfig makes them: for each VirtualService naming the gateway (in istiod's
// order), the hosts it shares with the server (`ns/host` server hosts count only for that
// namespace's VirtualServices), one virtual host `<host>:<port>` per shared host with the
// VirtualService's routes for that port (from the route IR, ir/virtual-service-routes.ts); hosts
// that end up with the very same routes are collapsed into one virtual host with several domains.
import { virtualServicesForGateway, gatewayHttpRoutes } from "../../ir/virtual-service-routes.js";
import { clusterDomain } from "../../ir/scope.js";
import type { HttpRoute } from "../../ir/types.js";
import { hostMatchesPattern } from "../../gateway/hosts.js";
import type { RouterServer } from "../../gateway/merge.js";
import { envoyRoute } from "../routes.js";
import type { TranslationScope } from "../common.js";

/** A virtual host before rendering: its routes, and which VirtualServices gave them (for collapsing). */
export interface BoundHost {
  readonly host: string;
  readonly routes: readonly HttpRoute[];
  readonly from: readonly string[];
}

/** istiod's host.NamesForNamespace: a server's hosts as a VirtualService of `namespace` sees them. */
function serverHostsFor(hosts: readonly string[], namespace: string): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    const slash = h.indexOf("/");
    if (slash < 0) out.push(h);
    else if (h.slice(0, slash) === namespace || h.slice(0, slash) === "*") out.push(h.slice(slash + 1));
  }
  return out;
}

/** istiod's host.Names.Intersection: for each pair that overlaps, the narrower name, once. */
function intersection(server: readonly string[], vs: readonly string[]): string[] {
  const out: string[] = [];
  for (const s of server) {
    for (const v of vs) {
      const pick = hostMatchesPattern(s, v) ? s : hostMatchesPattern(v, s) ? v : undefined;
      if (pick !== undefined && !out.includes(pick)) out.push(pick);
    }
  }
  return out;
}

/** The hosts VirtualServices bound to the server's gateway give it, by lower-cased host. */
export function boundHosts(scope: TranslationScope, rs: RouterServer): Map<string, BoundHost> {
  const out = new Map<string, BoundHost>();
  const port = rs.server.port.number;
  for (const vs of virtualServicesForGateway(scope.snapshot, scope.proxy.namespace, rs.gatewayRef, clusterDomain(scope.proxy))) {
    const shared = intersection(serverHostsFor(rs.hosts, vs.namespace), vs.spec.hosts);
    if (shared.length === 0) continue;
    const routes = gatewayHttpRoutes(scope, vs, rs.gatewayRef, port);
    if (routes.length === 0) continue; // istiod: "no routes matched", the VirtualService is skipped
    const id = `${vs.namespace}/${vs.name}`;
    for (const h of shared) {
      const host = h.toLowerCase();
      const had = out.get(host);
      out.set(host, had === undefined ? { host, routes, from: [id] } : { host, routes: [...had.routes, ...routes], from: [...had.from, id] });
    }
  }
  return out;
}

/** The Envoy routes of a bound host. */
export function renderedRoutes(h: BoundHost): ReturnType<typeof envoyRoute>[] {
  return h.routes.map(envoyRoute);
}
