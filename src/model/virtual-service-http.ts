// The http routes of a VirtualService: matches, destinations, redirect, direct response, rewrite,
// timeout, retries, fault, mirror, headers and CORS, with istiod's validation (validateHTTPRoute)
// and field paths. Durations are seconds.
import { FieldProblems, type Fields, boolField, durationField, enumField, intField, isFields, listField, mapField, portField, requiredString, stringField, stringListField, stringMapField, unknownKeys } from "./fields.js";
import { parseDestination, parseDestinations, type DestinationSpec } from "./virtual-service.js";

/** Istio's StringMatch; `present` is an empty match (the header or parameter must exist). */
export type StringMatchSpec = { readonly exact: string } | { readonly prefix: string } | { readonly regex: string } | { readonly present: true };

export interface HttpMatchSpec {
  readonly name?: string;
  readonly uri?: StringMatchSpec;
  readonly scheme?: StringMatchSpec;
  readonly method?: StringMatchSpec;
  readonly authority?: StringMatchSpec;
  readonly headers: Readonly<Record<string, StringMatchSpec>>;
  readonly withoutHeaders: Readonly<Record<string, StringMatchSpec>>;
  readonly queryParams: Readonly<Record<string, StringMatchSpec>>;
  readonly ignoreUriCase: boolean;
  readonly port?: number;
  readonly sourceLabels: Readonly<Record<string, string>>;
  readonly gateways: readonly string[];
  readonly sourceNamespace?: string;
  readonly statPrefix?: string;
}

export interface HeaderOperationsSpec {
  readonly set: Readonly<Record<string, string>>;
  readonly add: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

export interface HeadersSpec {
  readonly request?: HeaderOperationsSpec;
  readonly response?: HeaderOperationsSpec;
}

export interface HttpRouteDestinationSpec {
  readonly destination: DestinationSpec;
  readonly weight: number;
  readonly headers?: HeadersSpec;
}

export interface HttpRouteSpec {
  readonly name?: string;
  readonly match: readonly HttpMatchSpec[];
  readonly route: readonly HttpRouteDestinationSpec[];
  readonly redirect?: { readonly uri?: string; readonly authority?: string; readonly port?: number; readonly derivePort?: "FROM_PROTOCOL_DEFAULT" | "FROM_REQUEST_PORT"; readonly scheme?: string; readonly redirectCode?: number };
  readonly directResponse?: { readonly status: number; readonly body?: string; readonly bodyBase64?: string };
  readonly delegate?: { readonly name: string; readonly namespace?: string };
  readonly rewrite?: { readonly uri?: string; readonly authority?: string; readonly uriRegexRewrite?: { readonly match: string; readonly rewrite: string } };
  readonly timeout?: number;
  readonly retries?: { readonly attempts: number; readonly perTryTimeout?: number; readonly retryOn?: string; readonly retryIgnorePreviousHosts?: boolean; readonly backoff?: number };
  readonly fault?: {
    readonly delay?: { readonly fixedDelay: number; readonly percentage?: number; readonly percent?: number };
    readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: string; readonly percentage?: number };
  };
  readonly mirrors: readonly { readonly destination: DestinationSpec; readonly percentage?: number }[];
  readonly corsPolicy?: {
    readonly allowOrigins: readonly StringMatchSpec[];
    readonly allowMethods: readonly string[];
    readonly allowHeaders: readonly string[];
    readonly exposeHeaders: readonly string[];
    readonly maxAge?: number;
    readonly allowCredentials?: boolean;
    /** IGNORE: preflights from origins the policy does not allow are answered by Envoy, not forwarded. */
    readonly unmatchedPreflights?: "FORWARD" | "IGNORE";
  };
  readonly headers?: HeadersSpec;
}

/** gRPC status names Istio accepts for fault aborts, with their codes (grpc.SupportedGRPCStatus). */
export const grpcStatusCodes: Readonly<Record<string, number>> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

function checkRegex(re: string, at: string, p: FieldProblems): void {
  try {
    new RegExp(re);
  } catch (e) {
    p.error(at, `"${re}" is not a valid regular expression: ${(e as Error).message}`);
  }
}

