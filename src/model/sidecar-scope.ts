// Which Sidecar applies to a proxy, with istiod's precedence: a Sidecar of the proxy's namespace
// whose workloadSelector matches the proxy's labels (the oldest if several), else the namespace's
// selector-less Sidecar, else the selector-less Sidecar of the root namespace (the mesh-wide
// default), else none (every visible service, the mesh config's outbound traffic policy). Also the
// kind's cross-object rule (one selector-less Sidecar per namespace) and which proxies a change
// touches: exactly those whose applying Sidecar changed (registered in sidecar-kind.ts).
import type { ConfigError } from "./config.js";
import { objectRef, olderFirst } from "./config.js";
import type { KindTouch } from "./kinds.js";
import type { Proxy } from "./proxy.js";
import type { AcceptedObject, MeshSnapshot, Service } from "./snapshot.js";
import { digestOf } from "./digest.js";
import { SIDECAR_KIND, type EgressHost, type OutboundTrafficMode, type SidecarIngressListener, type SidecarSpec } from "./sidecar.js";
import { labelsMatch } from "./lookup.js";

/** What a Sidecar decides for one proxy; `ref` is empty when none applies. */
export interface SidecarScope {
  /** `Sidecar ns/name`, or "" (no Sidecar: the mesh default). */
  readonly ref: string;
  /** Changes whenever what this scope decides changes (part of the outbound sharing key). */
  readonly key: string;
  /** The egress hosts, undefined when every visible service is in scope. */
  readonly hosts?: readonly EgressHost[];
  /** Hosts of the egress listeners bound to an IP port, by port: that port's listener and route carry only these (istiod's listener per egress port). */
  readonly boundPorts: ReadonlyMap<number, readonly EgressHost[]>;
  /** Hosts of the catch-all egress listener (and unix-socket ones); undefined when every service is imported. */
  readonly catchAll?: readonly EgressHost[];
  readonly outboundTrafficPolicy: OutboundTrafficMode;
  /** Ingress listeners: when any, the inbound side comes from them instead of the served services. */
  readonly ingress: readonly SidecarIngressListener[];
  /** Istio's config path of the Sidecar (`/apis/networking.istio.io/v1/namespaces/<ns>/sidecar/<name>`), "" without one. */
  readonly configPath: string;
}

interface NamespaceSidecars {
  /** With a workloadSelector, oldest first. */
  readonly selecting: AcceptedObject<SidecarSpec>[];
  /** The selector-less one that applies (the oldest). */
  fallback?: AcceptedObject<SidecarSpec>;
}

/** Sidecars by namespace; the second and later selector-less ones of a namespace are in `ignored`. */
function indexSidecars(list: readonly AcceptedObject[]): { byNamespace: Map<string, NamespaceSidecars>; ignored: { sidecar: AcceptedObject; kept: AcceptedObject }[] } {
  const byNamespace = new Map<string, NamespaceSidecars>();
  const ignored: { sidecar: AcceptedObject; kept: AcceptedObject }[] = [];
  for (const a of [...(list as AcceptedObject<SidecarSpec>[])].sort((a, b) => olderFirst(a.object, b.object))) {
    const ns = a.object.metadata.namespace;
    let entry = byNamespace.get(ns);
    if (entry === undefined) byNamespace.set(ns, (entry = { selecting: [] }));
    if (a.spec.workloadSelector !== undefined) entry.selecting.push(a);
    else if (entry.fallback === undefined) entry.fallback = a;
    else ignored.push({ sidecar: a, kept: entry.fallback });
  }
  return { byNamespace, ignored };
}

const indexes = new WeakMap<readonly AcceptedObject[], Map<string, NamespaceSidecars>>();

function sidecarIndex(list: readonly AcceptedObject[]): Map<string, NamespaceSidecars> {
  let index = indexes.get(list);
  if (index === undefined) indexes.set(list, (index = indexSidecars(list).byNamespace));
  return index;
}

