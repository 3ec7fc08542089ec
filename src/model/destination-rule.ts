// networking.istio.io DestinationRule: load balancing and subsets for a host. `trafficPolicy.tls`
// is read and kept (the mTLS issue translates it); connectionPool limits and outlierDetection are typed, the rest of connectionPool kept raw.
import {
  FieldProblems,
  type Fields,
  boolField,
  durationField,
  enumField,
  intField,
  isFields,
  listField,
  mapField,
  portField,
  requiredString,
  stringField,
  stringListField,
  stringMapField,
  unknownKeys,
} from "./fields.js";
import { parseExportTo } from "./service-entry.js";
import { hostPattern } from "./workload-entry.js";
import { validateClientTls } from "./client-tls.js";
import { parseLocalityLbSetting, type LocalityLbSetting } from "./locality.js";

export type SimpleLb = "UNSPECIFIED" | "RANDOM" | "PASSTHROUGH" | "ROUND_ROBIN" | "LEAST_REQUEST" | "LEAST_CONN";

export type ConsistentHashKey =
  | { readonly kind: "httpHeaderName"; readonly name: string }
  | { readonly kind: "httpCookie"; readonly name: string; readonly path?: string; readonly ttlSeconds?: number }
  | { readonly kind: "useSourceIp" }
  | { readonly kind: "httpQueryParameterName"; readonly name: string };

export interface LoadBalancerSettings {
  readonly simple?: SimpleLb;
  readonly consistentHash?: { readonly key: ConsistentHashKey; readonly minimumRingSize?: number };
  /** `localityLbSetting`: replaces MeshConfig's for this destination (locality.ts). */
  readonly localityLbSetting?: LocalityLbSetting;
}

export type ClientTlsMode = "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL";

export interface ClientTlsSettings {
  readonly mode: ClientTlsMode;
  readonly subjectAltNames: readonly string[];
  readonly sni?: string;
  readonly credentialName?: string;
  readonly clientCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  readonly insecureSkipVerify?: boolean;
}

/** The connectionPool limits sidecars enforce as cluster circuit breakers and connect timeout (istiod's applyConnectionPool). */
export interface ConnectionLimits {
  readonly maxConnections?: number;
  /** Seconds. */
  readonly connectTimeout?: number;
  readonly http1MaxPendingRequests?: number;
  readonly http2MaxRequests?: number;
  readonly maxRetries?: number;
}

/** outlierDetection as sidecars apply it (istiod's applyOutlierDetection); durations in seconds. */
export interface OutlierDetectionSettings {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly interval?: number;
  readonly baseEjectionTime?: number;
  readonly maxEjectionPercent?: number;
  readonly minHealthPercent?: number;
  readonly splitExternalLocalOriginErrors?: boolean;
  readonly consecutiveLocalOriginFailures?: number;
}

export interface TrafficPolicy {
  readonly loadBalancer?: LoadBalancerSettings;
  readonly tls?: ClientTlsSettings;
  /** As written; `connectionLimits` is the part translated today. */
  readonly connectionPool?: Readonly<Record<string, unknown>>;
  readonly connectionLimits?: ConnectionLimits;
  readonly outlierDetection?: OutlierDetectionSettings;
  readonly portLevelSettings: readonly PortTrafficPolicy[];
}

export interface PortTrafficPolicy extends Omit<TrafficPolicy, "portLevelSettings"> {
  readonly port: number;
}