/**
 * istiod's validateStringMatch: a prefix must not be empty (but for the uri), a regex must compile;
 * an empty match means "present". `starIsPresent`: regex `*` means present (withoutHeaders only).
 */
function parseStringMatch(v: unknown, at: string, p: FieldProblems, emptyPrefixOk = false, starIsPresent = false): StringMatchSpec | undefined {
  if (!isFields(v)) {
    p.error(at, "must be a map with one of exact, prefix or regex");
    return undefined;
  }
  const set = (["exact", "prefix", "regex"] as const).filter((k) => v[k] !== undefined && v[k] !== null);
  unknownKeys(v, ["exact", "prefix", "regex"], at, p);
  if (set.length > 1) p.error(at, `only one of exact, prefix or regex may be set, got ${set.join(", ")}`);
  const [kind] = set;
  if (kind === undefined) return { present: true };
  const value = stringField(v, kind, at, p);
  if (value === undefined) return undefined;
  if (kind === "regex") {
    if (starIsPresent && value === "*") return { present: true };
    checkRegex(value, `${at}.regex`, p);
    return { regex: value };
  }
  if (kind === "prefix" && value === "" && !emptyPrefixOk) p.error(`${at}.prefix`, "prefix string match should not be empty");
  return kind === "exact" ? { exact: value } : { prefix: value };
}

function stringMatchMap(v: Fields, key: string, at: string, p: FieldProblems): Record<string, StringMatchSpec> {
  const m = mapField(v, key, at, p);
  const out: Record<string, StringMatchSpec> = {};
  for (const [name, sm] of Object.entries(m ?? {})) {
    if (sm === null || sm === undefined) {
      p.error(`${at}.${key}.${name}`, `header match ${name} cannot be null`);
      continue;
    }
    if (name === "") p.error(`${at}.${key}`, "header name cannot be empty");
    const parsed = parseStringMatch(sm, `${at}.${key}.${name}`, p, false, key === "withoutHeaders");
    if (parsed !== undefined) out[name] = parsed;
  }
  return out;
}

function parseMatch(v: unknown, at: string, p: FieldProblems): HttpMatchSpec | undefined {
  if (!isFields(v)) {
    p.error(at, "must be a map");
    return undefined;
  }
  const one = (key: string): StringMatchSpec | undefined => (v[key] === undefined || v[key] === null ? undefined : parseStringMatch(v[key], `${at}.${key}`, p, key === "uri"));
  const name = stringField(v, "name", at, p);
  const uri = one("uri");
  const scheme = one("scheme");
  const method = one("method");
  const authority = one("authority");
  const port = portField(v, "port", at, p);
  const sourceNamespace = stringField(v, "sourceNamespace", at, p);
  const statPrefix = stringField(v, "statPrefix", at, p);
  if (sourceNamespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(sourceNamespace)) p.error(`${at}.sourceNamespace`, `sourceNamespace match ${sourceNamespace} is invalid`);
  const headers = stringMatchMap(v, "headers", at, p);
  for (const h of Object.keys(headers)) if (h.toLowerCase() !== h) p.error(`${at}.headers.${h}`, "header name must be lower case");
  unknownKeys(v, ["name", "uri", "scheme", "method", "authority", "headers", "withoutHeaders", "queryParams", "ignoreUriCase", "port", "sourceLabels", "gateways", "sourceNamespace", "statPrefix"], at, p);
  return httpMatchSpec({
    name,
    uri,
    scheme,
    method,
    authority,
    headers,
    withoutHeaders: stringMatchMap(v, "withoutHeaders", at, p),
    queryParams: stringMatchMap(v, "queryParams", at, p),
    ignoreUriCase: boolField(v, "ignoreUriCase", at, p) ?? false,
    port,
    sourceLabels: stringMapField(v, "sourceLabels", at, p),
    gateways: stringListField(v, "gateways", at, p),
    sourceNamespace,
    statPrefix,
  });
}

type OptionalMatchKeys = "name" | "uri" | "scheme" | "method" | "authority" | "port" | "sourceNamespace" | "statPrefix";
type MatchParts = Omit<HttpMatchSpec, OptionalMatchKeys> & { readonly [K in OptionalMatchKeys]: HttpMatchSpec[K] | undefined };