/** The Sidecar that applies to a proxy among `list` (a snapshot's accepted Sidecars); routers get none, as in istiod. */
export function selectSidecar(list: readonly AcceptedObject[], proxy: Pick<Proxy, "type" | "namespace" | "labels">, rootNamespace: string): AcceptedObject<SidecarSpec> | undefined {
  if (proxy.type !== "sidecar" || list.length === 0) return undefined;
  const index = sidecarIndex(list);
  const own = index.get(proxy.namespace);
  const selected = own?.selecting.find((a) => labelsMatch(a.spec.workloadSelector ?? {}, proxy.labels));
  return selected ?? own?.fallback ?? index.get(rootNamespace)?.fallback;
}

/** The outbound traffic policy of the mesh config (`outboundTrafficPolicy.mode`, default ALLOW_ANY). */
export function meshOutboundTrafficPolicy(snapshot: MeshSnapshot): OutboundTrafficMode {
  const policy = snapshot.mesh.raw["outboundTrafficPolicy"];
  const mode = policy !== null && typeof policy === "object" ? (policy as Record<string, unknown>)["mode"] : undefined;
  return mode === "REGISTRY_ONLY" ? "REGISTRY_ONLY" : "ALLOW_ANY";
}

const scopes = new WeakMap<MeshSnapshot, Map<string, SidecarScope>>();

/** The scope a Sidecar gives a proxy (cached per snapshot and Sidecar). */
export function sidecarScope(snapshot: MeshSnapshot, proxy: Pick<Proxy, "type" | "namespace" | "labels">): SidecarScope {
  const sidecar = selectSidecar(snapshot.others.get(SIDECAR_KIND) ?? [], proxy, snapshot.mesh.rootNamespace);
  const ref = sidecar === undefined ? "" : objectRef(sidecar.object);
  let byRef = scopes.get(snapshot);
  if (byRef === undefined) scopes.set(snapshot, (byRef = new Map()));
  let scope = byRef.get(ref);
  if (scope !== undefined) return scope;
  const mode = sidecar?.spec.outboundTrafficPolicy ?? meshOutboundTrafficPolicy(snapshot);
  // No egress listener: istiod imports `*/*`.
  const hosts = sidecar === undefined || sidecar.spec.egress.length === 0 ? undefined : sidecar.spec.egress.flatMap((l) => l.hosts);
  const egress = sidecar?.spec.egress ?? [];
  const boundPorts = new Map(egress.flatMap((l) => (l.port !== undefined && l.port.number > 0 ? [[l.port.number, l.hosts] as const] : [])));
  const catchAll = hosts === undefined ? undefined : egress.flatMap((l) => (l.port === undefined || l.port.number === 0 ? l.hosts : []));
  scope = {
    ref,
    boundPorts,
    ...(catchAll !== undefined ? { catchAll } : {}),
    key: ref === "" ? mode : `${ref}@${digestOf([sidecar?.spec, mode])}`,
    ...(hosts !== undefined ? { hosts } : {}),
    outboundTrafficPolicy: mode,
    ingress: sidecar?.spec.ingress ?? [],
    configPath: sidecar === undefined ? "" : `/apis/networking.istio.io/v1/namespaces/${sidecar.object.metadata.namespace}/sidecar/${sidecar.object.metadata.name}`,
  };
  byRef.set(ref, scope);
  return scope;
}

/**
 * A proxy's own IPs when its Sidecar sends an ingress port to the instance address
 * (`0.0.0.0:<port>` / `[::]:<port>`), else "": replicas then differ in their inbound clusters and
 * must not share translated resources (part of the provider's group key).
 */
export function ingressInstanceKey(snapshot: MeshSnapshot, proxy: Pick<Proxy, "type" | "namespace" | "labels" | "ips">): string {
  const scope = sidecarScope(snapshot, proxy);
  return scope.ingress.some((l) => l.defaultEndpoint?.startsWith("0.0.0.0:") === true || l.defaultEndpoint?.startsWith("[::]:") === true) ? `@${proxy.ips.join(",")}` : "";
}

/** `*`, `*.suffix` (any host under it) or the exact host. */
function dnsNameMatches(pattern: string, hostname: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return hostname.endsWith(pattern.slice(1));
  return pattern === hostname;
}

