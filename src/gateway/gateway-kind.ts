// networking.istio.io Gateway: the servers (port, hosts, TLS) a router proxy (ingress, egress or
// east-west gateway) opens, and the labels of the gateway workloads that open them. Read and
// validated here as istiod's ValidateGateway does, with a field path for every complaint; the
// objects stay in the snapshot's `others` bag and the router translator asks `gatewaysOf`.
import type { ConfigObject } from "../model/config.js";
import {
  FieldProblems,
  type Fields,
  boolField,
  enumField,
  intField,
  isFields,
  isIpAddress,
  listField,
  mapField,
  stringField,
  stringListField,
  stringMapField,
  unknownKeys,
} from "../model/fields.js";
import { networkingApiVersions, type KindHandler } from "../model/kinds.js";
import type { AcceptedObject, MeshSnapshot } from "../model/snapshot.js";
import type { Proxy } from "../model/proxy.js";
import { protocols, type Protocol } from "../model/service-entry.js";
import { hostPattern } from "../model/workload-entry.js";
import { labelsMatch } from "../model/lookup.js";
import { routerView } from "./router-view.js";

export const GATEWAY_KIND = "Gateway";

/** ServerTLSSettings.TLSmode; PASSTHROUGH is the proto's zero value, so a `tls` block without a mode is passthrough. */
export const serverTlsModes = ["PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"] as const;
export type ServerTlsMode = (typeof serverTlsModes)[number];

export const tlsProtocolVersions = ["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"] as const;
export type TlsProtocolVersion = (typeof tlsProtocolVersions)[number];

export interface ServerTls {
  readonly httpsRedirect: boolean;
  readonly mode: ServerTlsMode;
  /** `credentialName`: a Secret (or file credential) in the gateway workload's namespace. */
  readonly credentialName?: string;
  readonly serverCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  readonly subjectAltNames: readonly string[];
  readonly minProtocolVersion?: TlsProtocolVersion;
  readonly maxProtocolVersion?: TlsProtocolVersion;
  readonly cipherSuites: readonly string[];
}

export interface GatewayServer {
  readonly port: { readonly number: number; readonly name: string; readonly protocol: Protocol };
  readonly bind?: string;
  /** As written (`ns/host`, `./host`, `*\/host`, `host`). */
  readonly hosts: readonly string[];
  readonly tls?: ServerTls;
  readonly name?: string;
}

export interface GatewaySpec {
  /** Absent: no selector, the gateway applies to every router proxy (istiod). */
  readonly selector?: Readonly<Record<string, string>>;
  readonly servers: readonly GatewayServer[];
}