/** A match from its parts, leaving out the optional ones that are unset or empty. */
export function httpMatchSpec(parts: MatchParts): HttpMatchSpec {
  const { name, uri, scheme, method, authority, port, sourceNamespace, statPrefix, ...rest } = parts;
  return {
    ...(name ? { name } : {}),
    ...(uri ? { uri } : {}),
    ...(scheme ? { scheme } : {}),
    ...(method ? { method } : {}),
    ...(authority ? { authority } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(sourceNamespace ? { sourceNamespace } : {}),
    ...(statPrefix ? { statPrefix } : {}),
    ...rest,
  };
}

/** Envoy's header value syntax: `%%` is a literal `%`, `%VARIABLE%` (or `%VARIABLE(args)%`) a substitution, a lone `%` an error. */
const headerValuePattern = /^(?:[^%\u0000-\u0008\u000A-\u001F\u007F]|%%|%[A-Z_][A-Z0-9_]*(?:\([^)]*\))?(?::[0-9]+)?%)*$/;

function parseHeaderOperations(v: Fields, key: string, at: string, p: FieldProblems): HeaderOperationsSpec | undefined {
  const m = mapField(v, key, at, p);
  if (m === undefined) return undefined;
  const path = `${at}.${key}`;
  unknownKeys(m, ["set", "add", "remove"], path, p);
  const set = stringMapField(m, "set", path, p);
  const add = stringMapField(m, "add", path, p);
  for (const [op, values] of [["set", set], ["add", add]] as const) {
    for (const [name, value] of Object.entries(values)) {
      if (name === "") p.error(`${path}.${op}`, "header name cannot be empty");
      if (!headerValuePattern.test(value)) p.error(`${path}.${op}.${name}`, `header value configuration ${JSON.stringify(value)} is invalid (a lone % must be written %%)`);
    }
  }
  const remove = listField(m, "remove", path, p, (e, ep) => {
    if (typeof e === "string" && e !== "") return e;
    p.error(ep, "header name cannot be empty");
    return undefined;
  });
  return { set, add, remove };
}

function parseHeaders(v: Fields, at: string, p: FieldProblems): HeadersSpec | undefined {
  const h = mapField(v, "headers", at, p);
  if (h === undefined) return undefined;
  unknownKeys(h, ["request", "response"], `${at}.headers`, p);
  const request = parseHeaderOperations(h, "request", `${at}.headers`, p);
  const response = parseHeaderOperations(h, "response", `${at}.headers`, p);
  return { ...(request ? { request } : {}), ...(response ? { response } : {}) };
}

/** A Percent (`{value: 12.5}`), 0..100. */
function percentage(v: Fields, key: string, at: string, p: FieldProblems): number | undefined {
  const m = mapField(v, key, at, p);
  if (m === undefined) return undefined;
  const value = m["value"];
  if (typeof value !== "number" || value < 0 || value > 100) {
    p.error(`${at}.${key}.value`, `must be a percentage from 0 to 100, got ${JSON.stringify(value)}`);
    return undefined;
  }
  return value;
}

function parseFault(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["fault"] {
  const f = mapField(v, "fault", at, p);
  if (f === undefined) return undefined;
  const path = `${at}.fault`;
  const d = mapField(f, "delay", path, p);
  const a = mapField(f, "abort", path, p);
  if (d === undefined && a === undefined) p.error(path, "HTTP fault injection must have an abort and/or a delay");
  let delay: NonNullable<HttpRouteSpec["fault"]>["delay"];
  if (d !== undefined) {
    const fixedDelay = durationField(d, "fixedDelay", `${path}.delay`, p);
    if (d["fixedDelay"] === undefined) p.error(`${path}.delay.fixedDelay`, "is required (exponentialDelay is not supported)");
    const pct = percentage(d, "percentage", `${path}.delay`, p);
    const percent = intField(d, "percent", `${path}.delay`, p, 0, 100);
    if (fixedDelay !== undefined) delay = { fixedDelay, ...(pct !== undefined ? { percentage: pct } : {}), ...(percent !== undefined ? { percent } : {}) };
  }
  let abort: NonNullable<HttpRouteSpec["fault"]>["abort"];
  if (a !== undefined) {
    const httpStatus = intField(a, "httpStatus", `${path}.abort`, p, 200, 599);
    const grpcStatus = stringField(a, "grpcStatus", `${path}.abort`, p);
    if (grpcStatus !== undefined && grpcStatusCodes[grpcStatus] === undefined) p.error(`${path}.abort.grpcStatus`, `"${grpcStatus}" is not a valid gRPC status`);
    if (httpStatus === undefined && grpcStatus === undefined && !p.hasErrors) p.error(`${path}.abort`, "one of httpStatus or grpcStatus is required (http2Error is not supported)");
    const pct = percentage(a, "percentage", `${path}.abort`, p);
    abort = { ...(httpStatus !== undefined ? { httpStatus } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}), ...(pct !== undefined ? { percentage: pct } : {}) };
  }
  return { ...(delay ? { delay } : {}), ...(abort ? { abort } : {}) };
}

