// networking.istio.io VirtualService, read and validated as istiod's ValidateVirtualService does
// (field paths on every complaint): hosts, gateways, exportTo, and the http / tcp / tls routes.
// The HTTP route reader lives in virtual-service-http.ts. The model keeps the typed spec in its
// `others` bag; route translation (src/ir/virtual-service-routes.ts) reads it from there.
import { FieldProblems, type Fields, intField, isCidrOrIp, isFields, listField, mapField, portField, requiredString, stringField, stringListField, stringMapField, unknownKeys } from "./fields.js";
import { parseExportTo } from "./service-entry.js";
import { hostPattern } from "./workload-entry.js";
import { isIP } from "node:net";
import { parseHttpRoute, type HttpRouteSpec } from "./virtual-service-http.js";
import { warnUnreachableRules } from "./virtual-service-lint.js";
import type { KindHandler } from "./kinds.js";
import type { MeshSnapshot } from "./snapshot.js";
import type { ConfigObject } from "./config.js";

export type { HttpRouteSpec, HttpMatchSpec, StringMatchSpec, HeadersSpec, HttpRouteDestinationSpec } from "./virtual-service-http.js";

export const VIRTUAL_SERVICE_KIND = "VirtualService";

/** Istio's name for the gateway every sidecar (and proxyless client) is: `gateways: [mesh]`. */
export const MeshGateway = "mesh";

export interface DestinationSpec {
  readonly host: string;
  readonly subset?: string;
  readonly port?: number;
}

export interface RouteDestinationSpec {
  readonly destination: DestinationSpec;
  readonly weight: number;
}

/** L4 match of a tcp or tls route (tls adds sniHosts). */
export interface L4MatchSpec {
  readonly destinationSubnets: readonly string[];
  readonly port?: number;
  readonly sourceLabels: Readonly<Record<string, string>>;
  readonly gateways: readonly string[];
  readonly sourceNamespace?: string;
  readonly sniHosts: readonly string[];
}

export interface L4RouteSpec {
  readonly match: readonly L4MatchSpec[];
  readonly route: readonly RouteDestinationSpec[];
}

export interface VirtualServiceSpec {
  /** Empty for a delegate (a VirtualService only other VirtualServices' http routes point to). */
  readonly hosts: readonly string[];
  readonly gateways: readonly string[];
  readonly http: readonly HttpRouteSpec[];
  readonly tcp: readonly L4RouteSpec[];
  readonly tls: readonly L4RouteSpec[];
  readonly exportTo: readonly string[];
}

/** One accepted VirtualService with what route translation needs from its object. */
export interface VirtualService {
  readonly name: string;
  readonly namespace: string;
  readonly spec: VirtualServiceSpec;
  /** For sorting as istiod does (oldest first, then name, then namespace). */
  readonly creationTimestamp: string;
  /** Istio's config path, put into route metadata: `/apis/networking.istio.io/v1/namespaces/<ns>/virtual-service/<name>`. */
  readonly configPath: string;
}

export function parseDestination(v: unknown, at: string, p: FieldProblems): DestinationSpec | undefined {
  if (!isFields(v)) {
    p.error(at, "destination is required");
    return undefined;
  }
  const host = requiredString(v, "host", at, p);
  if (host !== undefined && !hostPattern.test(host) && isIP(host) === 0) p.error(`${at}.host`, `"${host}" is not a valid host name`);
  if (host === "*") p.error(`${at}.host`, "wildcard is not allowed as a destination host");
  const subset = stringField(v, "subset", at, p);
  const portMap = mapField(v, "port", at, p);
  const port = portMap ? portField(portMap, "number", `${at}.port`, p) : undefined;
  unknownKeys(v, ["host", "subset", "port"], at, p);
  if (host === undefined) return undefined;
  return { host, ...(subset ? { subset } : {}), ...(port !== undefined ? { port } : {}) };
}

/** Weighted destinations; a list of more than one must not weigh 0 in total (istiod's validateRouteDestinations). */
export function parseDestinations<T extends { readonly weight: number }>(obj: Fields, at: string, p: FieldProblems, each: (v: Fields, at: string, destination: DestinationSpec, weight: number) => T): T[] {
  const out = listField(obj, "route", at, p, (v, path): T | undefined => {
    if (!isFields(v)) {
      p.error(path, "weight may not be nil");
      return undefined;
    }
    const destination = parseDestination(v["destination"], `${path}.destination`, p);
    const weight = intField(v, "weight", path, p, 0, 2 ** 31 - 1) ?? 0;
    return destination === undefined ? undefined : each(v, path, destination, weight);
  });
  if (out.length > 1 && out.reduce((a, d) => a + d.weight, 0) === 0) p.error(`${at}.route`, "total destination weight = 0");
  return out;
}