export interface Subset {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleSpec {
  readonly host: string;
  readonly trafficPolicy?: TrafficPolicy;
  readonly subsets: readonly Subset[];
  readonly exportTo: readonly string[];
}

const subsetNamePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i;

function parseLoadBalancer(lb: Fields, at: string, p: FieldProblems): LoadBalancerSettings {
  const locality = mapField(lb, "localityLbSetting", at, p);
  const settings = parseLbPolicy(lb, at, p);
  return locality !== undefined ? { ...settings, localityLbSetting: parseLocalityLbSetting(locality, `${at}.localityLbSetting`, p) } : settings;
}

function parseLbPolicy(lb: Fields, at: string, p: FieldProblems): LoadBalancerSettings {
  const simple = enumField(lb, "simple", at, p, [
    "UNSPECIFIED",
    "RANDOM",
    "PASSTHROUGH",
    "ROUND_ROBIN",
    "LEAST_REQUEST",
    "LEAST_CONN",
  ] as const);
  const ch = mapField(lb, "consistentHash", at, p);
  if (simple !== undefined && ch !== undefined) p.error(at, "simple and consistentHash are exclusive");
  if (ch === undefined) return simple !== undefined ? { simple } : {};
  const cat = `${at}.consistentHash`;
  const keys: ConsistentHashKey[] = [];
  const header = stringField(ch, "httpHeaderName", cat, p);
  if (header !== undefined) keys.push({ kind: "httpHeaderName", name: header });
  const cookie = mapField(ch, "httpCookie", cat, p);
  if (cookie !== undefined) {
    const name = requiredString(cookie, "name", `${cat}.httpCookie`, p);
    const path = stringField(cookie, "path", `${cat}.httpCookie`, p);
    const ttlSeconds = durationField(cookie, "ttl", `${cat}.httpCookie`, p);
    if (name !== undefined) keys.push({ kind: "httpCookie", name, ...(path ? { path } : {}), ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) });
  }
  if (boolField(ch, "useSourceIp", cat, p) === true) keys.push({ kind: "useSourceIp" });
  const query = stringField(ch, "httpQueryParameterName", cat, p);
  if (query !== undefined) keys.push({ kind: "httpQueryParameterName", name: query });
  if (keys.length !== 1) {
    p.error(cat, "exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName is required");
    return {};
  }
  const ringHash = mapField(ch, "ringHash", cat, p);
  const minimumRingSize =
    (ringHash ? intField(ringHash, "minimumRingSize", `${cat}.ringHash`, p, 1, 8388608) : undefined) ??
    intField(ch, "minimumRingSize", cat, p, 1, 8388608);
  return { consistentHash: { key: keys[0]!, ...(minimumRingSize !== undefined ? { minimumRingSize } : {}) } };
}

function parseTls(tls: Fields, at: string, p: FieldProblems): ClientTlsSettings | undefined {
  const mode = enumField(tls, "mode", at, p, ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] as const) ?? "DISABLE";
  const subjectAltNames = stringListField(tls, "subjectAltNames", at, p);
  const opt = (k: string): Record<string, string> => {
    const v = stringField(tls, k, at, p);
    return v !== undefined ? { [k]: v } : {};
  };
  const insecureSkipVerify = boolField(tls, "insecureSkipVerify", at, p);
  const settings: ClientTlsSettings = {
    mode,
    subjectAltNames,
    ...opt("sni"),
    ...opt("credentialName"),
    ...opt("clientCertificate"),
    ...opt("privateKey"),
    ...opt("caCertificates"),
    ...(insecureSkipVerify !== undefined ? { insecureSkipVerify } : {}),
  };
  validateClientTls(settings, tls, at, p);
  return settings;
}

const trafficPolicyFields = ["loadBalancer", "tls", "connectionPool", "outlierDetection", "portLevelSettings", "tunnel", "proxyProtocol", "retryBudget"];

const int32Max = 2147483647;

function parseConnectionLimits(pool: Fields, at: string, p: FieldProblems): ConnectionLimits {
  const tcp = mapField(pool, "tcp", at, p);
  const http = mapField(pool, "http", at, p);
  const tcpAt = `${at}.tcp`;
  const httpAt = `${at}.http`;
  const limits: Record<string, number | undefined> = {
    maxConnections: tcp ? intField(tcp, "maxConnections", tcpAt, p, 0, int32Max) : undefined,
    connectTimeout: tcp ? durationField(tcp, "connectTimeout", tcpAt, p) : undefined,
    http1MaxPendingRequests: http ? intField(http, "http1MaxPendingRequests", httpAt, p, 0, int32Max) : undefined,
    http2MaxRequests: http ? intField(http, "http2MaxRequests", httpAt, p, 0, int32Max) : undefined,
    maxRetries: http ? intField(http, "maxRetries", httpAt, p, 0, int32Max) : undefined,
  };
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) as ConnectionLimits;
}