/** A Gateway as translation needs it. */
export interface Gateway {
  readonly name: string;
  readonly namespace: string;
  readonly spec: GatewaySpec;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** HTTP, HTTP2, GRPC, GRPC-WEB: servers routed by an HTTP connection manager in the clear. */
export function isHttpServerProtocol(p: Protocol): boolean {
  return p === "HTTP" || p === "HTTP2" || p === "GRPC" || p === "GRPC-WEB";
}

/** HTTPS and TLS servers need TLS settings (istiod's protocol.IsTLS). */
export function isTlsServerProtocol(p: Protocol): boolean {
  return p === "HTTPS" || p === "TLS";
}

export function isPassthroughServer(s: GatewayServer): boolean {
  return s.tls !== undefined && (s.tls.mode === "PASSTHROUGH" || s.tls.mode === "AUTO_PASSTHROUGH");
}

/** An HTTPS server whose TLS the gateway terminates (SIMPLE, MUTUAL, ISTIO_MUTUAL, OPTIONAL_MUTUAL). */
export function isHttpsTerminated(s: GatewayServer): boolean {
  return s.port.protocol === "HTTPS" && s.tls !== undefined && !isPassthroughServer(s);
}

/** istiod's ValidateNamespaceSlashWildcardHostname: `[ns/]host`, ns `*`, `.` or a DNS label, host `*` or a (wildcard) DNS name. */
function validateServerHost(h: string, at: string, p: FieldProblems): void {
  const parts = h.split("/");
  if (parts.length > 2) {
    p.error(at, `host "${h}" must be of the form namespace/dnsName`);
    return;
  }
  const [ns, host] = parts.length === 2 ? [parts[0]!, parts[1]!] : [undefined, parts[0]!];
  if (ns !== undefined) {
    if (ns === "") p.error(at, `host "${h}": namespace must not be empty`);
    else if (ns !== "*" && ns !== "." && !dnsLabel.test(ns)) p.error(at, `host "${h}": namespace "${ns}" is not a DNS-1123 label`);
  }
  if (host === "") p.error(at, `host "${h}": host name must not be empty`);
  else if (host !== "*" && !hostPattern.test(host)) p.error(at, `host "${h}": "${host}" is not a valid host name (wildcard only as a leading "*.")`);
}

function parseTls(v: unknown, at: string, p: FieldProblems): ServerTls | undefined {
  if (!isFields(v)) {
    p.error(at, "must be a map");
    return undefined;
  }
  unknownKeys(
    v,
    ["httpsRedirect", "mode", "credentialName", "serverCertificate", "privateKey", "caCertificates", "subjectAltNames", "minProtocolVersion", "maxProtocolVersion", "cipherSuites", "verifyCertificateSpki", "verifyCertificateHash", "caCrl"],
    at,
    p,
  );
  const mode = enumField(v, "mode", at, p, serverTlsModes) ?? "PASSTHROUGH";
  const credentialName = stringField(v, "credentialName", at, p);
  const serverCertificate = stringField(v, "serverCertificate", at, p);
  const privateKey = stringField(v, "privateKey", at, p);
  const caCertificates = stringField(v, "caCertificates", at, p);
  const minProtocolVersion = enumField(v, "minProtocolVersion", at, p, tlsProtocolVersions);
  const maxProtocolVersion = enumField(v, "maxProtocolVersion", at, p, tlsProtocolVersions);
  const tls: ServerTls = {
    httpsRedirect: boolField(v, "httpsRedirect", at, p) ?? false,
    mode,
    subjectAltNames: stringListField(v, "subjectAltNames", at, p),
    cipherSuites: stringListField(v, "cipherSuites", at, p),
    ...(credentialName ? { credentialName } : {}),
    ...(serverCertificate ? { serverCertificate } : {}),
    ...(privateKey ? { privateKey } : {}),
    ...(caCertificates ? { caCertificates } : {}),
    ...(minProtocolVersion ? { minProtocolVersion } : {}),
    ...(maxProtocolVersion ? { maxProtocolVersion } : {}),
  };
  // istiod's validateTLSOptions, field by field.
  if (mode === "ISTIO_MUTUAL") {
    for (const [field, set] of [
      ["serverCertificate", serverCertificate],
      ["privateKey", privateKey],
      ["caCertificates", caCertificates],
      ["credentialName", credentialName],
    ] as const) {
      if (set) p.error(`${at}.${field}`, `ISTIO_MUTUAL TLS cannot have associated ${field === "caCertificates" ? "CA bundle" : field === "serverCertificate" ? "server certificate" : field === "privateKey" ? "private key" : "credentialName"}`);
    }
    return tls;
  }
  if ((mode === "PASSTHROUGH" || mode === "AUTO_PASSTHROUGH") && (serverCertificate || privateKey || caCertificates || credentialName)) {
    p.warn(at, `${mode} mode does not use certificates, they will be ignored`);
  }
  if (credentialName && serverCertificate && privateKey) p.error(at, "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified");
  if ((mode === "SIMPLE" || mode === "MUTUAL" || mode === "OPTIONAL_MUTUAL") && !credentialName) {
    const prefix = mode === "SIMPLE" ? "SIMPLE TLS" : "MUTUAL TLS";
    if (mode !== "SIMPLE" && !caCertificates) p.error(`${at}.caCertificates`, `${prefix} requires a client CA bundle`);
    if (!serverCertificate) p.error(`${at}.serverCertificate`, `${prefix} requires a server certificate`);
    if (!privateKey) p.error(`${at}.privateKey`, `${prefix} requires a private key`);
  }
  return tls;
}

function parseServer(v: unknown, at: string, p: FieldProblems): GatewayServer | undefined {
  if (!isFields(v)) {
    p.error(at, "cannot have nil server");
    return undefined;
  }
  unknownKeys(v, ["port", "bind", "hosts", "tls", "defaultEndpoint", "name"], at, p);
  const hosts = stringListField(v, "hosts", at, p);
  if (hosts.length === 0 && !p.list.some((x) => x.path.startsWith(`${at}.hosts`))) p.error(`${at}.hosts`, "server config must contain at least one host");
  hosts.forEach((h, i) => validateServerHost(h, `${at}.hosts[${i}]`, p));
  const rawPort = mapField(v, "port", at, p);
  let port: GatewayServer["port"] | undefined;
  if (rawPort === undefined) p.error(`${at}.port`, "port is required");
  else {
    const pat = `${at}.port`;
    unknownKeys(rawPort, ["number", "name", "protocol", "targetPort"], pat, p);
    const number = intField(rawPort, "number", pat, p, 1, 65535);
    if (number === undefined && (rawPort["number"] === undefined || rawPort["number"] === null)) p.error(`${pat}.number`, "port number is required (1-65535)");
    const name = stringField(rawPort, "name", pat, p);
    if (!name) p.error(`${pat}.name`, "port name must be set");
    if (rawPort["targetPort"] !== undefined) p.error(`${pat}.targetPort`, "targetPort has no impact on Gateways");
    const raw = stringField(rawPort, "protocol", pat, p);
    const upper = raw?.toUpperCase();
    let protocol: Protocol | undefined;
    if (upper === undefined || !(protocols as readonly string[]).includes(upper)) {
      p.error(`${pat}.protocol`, `invalid protocol "${raw ?? ""}", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP`);
    } else protocol = upper as Protocol;
    if (number !== undefined && name && protocol !== undefined) port = { number, name, protocol };
  }
  const bind = stringField(v, "bind", at, p);
  if (bind && !isIpAddress(bind)) p.error(`${at}.bind`, `"${bind}" is not an IP address (unix sockets are not supported by meshward)`);
  const rawTls = v["tls"];
  const tls = rawTls === undefined || rawTls === null ? undefined : parseTls(rawTls, `${at}.tls`, p);
  if (port !== undefined) {
    if (isTlsServerProtocol(port.protocol) && tls === undefined && (rawTls === undefined || rawTls === null)) p.error(`${at}.tls`, "server must have TLS settings for HTTPS/TLS protocols");
    else if (!isTlsServerProtocol(port.protocol) && tls !== undefined) {
      if (!isHttpServerProtocol(port.protocol)) p.error(`${at}.tls`, "server cannot have TLS settings for non HTTPS/TLS ports");
      else if (tls.mode !== "PASSTHROUGH" || tls.caCertificates || tls.privateKey || tls.serverCertificate) p.error(`${at}.tls`, "server cannot have TLS settings for plain text HTTP ports");
    }
  }
  const name = stringField(v, "name", at, p);
  if (port === undefined) return undefined;
  return { port, hosts, ...(bind ? { bind } : {}), ...(tls ? { tls } : {}), ...(name ? { name } : {}) };
}

/** Reads and validates a Gateway spec; errors carry the field path and istiod's wording. */
export function parseGateway(spec: unknown, p: FieldProblems, object?: Pick<ConfigObject, "metadata">): GatewaySpec | undefined {
  if (object !== undefined && !dnsLabel.test(object.metadata.name)) p.error("metadata.name", `invalid gateway name: "${object.metadata.name}" (must be a DNS-1123 label: no dots)`);
  if (!isFields(spec)) {
    p.error("spec", "must be a map");
    return undefined;
  }
  unknownKeys(spec, ["selector", "servers"], "spec", p);
  const hasSelector = spec["selector"] !== undefined && spec["selector"] !== null;
  const selector = stringMapField(spec, "selector", "spec", p);
  const servers = listField(spec, "servers", "spec", p, (v, at) => parseServer(v, at, p));
  const raw = spec["servers"];
  if (!Array.isArray(raw) || raw.length === 0) p.error("spec.servers", "gateway must have at least one server");
  const names = new Map<string, number>();
  (Array.isArray(raw) ? raw : []).forEach((s: unknown, i) => {
    const port = isFields(s) && isFields(s["port"]) ? (s["port"] as Fields) : undefined;
    const name = port !== undefined && typeof port["name"] === "string" ? port["name"] : undefined;
    if (name === undefined || name === "") return;
    if (names.has(name)) p.error(`spec.servers[${i}].port.name`, `port names in servers must be unique: duplicate name ${name} (also spec.servers[${names.get(name)}])`);
    else names.set(name, i);
  });
  for (const [i, s] of servers.entries()) {
    if (s.tls?.httpsRedirect && !isHttpServerProtocol(s.port.protocol)) p.warn(`spec.servers[${i}].tls.httpsRedirect`, "tls.httpsRedirect should only be used with http servers");
  }
  if (p.hasErrors) return undefined;
  return { ...(hasSelector ? { selector } : {}), servers };
}

/**
 * The proxies a set of Gateways selects: routers whose labels hold the selector (no selector: every
 * router), by the labels they claim or their Pod's (either may have decided what they hold).
 */
function gatewaysTouch(accepted: readonly AcceptedObject[], snapshot: MeshSnapshot): (proxy: Proxy) => boolean {
  const specs = accepted.map((a) => a.spec as GatewaySpec);
  const holds = (labels: Readonly<Record<string, string>>): boolean => specs.some((s) => s.selector === undefined || labelsMatch(s.selector, labels));
  return (proxy) => proxy.type === "router" && (holds(proxy.labels) || holds(routerView(snapshot, proxy).labels));
}

export const gatewayKind: KindHandler = {
  apiVersions: networkingApiVersions,
  parse: (spec, p, object) => parseGateway(spec, p, object),
  // A Gateway only reaches the router proxies its old or new version selects.
  scope: (before, after, next) => {
    const touches = gatewaysTouch([...before, ...after], next);
    return { all: false, affects: touches };
  },
};

/** The accepted Gateways of a snapshot, sorted by namespace/name (the snapshot's order). */
export function gatewaysOf(snapshot: MeshSnapshot): Gateway[] {
  return (snapshot.others.get(GATEWAY_KIND) ?? []).map(({ object, spec }) => ({ name: object.metadata.name, namespace: object.metadata.namespace, spec: spec as GatewaySpec }));
}