/** Whether an egress host of a Sidecar imports `service` into a proxy of `proxyNamespace`. */
export function egressHostImports(h: EgressHost, service: Pick<Service, "hostname" | "namespace">, proxyNamespace: string): boolean {
  if (h.namespace === "~") return false;
  const ns = h.namespace === "." ? proxyNamespace : h.namespace;
  return (ns === "*" || ns === service.namespace) && dnsNameMatches(h.dnsName, service.hostname);
}

/** Whether the scope imports the service (every service when the scope has no hosts). */
export function scopeImports(scope: SidecarScope, service: Pick<Service, "hostname" | "namespace">, proxyNamespace: string): boolean {
  return scope.hosts === undefined || scope.hosts.some((h) => egressHostImports(h, service, proxyNamespace));
}

/**
 * Whether the scope imports `service` on port `port`: through the egress listener bound to that
 * port when there is one, else through the catch-all listener (istiod: a port-bound egress
 * listener imports its services with that port only, and owns that port's listener and route).
 */
export function scopeImportsOnPort(scope: SidecarScope, service: Pick<Service, "hostname" | "namespace">, port: number, proxyNamespace: string): boolean {
  const bound = scope.boundPorts.get(port);
  if (bound !== undefined) return bound.some((h) => egressHostImports(h, service, proxyNamespace));
  return scope.catchAll === undefined || scope.catchAll.some((h) => egressHostImports(h, service, proxyNamespace));
}

/**
 * The ports of `service` the scope imports: every port through the catch-all listener, a bound
 * listener's port through that listener (istiod's selectServices port filter).
 */
export function importedPorts<P extends { readonly number: number }>(scope: SidecarScope, service: Pick<Service, "hostname" | "namespace">, ports: readonly P[], proxyNamespace: string): readonly P[] {
  if (scope.boundPorts.size === 0) return ports;
  const all = scope.catchAll === undefined || scope.catchAll.some((h) => egressHostImports(h, service, proxyNamespace));
  if (all) return ports;
  return ports.filter((p) => scope.boundPorts.get(p.number)?.some((h) => egressHostImports(h, service, proxyNamespace)) === true);
}

/**
 * Whether the scope imports a config's host (a VirtualService's, possibly a wildcard itself) from
 * `namespace`: the egress host and the config host match either way, as istiod's selectVirtualServices.
 */
export function scopeImportsHost(scope: SidecarScope, host: string, namespace: string, proxyNamespace: string): boolean {
  if (scope.hosts === undefined) return true;
  const h = host.toLowerCase();
  return scope.hosts.some((e) => egressHostImports(e, { hostname: h, namespace }, proxyNamespace) || (e.namespace !== "~" && (e.namespace === "*" || (e.namespace === "." ? proxyNamespace : e.namespace) === namespace) && dnsNameMatches(h, e.dnsName)));
}

/** istiod's rule: one selector-less Sidecar per namespace; the oldest applies, the others are reported. */
export function checkSidecars(list: readonly AcceptedObject[]): ConfigError[] {
  return indexSidecars(list).ignored.map(({ sidecar, kept }) => ({
    file: sidecar.object.origin.file,
    object: objectRef(sidecar.object),
    path: "spec.workloadSelector",
    message: `namespace ${sidecar.object.metadata.namespace} already has a Sidecar without workloadSelector, ${objectRef(kept.object)} (the oldest, then by name), which applies; this one is ignored`,
    severity: "error",
  }));
}

/** A Sidecar change touches the proxies whose applying Sidecar (or its spec) differs before and after. */
export function sidecarTouch(before: readonly AcceptedObject[], after: readonly AcceptedObject[], next: MeshSnapshot): KindTouch | undefined {
  const root = next.mesh.rootNamespace;
  const digest = (a: AcceptedObject | undefined): string => (a === undefined ? "" : `${objectRef(a.object)}@${digestOf(a.spec)}`);
  return { all: false, affects: (proxy) => digest(selectSidecar(before, proxy, root)) !== digest(selectSidecar(after, proxy, root)) };
}