function parseL4Match(v: unknown, at: string, p: FieldProblems, tls: boolean): L4MatchSpec | undefined {
  if (!isFields(v)) {
    p.error(at, "must be a map");
    return undefined;
  }
  const destinationSubnets = stringListField(v, "destinationSubnets", at, p);
  destinationSubnets.forEach((s, i) => {
    if (!isCidrOrIp(s)) p.error(`${at}.destinationSubnets[${i}]`, `"${s}" is not a valid IP address or CIDR range`);
  });
  const sniHosts = tls ? stringListField(v, "sniHosts", at, p) : [];
  const port = portField(v, "port", at, p);
  const sourceNamespace = stringField(v, "sourceNamespace", at, p);
  unknownKeys(v, ["destinationSubnets", "port", "sourceLabels", "gateways", "sourceNamespace", ...(tls ? ["sniHosts"] : [])], at, p);
  return {
    destinationSubnets,
    ...(port !== undefined ? { port } : {}),
    sourceLabels: stringMapField(v, "sourceLabels", at, p),
    gateways: stringListField(v, "gateways", at, p),
    ...(sourceNamespace ? { sourceNamespace } : {}),
    sniHosts,
  };
}

function parseL4Route(v: unknown, at: string, p: FieldProblems, tls: boolean): L4RouteSpec | undefined {
  if (!isFields(v)) {
    p.error(at, `${tls ? "TLS" : "TCP"} route may not be null`);
    return undefined;
  }
  const match = listField(v, "match", at, p, (m, path) => parseL4Match(m, path, p, tls));
  if (tls && match.length === 0) p.error(`${at}.match`, "TLS route must have at least one match condition");
  if (tls) match.forEach((m, i) => m.sniHosts.length === 0 && p.error(`${at}.match[${i}].sniHosts`, "TLS route match must have at least one SNI host"));
  const route = parseDestinations(v, at, p, (_f, _path, destination, weight) => ({ destination, weight }));
  if (route.length === 0) p.error(`${at}.route`, `${tls ? "TLS" : "TCP"} route is required`);
  unknownKeys(v, ["match", "route"], at, p);
  return { match, route };
}

/** East-west gateways route Istio's SNI names (`outbound_.<port>_.<subset>_.<host>`); istiod accepts them on gateway-bound VirtualServices with TLS routes. */
const autoSniHost = /^outbound_\.[0-9]+_\.[^.]*_\.[a-zA-Z].*$/;

/** A VirtualService host (istiod's ValidateWildcardDomain): a name, a `*.` wildcard, or an IP; `*` only for gateways. */
function checkHosts(hosts: readonly string[], bindsGateway: boolean, sni: boolean, p: FieldProblems): void {
  let valid = true;
  hosts.forEach((h, i) => {
    if (isIP(h) !== 0) return;
    if (h === "*") {
      if (!bindsGateway) p.error(`spec.hosts[${i}]`, "wildcard host * is not allowed for virtual services bound to the mesh gateway");
      valid = bindsGateway && valid;
      return;
    }
    if (bindsGateway && sni && autoSniHost.test(h)) return;
    if (!hostPattern.test(h) || h.length > 255) {
      p.error(`spec.hosts[${i}]`, `"${h}" is not a valid domain name (wildcard only as a leading "*.")`);
      valid = false;
    }
  });
  if (!valid) return;
  for (let i = 0; i < hosts.length; i++) {
    for (let j = i + 1; j < hosts.length; j++) {
      if (hostMatches(hosts[i]!, hosts[j]!) || hostMatches(hosts[j]!, hosts[i]!)) p.error("spec.hosts", `duplicate hosts in virtual service: ${hosts[i]} & ${hosts[j]}`);
    }
  }
}

/** istiod's validateSniHost: a name (or an IP, with a warning) covered by one of the VirtualService's hosts. */
function checkSniHost(h: string, hosts: readonly string[], bindsGateway: boolean, at: string, p: FieldProblems): void {
  if (isIP(h) !== 0) {
    p.warn(at, `using an IP address (${JSON.stringify(h)}) goes against SNI spec and most clients do not support this`);
    return;
  }
  if (!(bindsGateway && autoSniHost.test(h)) && (h === "*" ? !bindsGateway : !hostPattern.test(h))) {
    p.error(at, `"${h}" is not a valid domain name`);
    return;
  }
  if (!hosts.some((vh) => hostMatches(vh, h))) p.error(at, `SNI host "${h}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(", ")}]`);
}