function parseOutlierDetection(od: Fields, at: string, p: FieldProblems): OutlierDetectionSettings {
  unknownKeys(od, ["consecutive5xxErrors", "consecutiveGatewayErrors", "interval", "baseEjectionTime", "maxEjectionPercent", "minHealthPercent", "splitExternalLocalOriginErrors", "consecutiveLocalOriginFailures", "consecutiveErrors"], at, p);
  const settings: Record<string, number | boolean | undefined> = {
    consecutive5xxErrors: intField(od, "consecutive5xxErrors", at, p, 0, 4294967295),
    consecutiveGatewayErrors: intField(od, "consecutiveGatewayErrors", at, p, 0, 4294967295),
    interval: durationField(od, "interval", at, p),
    baseEjectionTime: durationField(od, "baseEjectionTime", at, p),
    maxEjectionPercent: intField(od, "maxEjectionPercent", at, p, 0, 100),
    minHealthPercent: intField(od, "minHealthPercent", at, p, 0, 100),
    splitExternalLocalOriginErrors: boolField(od, "splitExternalLocalOriginErrors", at, p),
    consecutiveLocalOriginFailures: intField(od, "consecutiveLocalOriginFailures", at, p, 0, 4294967295),
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as OutlierDetectionSettings;
}

function parsePolicyBody(tp: Fields, at: string, p: FieldProblems): Omit<TrafficPolicy, "portLevelSettings"> {
  unknownKeys(tp, [...trafficPolicyFields, "port"], at, p);
  const lb = mapField(tp, "loadBalancer", at, p);
  const tls = mapField(tp, "tls", at, p);
  const connectionPool = mapField(tp, "connectionPool", at, p);
  // istiod's validateConnectionPool: an empty connectionPool is a mistake, not a default.
  if (connectionPool !== undefined && Object.keys(connectionPool).length === 0) p.error(`${at}.connectionPool`, "must have at least one field (tcp or http)");
  const outlierDetection = mapField(tp, "outlierDetection", at, p);
  const loadBalancer = lb ? parseLoadBalancer(lb, `${at}.loadBalancer`, p) : undefined;
  const tlsSettings = tls ? parseTls(tls, `${at}.tls`, p) : undefined;
  const locality = loadBalancer?.localityLbSetting;
  // istiod's warning: without outlier detection a proxy never notices a dead endpoint, so never fails over.
  if (locality !== undefined && (locality.failover.length > 0 || locality.failoverPriority.length > 0) && outlierDetection === undefined) {
    p.warn(`${at}.loadBalancer.localityLbSetting`, "outlier detection policy must be provided for failover");
  }
  return {
    ...(loadBalancer ? { loadBalancer } : {}),
    ...(tlsSettings ? { tls: tlsSettings } : {}),
    ...(connectionPool ? { connectionPool, connectionLimits: parseConnectionLimits(connectionPool, `${at}.connectionPool`, p) } : {}),
    ...(outlierDetection ? { outlierDetection: parseOutlierDetection(outlierDetection, `${at}.outlierDetection`, p) } : {}),
  };
}

function parseTrafficPolicy(tp: Fields, at: string, p: FieldProblems): TrafficPolicy {
  const seen = new Set<number>();
  const portLevelSettings = listField(tp, "portLevelSettings", at, p, (v, pat): PortTrafficPolicy | undefined => {
    if (!isFields(v)) {
      p.error(pat, "must be a map");
      return undefined;
    }
    const portSel = mapField(v, "port", pat, p);
    const port = portSel ? portField(portSel, "number", `${pat}.port`, p) : undefined;
    if (port === undefined) {
      if (portSel === undefined || portSel["number"] === undefined) p.error(`${pat}.port.number`, "is required");
      return undefined;
    }
    if (seen.has(port)) p.error(`${pat}.port.number`, `port ${port} has more than one setting`);
    seen.add(port);
    return { port, ...parsePolicyBody(v, pat, p) };
  });
  return { ...parsePolicyBody(tp, at, p), portLevelSettings };
}

export function parseDestinationRule(spec: unknown, p: FieldProblems): DestinationRuleSpec | undefined {
  if (!isFields(spec)) {
    p.error("spec", "is required and must be a map");
    return undefined;
  }
  const host = requiredString(spec, "host", "spec", p);
  if (host !== undefined && host !== "*" && !hostPattern.test(host)) p.error("spec.host", `"${host}" is not a valid host name`);
  const tp = mapField(spec, "trafficPolicy", "spec", p);
  const trafficPolicy = tp ? parseTrafficPolicy(tp, "spec.trafficPolicy", p) : undefined;
  const names = new Set<string>();
  const subsets = listField(spec, "subsets", "spec", p, (v, at): Subset | undefined => {
    if (!isFields(v)) {
      p.error(at, "must be a map with name and labels");
      return undefined;
    }
    const name = requiredString(v, "name", at, p);
    if (name !== undefined && !subsetNamePattern.test(name)) p.error(`${at}.name`, `"${name}" is not a valid subset name`);
    if (name !== undefined && names.has(name)) p.error(`${at}.name`, `subset "${name}" is defined twice`);
    if (name !== undefined) names.add(name);
    const labels = stringMapField(v, "labels", at, p);
    unknownKeys(v, ["name", "labels", "trafficPolicy"], at, p);
    const stp = mapField(v, "trafficPolicy", at, p);
    const subsetPolicy = stp ? parseTrafficPolicy(stp, `${at}.trafficPolicy`, p) : undefined;
    if (name === undefined) return undefined;
    return { name, labels, ...(subsetPolicy ? { trafficPolicy: subsetPolicy } : {}) };
  });
  const exportTo = parseExportTo(spec, p);
  // As istiod's validateWorkloadSelector: a selector without labels is allowed but suspicious.
  const workloadSelector = mapField(spec, "workloadSelector", "spec", p);
  if (workloadSelector !== undefined && Object.keys(stringMapField(workloadSelector, "matchLabels", "spec.workloadSelector", p)).length === 0) {
    p.warn("spec.workloadSelector", "workload selector specified without labels");
  }
  unknownKeys(spec, ["host", "trafficPolicy", "subsets", "exportTo", "workloadSelector"], "spec", p);
  if (p.hasErrors || host === undefined) return undefined;
  return { host, ...(trafficPolicy ? { trafficPolicy } : {}), subsets, exportTo };
}

/**
 * The policy that applies to one port of one subset, as Istio merges it: port-level settings
 * replace the top-level fields they set, then the subset's policy (itself port-merged) on top.
 */
export function effectiveTrafficPolicy(rule: DestinationRuleSpec | undefined, port: number, subset?: string): Omit<TrafficPolicy, "portLevelSettings"> {
  const merge = (base: Omit<TrafficPolicy, "portLevelSettings">, tp: TrafficPolicy | undefined): Omit<TrafficPolicy, "portLevelSettings"> => {
    if (tp === undefined) return base;
    const { portLevelSettings, ...top } = tp;
    const portLevel = portLevelSettings.find((s) => s.port === port);
    if (portLevel === undefined) return { ...base, ...top };
    // Port-level settings replace, never inherit (istiod's MergeTrafficPolicy: "port level policies
    // do not inherit and instead go to defaults if not provided").
    const { port: _port, ...portBody } = portLevel;
    const { loadBalancer: _lb, tls: _tls, connectionPool: _cp, connectionLimits: _cl, outlierDetection: _od, ...rest } = { ...base, ...top };
    return { ...rest, ...portBody };
  };
  const top = merge({}, rule?.trafficPolicy);
  if (subset === undefined) return top;
  return merge(top, rule?.subsets.find((s) => s.name === subset)?.trafficPolicy);
}
