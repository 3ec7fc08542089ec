// The policies of a VirtualService http route, read as istiod validates them: fault injection,
// retries, CORS, redirect and rewrite (with field paths). Durations are seconds; percentages 0..100.
import { FieldProblems, type Fields, boolField, durationField, enumField, intField, listField, mapField, portField, requiredString, stringField, stringListField, unknownKeys } from "./fields.js";
import { checkRegex, parseStringMatch, type HttpRouteSpec } from "./virtual-service-http.js";

/** gRPC status names Istio accepts for fault aborts, with their codes (grpc.SupportedGRPCStatus). */
export const grpcStatusCodes: Readonly<Record<string, number>> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};


/** A Percent (`{value: 12.5}`), 0..100. */
export function percentage(v: Fields, key: string, at: string, p: FieldProblems): number | undefined {
  const m = mapField(v, key, at, p);
  if (m === undefined) return undefined;
  const value = m["value"];
  if (typeof value !== "number" || value < 0 || value > 100) {
    p.error(`${at}.${key}.value`, `must be a percentage from 0 to 100, got ${JSON.stringify(value)}`);
    return undefined;
  }
  return value;
}

export function parseFault(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["fault"] {
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

export function parseRetries(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["retries"] {
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

export function parseCors(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["corsPolicy"] {
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

export function parseRedirect(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["redirect"] {
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

export function parseRewrite(v: Fields, at: string, p: FieldProblems): HttpRouteSpec["rewrite"] {
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