/** Whether host name pattern `pattern` (`*.example.com`, `*`, or a name) covers `name` (Istio's host.Name.Matches, one way). */
export function hostMatches(pattern: string, name: string): boolean {
  if (pattern === name || pattern === "*") return true;
  if (pattern.startsWith("*.")) {
    const suffix = pattern.slice(1);
    if (name.startsWith("*.")) return name.slice(1).endsWith(suffix);
    return name.endsWith(suffix);
  }
  return false;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** istiod's validateGatewayNames: `namespace/name` of DNS labels, or a name (`name.namespace` is the legacy form, warned). */
export function checkGatewayName(g: string, at: string, p: FieldProblems): void {
  if (g === MeshGateway) return;
  const slash = g.indexOf("/");
  if (slash < 0) {
    if (g.includes(".")) {
      const [name, ns] = g.split(".");
      p.warn(at, `using legacy gatewayName format "${g}"; prefer the <namespace>/<name> format: "${ns}/${name}"`);
    }
    if (!hostPattern.test(g) || g.startsWith("*")) p.error(at, `"${g}" is not a valid gateway name`);
    return;
  }
  const [ns, name] = [g.slice(0, slash), g.slice(slash + 1)];
  if (!dnsLabel.test(ns) || ns.length > 63) p.error(at, `invalid value for namespace: "${ns}"`);
  if (!dnsLabel.test(name) || name.length > 63) p.error(at, `invalid value for gateway name: "${name}"`);
}

export function parseVirtualService(spec: unknown, p: FieldProblems): VirtualServiceSpec | undefined {
  if (!isFields(spec)) {
    p.error("spec", "is required and must be a map");
    return undefined;
  }
  const hosts = stringListField(spec, "hosts", "spec", p);
  const gateways = stringListField(spec, "gateways", "spec", p);
  gateways.forEach((g, i) => checkGatewayName(g, `spec.gateways[${i}]`, p));
  const delegate = hosts.length === 0;
  if (delegate && gateways.length > 0) p.error("spec.gateways", "delegate virtual service must have no gateways specified");
  const bindsGateway = gateways.some((g) => g !== MeshGateway);
  checkHosts(hosts, bindsGateway, spec["tls"] !== undefined, p);
  const http = listField(spec, "http", "spec", p, (v, at) => parseHttpRoute(v, at, p, delegate));
  if (!bindsGateway) {
    http.forEach((h, i) =>
      h.match.forEach((m, j) => {
        for (const k of [...Object.keys(m.headers), ...Object.keys(m.withoutHeaders)]) {
          if (k.startsWith("@request.auth.claims")) p.error(`spec.http[${i}].match[${j}]`, `JWT claim based routing (key: ${k}) is only supported for gateway, found no gateways: [${gateways.join(" ")}]`);
        }
      }),
    );
  }
  const tcp = listField(spec, "tcp", "spec", p, (v, at) => parseL4Route(v, at, p, false));
  const tls = listField(spec, "tls", "spec", p, (v, at) => parseL4Route(v, at, p, true));
  tls.forEach((r, i) => r.match.forEach((m, j) => m.sniHosts.forEach((h, k) => checkSniHost(h, hosts, bindsGateway, `spec.tls[${i}].match[${j}].sniHosts[${k}]`, p))));
  warnUnreachableRules(http, p);
  if (delegate && tls.length > 0) p.error("spec.tls", "delegate virtual service must have no tls route specified");
  if (delegate && tcp.length > 0) p.error("spec.tcp", "delegate virtual service must have no tcp route specified");
  if (http.length === 0 && tcp.length === 0 && tls.length === 0 && !p.hasErrors) p.error("spec", "http, tcp or tls must be provided in virtual service");
  const exportTo = parseExportTo(spec, p);
  unknownKeys(spec, ["hosts", "gateways", "http", "tcp", "tls", "exportTo"], "spec", p);
  if (p.hasErrors) return undefined;
  return { hosts, gateways, http, tcp, tls, exportTo };
}

/** VirtualService as a kind of the model: validated on admission, kept typed in `others`; any proxy may route by it. */
export const virtualServiceKind: KindHandler = {
  apiVersions: ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"],
  parse: (spec, p) => parseVirtualService(spec, p),
  scope: "all",
};

function virtualServiceOf(object: ConfigObject, spec: VirtualServiceSpec): VirtualService {
  const { name, namespace } = object.metadata;
  return {
    name,
    namespace,
    spec,
    creationTimestamp: object.metadata.creationTimestamp ?? "",
    configPath: `/apis/networking.istio.io/v1/namespaces/${namespace}/virtual-service/${name}`,
  };
}

/** Every accepted VirtualService, oldest first, then by name and namespace (istiod's configCompareByCreationTime). */
export function virtualServices(snapshot: MeshSnapshot): VirtualService[] {
  const list = (snapshot.others.get(VIRTUAL_SERVICE_KIND) ?? []).map(({ object, spec }) => virtualServiceOf(object, spec as VirtualServiceSpec));
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return list.sort((a, b) => cmp(a.creationTimestamp, b.creationTimestamp) || cmp(a.name, b.name) || cmp(a.namespace, b.namespace));
}

/** What routes read from the snapshot's VirtualServices, for cache keys. */
export function virtualServicesDigest(snapshot: MeshSnapshot): string {
  return snapshot.othersDigestByKind.get(VIRTUAL_SERVICE_KIND) ?? "";
}