function parseRetries(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["retries"] {
  const r = mapField(v, "retries", at, p);
  if (r === undefined) return undefined;
  const path = `${at}.retries`;
  const attempts = intField(r, "attempts", path, p, 0, 2 ** 31 - 1) ?? 0;
  const perTryTimeout = durationField(r, "perTryTimeout", path, p);
  if (perTryTimeout !== undefined && perTryTimeout < 0.001) p.error(`${path}.perTryTimeout`, "perTryTimeout must be at least 1ms");
  const retryOn = stringField(r, "retryOn", path, p);
  const retryIgnorePreviousHosts = boolField(r, "retryIgnorePreviousHosts", path, p);
  const backoff = durationField(r, "backoff", path, p);
  unknownKeys(r, ["attempts", "perTryTimeout", "retryOn", "retryRemoteLocalities", "retryIgnorePreviousHosts", "backoff"], path, p);
  return { attempts, ...(perTryTimeout !== undefined ? { perTryTimeout } : {}), ...(retryOn ? { retryOn } : {}), ...(retryIgnorePreviousHosts !== undefined ? { retryIgnorePreviousHosts } : {}), ...(backoff !== undefined ? { backoff } : {}) };
}

function parseCors(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["corsPolicy"] {
  const c = mapField(v, "corsPolicy", at, p);
  if (c === undefined) return undefined;
  const path = `${at}.corsPolicy`;
  const allowOrigins = listField(c, "allowOrigins", path, p, (o, op) => parseStringMatch(o, op, p));
  const maxAge = durationField(c, "maxAge", path, p);
  if (maxAge !== undefined && !Number.isInteger(maxAge)) p.error(`${path}.maxAge`, "max_age duration is accurate only to seconds precision");
  const allowCredentials = boolField(c, "allowCredentials", path, p);
  const unmatchedPreflights = enumField(c, "unmatchedPreflights", path, p, ["UNSPECIFIED", "FORWARD", "IGNORE"] as const);
  unknownKeys(c, ["allowOrigins", "allowMethods", "allowHeaders", "exposeHeaders", "maxAge", "allowCredentials", "unmatchedPreflights"], path, p);
  return {
    allowOrigins,
    allowMethods: stringListField(c, "allowMethods", path, p),
    allowHeaders: stringListField(c, "allowHeaders", path, p),
    exposeHeaders: stringListField(c, "exposeHeaders", path, p),
    ...(maxAge !== undefined ? { maxAge } : {}),
    ...(allowCredentials !== undefined ? { allowCredentials } : {}),
    ...(unmatchedPreflights === "FORWARD" || unmatchedPreflights === "IGNORE" ? { unmatchedPreflights } : {}),
  };
}

function parseRedirect(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["redirect"] {
  const r = mapField(v, "redirect", at, p);
  if (r === undefined) return undefined;
  const path = `${at}.redirect`;
  const uri = stringField(r, "uri", path, p);
  const authority = stringField(r, "authority", path, p);
  const port = portField(r, "port", path, p);
  const derivePort = enumField(r, "derivePort", path, p, ["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] as const);
  const scheme = stringField(r, "scheme", path, p);
  const redirectCode = intField(r, "redirectCode", path, p, 0, 999);
  if (!uri && !authority && port === undefined && derivePort === undefined && !scheme) p.error(path, "redirect must specify URI, authority, scheme, or port");
  if (redirectCode !== undefined && redirectCode !== 0 && ![301, 302, 303, 307, 308].includes(redirectCode)) p.error(`${path}.redirectCode`, "redirect code must be 301, 302, 303, 307 or 308");
  unknownKeys(r, ["uri", "authority", "port", "derivePort", "scheme", "redirectCode"], path, p);
  return { ...(uri ? { uri } : {}), ...(authority ? { authority } : {}), ...(port !== undefined ? { port } : {}), ...(derivePort ? { derivePort } : {}), ...(scheme ? { scheme } : {}), ...(redirectCode ? { redirectCode } : {}) };
}

function parseRewrite(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["rewrite"] {
  const r = mapField(v, "rewrite", at, p);
  if (r === undefined) return undefined;
  const path = `${at}.rewrite`;
  const uri = stringField(r, "uri", path, p);
  const authority = stringField(r, "authority", path, p);
  const rr = mapField(r, "uriRegexRewrite", path, p);
  const uriRegexRewrite = rr ? { match: requiredString(rr, "match", `${path}.uriRegexRewrite`, p) ?? "", rewrite: stringField(rr, "rewrite", `${path}.uriRegexRewrite`, p) ?? "" } : undefined;
  if (uriRegexRewrite) checkRegex(uriRegexRewrite.match, `${path}.uriRegexRewrite.match`, p);
  if (uri && uriRegexRewrite) p.error(path, "rewrite may only contain one of URI or uriRegexRewrite");
  if (!uri && !authority && !uriRegexRewrite) p.error(path, "rewrite must specify URI, authority, or uriRegexRewrite");
  unknownKeys(r, ["uri", "authority", "uriRegexRewrite"], path, p);
  return { ...(uri ? { uri } : {}), ...(authority ? { authority } : {}), ...(uriRegexRewrite ? { uriRegexRewrite } : {}) };
}

/** istiod's validateAuthorityRewrite: the authority may be set once, by rewrite or by one `:authority`/`host` header. */
function checkAuthorityOnce(rewrite: HttpRouteSpec["rewrite"], headers: HeadersSpec | undefined, at: string, p: FieldProblems): void {
  let current = rewrite?.authority ?? "";
  for (const ops of [headers?.request?.set ?? {}, headers?.request?.add ?? {}]) {
    for (const [k, v] of Object.entries(ops)) {
      if (k.toLowerCase() !== ":authority" && k.toLowerCase() !== "host") continue;
      if (current !== "") p.error(`${at}.headers`, `authority header cannot be set multiple times: have ${JSON.stringify(current)}, attempting to set ${JSON.stringify(v)}`);
      current = v;
    }
  }
}

/** One http route; `delegate` when the VirtualService has no hosts (delegate routes may not delegate again). */
export function parseHttpRoute(v: unknown, at: string, p: FieldProblems, delegate: boolean): HttpRouteSpec | undefined {
  if (!isFields(v)) {
    p.error(at, "http route may not be null");
    return undefined;
  }
  const name = stringField(v, "name", at, p);
  const match = listField(v, "match", at, p, (m, mp) => parseMatch(m, mp, p));
  const route = parseDestinations(v, at, p, (f, path, destination, weight): HttpRouteDestinationSpec => {
    const headers = parseHeaders(f, path, p);
    return { destination, weight, ...(headers ? { headers } : {}) };
  });
  const redirect = parseRedirect(v, at, p);
  const dr = mapField(v, "directResponse", at, p);
  let directResponse: HttpRouteSpec["directResponse"];
  if (dr !== undefined) {
    const status = intField(dr, "status", `${at}.directResponse`, p, 200, 599);
    if (dr["status"] === undefined) p.error(`${at}.directResponse.status`, "is required");
    const body = mapField(dr, "body", `${at}.directResponse`, p);
    const text = body ? stringField(body, "string", `${at}.directResponse.body`, p) : undefined;
    const bytes = body ? stringField(body, "bytes", `${at}.directResponse.body`, p) : undefined;
    if (bytes !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(bytes)) p.error(`${at}.directResponse.body.bytes`, "must be base64");
    if (text !== undefined && bytes !== undefined) p.error(`${at}.directResponse.body`, "only one of string or bytes may be set");
    if (status !== undefined) directResponse = { status, ...(text !== undefined ? { body: text } : {}), ...(bytes !== undefined ? { bodyBase64: bytes } : {}) };
  }
  const dg = mapField(v, "delegate", at, p);
  const delegateRef = dg ? { name: requiredString(dg, "name", `${at}.delegate`, p) ?? "", ...(stringField(dg, "namespace", `${at}.delegate`, p) ? { namespace: stringField(dg, "namespace", `${at}.delegate`, p)! } : {}) } : undefined;
  const rewrite = parseRewrite(v, at, p);
  const timeout = durationField(v, "timeout", at, p);
  const retries = parseRetries(v, at, p);
  const fault = parseFault(v, at, p);
  const mirror = v["mirror"] !== undefined && v["mirror"] !== null ? parseDestination(v["mirror"], `${at}.mirror`, p) : undefined;
  if (v["mirrorPercent"] !== undefined) p.warn(`${at}.mirrorPercent`, 'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead');
  const mirrorPercentage = percentage(v, "mirrorPercentage", at, p) ?? intField(v, "mirrorPercent", at, p, 0, 100);
  const mirrors = listField(v, "mirrors", at, p, (m, mp) => {
    if (!isFields(m)) return undefined;
    const destination = parseDestination(m["destination"], `${mp}.destination`, p);
    const pct = percentage(m, "percentage", mp, p);
    return destination ? { destination, ...(pct !== undefined ? { percentage: pct } : {}) } : undefined;
  });
  if (mirror !== undefined && mirrors.length > 0) p.error(at, "HTTP route cannot contain both mirror and mirrors");
  // Istio turns the deprecated single mirror into the first mirror policy (a 0% mirror mirrors nothing).
  const allMirrors = [...(mirror !== undefined && mirrorPercentage !== 0 ? [{ destination: mirror, ...(mirrorPercentage !== undefined ? { percentage: mirrorPercentage } : {}) }] : []), ...mirrors.filter((m) => m.percentage !== 0)];
  const corsPolicy = parseCors(v, at, p);
  const headers = parseHeaders(v, at, p);
  checkAuthorityOnce(rewrite, headers, at, p);
  // istiod's validateHTTPRouteConflict.
  const where = name ? ` ${name}` : "";
  if (delegateRef && delegate) p.error(`${at}.delegate`, "delegate HTTP route cannot contain delegate");
  if (delegateRef && redirect) p.error(at, `root HTTP route${where} must not specify redirect`);
  if (delegateRef && route.length > 0) p.error(at, `root HTTP route${where} must not specify route`);
  if (!delegateRef) {
    if (redirect && route.length > 0) p.error(at, "HTTP route cannot contain both route and redirect");
    if (redirect && fault) p.error(at, "HTTP route cannot contain both fault and redirect");
    if (redirect && rewrite) p.error(at, "HTTP route rule cannot contain both rewrite and redirect");
    if (redirect && directResponse) p.error(at, "HTTP route rule cannot contain both direct_response and redirect");
    if (directResponse && route.length > 0) p.error(at, "HTTP route cannot contain both route and direct_response");
    if (directResponse && fault) p.error(at, "HTTP route cannot contain both fault and direct_response");
    if (directResponse && rewrite) p.error(at, "HTTP route rule cannot contain both rewrite and direct_response");
    if (!redirect && !directResponse && route.length === 0) p.error(at, "HTTP route, redirect or direct_response is required");
  }
  unknownKeys(v, ["name", "match", "route", "redirect", "directResponse", "delegate", "rewrite", "timeout", "retries", "fault", "mirror", "mirrorPercentage", "mirrorPercent", "mirrors", "corsPolicy", "headers"], at, p);
  return {
    ...(name ? { name } : {}),
    match,
    route,
    ...(redirect ? { redirect } : {}),
    ...(directResponse ? { directResponse } : {}),
    ...(delegateRef ? { delegate: delegateRef } : {}),
    ...(rewrite ? { rewrite } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
    ...(retries ? { retries } : {}),
    ...(fault ? { fault } : {}),
    mirrors: allMirrors,
    ...(corsPolicy ? { corsPolicy } : {}),
    ...(headers ? { headers } : {}),
  };
}
