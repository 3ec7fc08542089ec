// networking.istio.io ServiceEntry: services (hosts, ports) and, optionally, their endpoints,
// described without Kubernetes.
import {
  FieldProblems,
  type Fields,
  enumField,
  isFields,
  isIpAddress,
  isCidrOrIp,
  listField,
  portField,
  requiredString,
  stringField,
  stringListField,
  stringMapField,
  mapField,
  unknownKeys,
} from "./fields.js";
import { hostPattern, parseWorkload, type WorkloadEntrySpec } from "./workload-entry.js";

/** Istio's port protocols; the translator only distinguishes HTTP-like from the rest. */
export const protocols = ["HTTP", "HTTPS", "HTTP2", "GRPC", "GRPC-WEB", "TCP", "TLS", "MONGO", "REDIS", "MYSQL", "UDP"] as const;
/** `AUTO`: no protocol declared; sidecars detect HTTP per connection (istiod's protocol sniffing). */
export type Protocol = (typeof protocols)[number] | "AUTO";

export function isHttpProtocol(p: Protocol): boolean {
  return p === "HTTP" || p === "HTTP2" || p === "GRPC" || p === "GRPC-WEB";
}
/** No declared protocol: sidecars sniff (http_inspector) and route HTTP, pass the rest through as TCP. */
export function isSniffedProtocol(p: Protocol): boolean {
  return p === "AUTO";
}
/** Upstream should speak HTTP/2 (Istio sets explicit http2 protocol options for these). */
export function isHttp2Protocol(p: Protocol): boolean {
  return p === "HTTP2" || p === "GRPC" || p === "GRPC-WEB";
}

export interface ServicePortSpec {
  readonly number: number;
  /** An absent protocol is `AUTO` (detected per connection), as Istio treats it. */
  readonly protocol: Protocol;
  readonly name: string;
  readonly targetPort?: number;
}

export type Location = "MESH_EXTERNAL" | "MESH_INTERNAL";
export type Resolution = "NONE" | "STATIC" | "DNS" | "DNS_ROUND_ROBIN";

export interface ServiceEntrySpec {
  readonly hosts: readonly string[];
  readonly addresses: readonly string[];
  readonly ports: readonly ServicePortSpec[];
  readonly location: Location;
  readonly resolution: Resolution;
  readonly endpoints: readonly WorkloadEntrySpec[];
  /** Selects WorkloadEntries in the ServiceEntry's namespace; exclusive with `endpoints`. */
  readonly workloadSelector?: Readonly<Record<string, string>>;
  /** Namespaces that see this service: `*` (all, the default), `.` (own namespace), or names. */
  readonly exportTo: readonly string[];
  /** SANs to verify on the service's certificates (the mTLS issue uses them). */
  readonly subjectAltNames: readonly string[];
}

