// networking.istio.io Sidecar, read and validated the way istiod's ValidateSidecar does: egress
// hosts (`ns/host`, `./host`, `*/host`, `~/*`) that scope which services a proxy receives,
// outboundTrafficPolicy (ALLOW_ANY / REGISTRY_ONLY), ingress listeners and the workload selector.
// Which Sidecar applies to which proxy (and the cross-object rules) is sidecar-scope.ts.
import { FieldProblems, type Fields, enumField, isFields, isIpAddress, listField, mapField, stringField, stringListField, stringMapField, unknownKeys, intField } from "./fields.js";
import { hostPattern } from "./workload-entry.js";
import { protocols, type Protocol } from "./service-entry.js";

export const SIDECAR_KIND = "Sidecar";

export const outboundTrafficModes = ["ALLOW_ANY", "REGISTRY_ONLY"] as const;
/** What a sidecar does with traffic to a destination it has no service for (istiod's names). */
export type OutboundTrafficMode = (typeof outboundTrafficModes)[number];

const captureModes = ["DEFAULT", "IPTABLES", "NONE"] as const;

/**
 * One egress host `namespace/dnsName`. `namespace`: `*` any, `.` the proxy's own namespace, `~`
 * none, else that namespace. `dnsName`: `*`, `*.suffix` or a full host name.
 */
export interface EgressHost {
  readonly namespace: string;
  readonly dnsName: string;
}

export interface SidecarPort {
  readonly number: number;
  readonly protocol: Protocol;
  readonly name?: string;
}

export interface SidecarEgressListener {
  /** Absent: the catch-all listener (the last one). */
  readonly port?: SidecarPort;
  readonly bind?: string;
  readonly hosts: readonly EgressHost[];
}

export interface SidecarIngressListener {
  readonly port: SidecarPort;
  readonly bind?: string;
  /** `127.0.0.1:<port>`, `0.0.0.0:<port>`, `[::1]:<port>`, `[::]:<port>` or `unix://path`; absent = the port itself on the instance IP. */
  readonly defaultEndpoint?: string;
}

export interface SidecarSpec {
  /** Labels a proxy in the Sidecar's namespace must carry; absent = the namespace default. */
  readonly workloadSelector?: Readonly<Record<string, string>>;
  readonly egress: readonly SidecarEgressListener[];
  readonly ingress: readonly SidecarIngressListener[];
  /** Absent: the mesh config's `outboundTrafficPolicy.mode`. */
  readonly outboundTrafficPolicy?: OutboundTrafficMode;
}

