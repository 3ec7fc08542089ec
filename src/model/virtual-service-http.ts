// The http routes of a VirtualService: matches, destinations, redirect, direct response, rewrite,
// timeout, retries, fault, mirror, headers and CORS, with istiod's validation (validateHTTPRoute)
// and field paths. Durations are seconds.
import { FieldProblems, type Fields, boolField, durationField, intField, isFields, listField, mapField, portField, requiredString, stringField, stringListField, stringMapField, unknownKeys } from "./fields.js";
import { parseDestination, parseDestinations, type DestinationSpec } from "./virtual-service.js";
import { parseCors, parseFault, parseRedirect, parseRetries, parseRewrite, percentage } from "./virtual-service-policies.js";

export { grpcStatusCodes } from "./virtual-service-policies.js";

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

export function checkRegex(re: string, at: string, p: FieldProblems): void {
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
export function parseStringMatch(v: unknown, at: string, p: FieldProblems, emptyPrefixOk = false, starIsPresent = false): StringMatchSpec | undefined {
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