const portNamePattern = /^[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;

function parsePort(v: unknown, at: string, p: FieldProblems): ServicePortSpec | undefined {
  if (!isFields(v)) {
    p.error(at, "must be a map with number, protocol and name");
    return undefined;
  }
  const number = portField(v, "number", at, p);
  if (v["number"] === undefined) p.error(`${at}.number`, "is required");
  const name = requiredString(v, "name", at, p);
  if (name !== undefined && !portNamePattern.test(name)) p.error(`${at}.name`, `"${name}" is not a valid port name`);
  const rawProtocol = stringField(v, "protocol", at, p);
  let protocol: Protocol = "AUTO";
  if (rawProtocol !== undefined) {
    const upper = rawProtocol.toUpperCase();
    if ((protocols as readonly string[]).includes(upper)) protocol = upper as Protocol;
    else p.error(`${at}.protocol`, `unknown protocol "${rawProtocol}" (want one of ${protocols.join(", ")})`);
  }
  const targetPort = portField(v, "targetPort", at, p);
  unknownKeys(v, ["number", "protocol", "name", "targetPort"], at, p);
  if (number === undefined || name === undefined) return undefined;
  return targetPort === undefined ? { number, protocol, name } : { number, protocol, name, targetPort };
}

export function parseExportTo(spec: Fields, p: FieldProblems): string[] {
  const exportTo = stringListField(spec, "exportTo", "spec", p);
  if (exportTo.includes("*") && exportTo.length > 1) p.error("spec.exportTo", `"*" cannot be combined with other namespaces`);
  return exportTo.length === 0 ? ["*"] : exportTo;
}

export function parseServiceEntry(spec: unknown, p: FieldProblems): ServiceEntrySpec | undefined {
  if (!isFields(spec)) {
    p.error("spec", "is required and must be a map");
    return undefined;
  }
  const hosts = stringListField(spec, "hosts", "spec", p);
  if (spec["hosts"] === undefined) p.error("spec.hosts", "is required (at least one host)");
  hosts.forEach((h, i) => {
    if (h === "*" || !hostPattern.test(h)) p.error(`spec.hosts[${i}]`, `"${h}" is not a valid host name (wildcard only as a leading "*.")`);
  });
  const addresses = stringListField(spec, "addresses", "spec", p);
  addresses.forEach((a, i) => {
    if (!isCidrOrIp(a)) p.error(`spec.addresses[${i}]`, `"${a}" is not an IP address or CIDR`);
  });
  const ports = listField(spec, "ports", "spec", p, (v, at) => parsePort(v, at, p));
  const seenNumbers = new Set<number>();
  const seenNames = new Set<string>();
  ports.forEach((port, i) => {
    if (seenNumbers.has(port.number)) p.error(`spec.ports[${i}].number`, `port ${port.number} is listed twice`);
    if (seenNames.has(port.name)) p.error(`spec.ports[${i}].name`, `port name "${port.name}" is listed twice`);
    seenNumbers.add(port.number);
    seenNames.add(port.name);
  });
  if (ports.length === 0 && !p.hasErrors) p.error("spec.ports", "at least one port is required");
  const location = enumField(spec, "location", "spec", p, ["MESH_EXTERNAL", "MESH_INTERNAL"] as const) ?? "MESH_EXTERNAL";
  const resolution = enumField(spec, "resolution", "spec", p, ["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"] as const) ?? "NONE";
  const endpoints = listField(spec, "endpoints", "spec", p, (v, at) => parseWorkload(v, at, p, resolution === "STATIC"));
  endpoints.forEach((e, i) => {
    for (const name of Object.keys(e.ports)) {
      if (!seenNames.has(name)) p.error(`spec.endpoints[${i}].ports.${name}`, `no service port is named "${name}"`);
    }
    if (resolution === "STATIC" && e.address !== "" && !isIpAddress(e.address)) {
      p.error(`spec.endpoints[${i}].address`, `"${e.address}" must be an IP address with resolution STATIC`);
    }
  });
  if (resolution === "DNS_ROUND_ROBIN" && endpoints.length > 1) {
    // istiod rejects it too (Envoy's LOGICAL_DNS resolves exactly one host).
    p.error("spec.endpoints", "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN");
  }
  const workloadSelector = mapField(spec, "workloadSelector", "spec", p);
  const selectorLabels = workloadSelector ? stringMapField(workloadSelector, "labels", "spec.workloadSelector", p) : undefined;
  if (workloadSelector && endpoints.length > 0) p.error("spec.workloadSelector", "cannot be combined with spec.endpoints");
  if (resolution === "NONE" && addresses.length === 0 && ports.length > 0 && endpoints.length === 0 && !workloadSelector) {
    // Istio accepts this (pure passthrough to whatever IP the app dialled); worth a hint.
    p.warn("spec.resolution", "NONE without addresses or endpoints: traffic is passed through to the original destination");
  }
  if (resolution === "STATIC" && endpoints.length === 0 && !workloadSelector) {
    p.warn("spec.endpoints", "resolution STATIC without endpoints or workloadSelector: the service has no endpoints");
  }
  const exportTo = parseExportTo(spec, p);
  const subjectAltNames = stringListField(spec, "subjectAltNames", "spec", p);
  unknownKeys(spec, ["hosts", "addresses", "ports", "location", "resolution", "endpoints", "workloadSelector", "exportTo", "subjectAltNames"], "spec", p);
  if (p.hasErrors) return undefined;
  return {
    hosts,
    addresses,
    ports,
    location,
    resolution,
    endpoints,
    ...(selectorLabels !== undefined ? { workloadSelector: selectorLabels } : {}),
    exportTo,
    subjectAltNames,
  };
}