const portNamePattern = /^[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;

function parseSidecarPort(v: unknown, at: string, p: FieldProblems, allowZero: boolean): SidecarPort | undefined {
  if (!isFields(v)) {
    p.error(at, "must be a map with number, protocol and name");
    return undefined;
  }
  const number = intField(v, "number", at, p, allowZero ? 0 : 1, 65535);
  if (v["number"] === undefined) p.error(`${at}.number`, "is required");
  const name = stringField(v, "name", at, p);
  if (name !== undefined && name !== "" && !portNamePattern.test(name)) p.error(`${at}.name`, `"${name}" is not a valid port name`);
  const rawProtocol = stringField(v, "protocol", at, p);
  let protocol: Protocol | undefined;
  const upper = rawProtocol?.toUpperCase();
  if (upper !== undefined && (protocols as readonly string[]).includes(upper)) protocol = upper as Protocol;
  else p.error(`${at}.protocol`, rawProtocol === undefined ? `is required (one of ${protocols.join(", ")})` : `unknown protocol "${rawProtocol}" (want one of ${protocols.join(", ")})`);
  if (v["targetPort"] !== undefined) p.error(`${at}.targetPort`, "targetPort has no impact on Sidecars");
  unknownKeys(v, ["number", "protocol", "name", "targetPort"], at, p);
  if (number === undefined || protocol === undefined) return undefined;
  return { number, protocol, ...(name ? { name } : {}) };
}

/** `ns/host` as istiod's ValidateNamespaceSlashWildcardHostname reads it. */
function parseEgressHost(raw: string, at: string, p: FieldProblems): EgressHost | undefined {
  const slash = raw.indexOf("/");
  if (slash <= 0 || slash === raw.length - 1) {
    p.error(at, `"${raw}" must be namespace/dnsName (like ./*, */foo.example.com, istio-system/*)`);
    return undefined;
  }
  const namespace = raw.slice(0, slash);
  const dnsName = raw.slice(slash + 1);
  if (namespace !== "*" && namespace !== "." && namespace !== "~" && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    p.error(at, `"${namespace}" in "${raw}" is not a namespace (or *, ., ~)`);
    return undefined;
  }
  if (dnsName !== "*" && !hostPattern.test(dnsName)) {
    p.error(at, `"${dnsName}" in "${raw}" is not a host name (or *, *.suffix)`);
    return undefined;
  }
  return { namespace, dnsName };
}

/** Warnings istiod gives for egress hosts that repeat or are shadowed by `ns/*` or `*` + `/*`. */
function warnDuplicateHosts(hosts: readonly EgressHost[], at: string, p: FieldProblems): void {
  const byNamespace = new Map<string, Set<string>>();
  hosts.forEach((h, i) => {
    const names = byNamespace.get(h.namespace) ?? new Set<string>();
    byNamespace.set(h.namespace, names);
    if (h.dnsName !== "*" ? names.has(h.dnsName) || names.has("*") : names.size > 0) p.warn(`${at}[${i}]`, `duplicated egress host: ${h.namespace}/${h.dnsName}`);
    names.add(h.dnsName);
  });
  if (byNamespace.get("*")?.has("*") === true && byNamespace.size !== 1) p.warn(at, "`*/*` selects every service; no other host can be added");
}

function parseEgress(v: unknown, at: string, p: FieldProblems): SidecarEgressListener | undefined {
  if (!isFields(v)) {
    p.error(at, "must be a map with hosts");
    return undefined;
  }
  const port = v["port"] === undefined || v["port"] === null ? undefined : parseSidecarPort(v["port"], `${at}.port`, p, true);
  const bind = stringField(v, "bind", at, p);
  const captureMode = enumField(v, "captureMode", at, p, captureModes);
  if (port?.number === 0) {
    if (bind === undefined || !bind.startsWith("unix://")) p.error(`${at}.bind`, "ports with 0 value must have a unix domain socket bind address");
    if (captureMode === "IPTABLES") p.error(`${at}.captureMode`, "captureMode must be DEFAULT/NONE for unix domain socket listeners");
  } else if (bind !== undefined && bind !== "" && !isIpAddress(bind)) {
    p.error(`${at}.bind`, `"${bind}" is not an IP address`);
  }
  const hostsAt = `${at}.hosts`;
  const rawHosts = stringListField(v, "hosts", at, p);
  if (rawHosts.length === 0 && !p.list.some((x) => x.path.startsWith(hostsAt))) p.error(hostsAt, "egress listener must contain at least one host");
  const hosts = rawHosts.map((h, i) => parseEgressHost(h, `${hostsAt}[${i}]`, p)).filter((h): h is EgressHost => h !== undefined);
  warnDuplicateHosts(hosts, hostsAt, p);
  if (port?.number === 0) p.warn(`${at}.port`, "meshward builds no unix domain socket listener; this listener's hosts are imported like the catch-all listener's");
  unknownKeys(v, ["port", "bind", "captureMode", "hosts"], at, p);
  return { ...(port ? { port } : {}), ...(bind ? { bind } : {}), hosts };
}

const defaultEndpointHosts = new Set(["127.0.0.1", "0.0.0.0", "::1", "::"]);

function checkDefaultEndpoint(endpoint: string, at: string, p: FieldProblems): void {
  if (endpoint.startsWith("unix://")) {
    if (endpoint.length === "unix://".length) p.error(at, "unix domain socket path must not be empty");
    return;
  }
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(endpoint);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (m === null || (host !== "" && !defaultEndpointHosts.has(host ?? ""))) {
    p.error(at, `"${endpoint}": defaultEndpoint must be of form 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port>, unix://filepath or unset`);
  } else if (!(port >= 1 && port <= 65535)) {
    p.error(at, `"${endpoint}": port must be from 1 to 65535`);
  }
}

function parseIngress(v: unknown, at: string, p: FieldProblems): SidecarIngressListener | undefined {
  if (!isFields(v)) {
    p.error(at, "must be a map with port");
    return undefined;
  }
  if (v["port"] === undefined || v["port"] === null) p.error(`${at}.port`, "is required");
  const port = v["port"] === undefined || v["port"] === null ? undefined : parseSidecarPort(v["port"], `${at}.port`, p, false);
  const bind = stringField(v, "bind", at, p);
  if (bind !== undefined && bind !== "" && !isIpAddress(bind)) p.error(`${at}.bind`, `"${bind}" is not an IP address`);
  // captureMode NONE makes istiod build a listener bound to the port itself; meshward serves
  // ingress ports only on virtualInbound (traffic captured by iptables), so it refuses it.
  if (enumField(v, "captureMode", at, p, captureModes) === "NONE") p.error(`${at}.captureMode`, "captureMode NONE (a listener bound to the port) is not supported by meshward; ingress ports are served on virtualInbound (DEFAULT or IPTABLES)");
  const defaultEndpoint = stringField(v, "defaultEndpoint", at, p);
  if (defaultEndpoint !== undefined && defaultEndpoint !== "") checkDefaultEndpoint(defaultEndpoint, `${at}.defaultEndpoint`, p);
  const tls = mapField(v, "tls", at, p);
  if (tls !== undefined) p.error(`${at}.tls`, "ingress TLS termination is not supported by meshward (mutual TLS comes from PeerAuthentication)");
  unknownKeys(v, ["port", "bind", "captureMode", "defaultEndpoint", "tls", "connectionPool"], at, p);
  if (port === undefined) return undefined;
  return { port, ...(bind ? { bind } : {}), ...(defaultEndpoint ? { defaultEndpoint } : {}) };
}

/** Reads a Sidecar spec; field paths start at `spec`. */
export function parseSidecar(spec: unknown, p: FieldProblems): SidecarSpec | undefined {
  if (!isFields(spec)) {
    p.error("spec", "must be a map");
    return undefined;
  }
  const selector = mapField(spec, "workloadSelector", "spec", p);
  const workloadSelector = selector === undefined ? undefined : stringMapField(selector, "labels", "spec.workloadSelector", p);
  if (selector !== undefined && Object.keys(workloadSelector ?? {}).length === 0) p.error("spec.workloadSelector.labels", "a workloadSelector needs at least one label");
  const egress = listField(spec, "egress", "spec", p, (e, at) => parseEgress(e, at, p));
  checkEgressPorts(spec, egress, p);
  const ingress = listField(spec, "ingress", "spec", p, (e, at) => parseIngress(e, at, p));
  const ports = new Set<number>();
  ingress.forEach((l, i) => {
    if (ports.has(l.port.number)) p.error(`spec.ingress[${i}].port.number`, "ports on IP bound listeners must be unique");
    ports.add(l.port.number);
  });
  const policy = mapField(spec, "outboundTrafficPolicy", "spec", p);
  const outboundTrafficPolicy = policy === undefined ? undefined : (enumField(policy, "mode", "spec.outboundTrafficPolicy", p, outboundTrafficModes) ?? "ALLOW_ANY");
  if (policy !== undefined && policy["egressProxy"] !== undefined) p.error("spec.outboundTrafficPolicy.egressProxy", "egressProxy is not supported by meshward");
  unknownKeys(spec, ["workloadSelector", "egress", "ingress", "outboundTrafficPolicy", "inboundConnectionPool"], "spec", p);
  if (p.hasErrors) return undefined;
  return {
    ...(workloadSelector !== undefined ? { workloadSelector } : {}),
    egress,
    ingress,
    ...(outboundTrafficPolicy !== undefined ? { outboundTrafficPolicy } : {}),
  };
}

/** istiod: one catch-all (portless) egress listener, and it comes last; ports of IP listeners are unique. */
function checkEgressPorts(spec: Fields, egress: readonly SidecarEgressListener[], p: FieldProblems): void {
  const raw = Array.isArray(spec["egress"]) ? (spec["egress"] as unknown[]) : [];
  if (raw.length !== egress.length) return; // elements already rejected; indices would not line up
  let catchAll = false;
  const ports = new Set<number>();
  const sockets = new Set<string>();
  egress.forEach((l, i) => {
    const at = `spec.egress[${i}]`;
    if (l.port === undefined) {
      if (catchAll) p.error(at, "egress can have only one listener with empty port");
      else if (i !== egress.length - 1) p.error(at, "the egress listener with empty port should be the last listener in the list");
      catchAll = true;
    } else if (l.port.number === 0) {
      if (sockets.has(l.bind ?? "")) p.error(`${at}.bind`, "unix domain socket values for listeners must be unique");
      sockets.add(l.bind ?? "");
    } else {
      if (ports.has(l.port.number)) p.error(`${at}.port.number`, "ports on IP bound listeners must be unique");
      ports.add(l.port.number);
    }
  });
}
