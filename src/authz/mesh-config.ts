// The MeshConfig fields authorization depends on (Istio's field names): the root namespace, the
// trust domain and its aliases (typed by the mesh model), and the ext_authz extension providers
// CUSTOM policies name (typed here).
import { SpecReader, type FieldProblem } from "./spec-reader.js";

export interface ProtoDuration {
  readonly seconds: bigint;
  readonly nanos: number;
}

export interface RequestBodySettings {
  readonly maxRequestBytes: number;
  readonly allowPartialMessage: boolean;
  readonly packAsBytes: boolean;
}

interface ExtAuthzCommon {
  readonly service: string;
  readonly port: number;
  readonly timeout?: ProtoDuration;
  readonly failOpen: boolean;
  readonly clearRouteCache: boolean;
  readonly statusOnError: string;
  readonly includeRequestBodyInCheck?: RequestBodySettings;
}

export interface ExtAuthzGrpcProvider extends ExtAuthzCommon {
  readonly kind: "envoyExtAuthzGrpc";
}

export interface ExtAuthzHttpProvider extends ExtAuthzCommon {
  readonly kind: "envoyExtAuthzHttp";
  readonly pathPrefix: string;
  readonly includeRequestHeadersInCheck: readonly string[];
  readonly includeHeadersInCheck: readonly string[];
  readonly includeAdditionalHeadersInCheck: Readonly<Record<string, string>>;
  readonly headersToUpstreamOnAllow: readonly string[];
  readonly headersToDownstreamOnDeny: readonly string[];
  readonly headersToDownstreamOnAllow: readonly string[];
}

/** Providers of other kinds (tracing, logging, ...) keep only their name; CUSTOM cannot use them. */
export interface OtherProvider {
  readonly kind: "other";
}

export interface ExtensionProvider {
  readonly name: string;
  readonly provider: ExtAuthzGrpcProvider | ExtAuthzHttpProvider | OtherProvider;
  /** Shape problems; a provider with problems makes the CUSTOM policies naming it deny. */
  readonly problems: readonly FieldProblem[];
}

export interface AuthzMeshConfig {
  readonly rootNamespace: string;
  readonly trustDomain: string;
  readonly trustDomainAliases: readonly string[];
  readonly extensionProviders: readonly ExtensionProvider[];
}

export const DEFAULT_AUTHZ_MESH_CONFIG: AuthzMeshConfig = {
  rootNamespace: "istio-system",
  trustDomain: "cluster.local",
  trustDomainAliases: [],
  extensionProviders: [],
};

/** proto3 JSON Duration: decimal seconds with an `s` suffix, e.g. `10s`, `0.002s`. */
export function parseProtoDuration(v: string): ProtoDuration | undefined {
  const m = /^(\d+)(?:\.(\d{1,9}))?s$/.exec(v);
  if (m === null) return undefined;
  return { seconds: BigInt(m[1] ?? "0"), nanos: Number((m[2] ?? "").padEnd(9, "0")) };
}

/**
 * Types MeshConfig `extensionProviders` (the mesh model keeps them raw). Each provider carries its
 * own problems: a malformed provider makes the CUSTOM policies naming it deny, nothing else.
 */
export function readExtensionProviders(v: unknown): ExtensionProvider[] {
  return v === undefined || v === null ? [] : readProviders(new SpecReader(), v);
}

function readProviders(r: SpecReader, v: unknown): ExtensionProvider[] {
  const list = r.list(v, "extensionProviders", (e) => e) ?? [];
  return list.map((e, i) => {
    const own = new SpecReader();
    const path = `extensionProviders[${i}]`;
    if (e === null || typeof e !== "object" || Array.isArray(e)) {
      own.problem(path, "must be an object");
      return { name: "", provider: { kind: "other" }, problems: own.problems };
    }
    const o = e as Record<string, unknown>;
    const name = o["name"] === undefined ? "" : (own.string(o["name"], `${path}.name`) ?? "");
    let provider: ExtensionProvider["provider"] = { kind: "other" };
    if (o["envoyExtAuthzGrpc"] !== undefined) provider = readGrpc(own, o["envoyExtAuthzGrpc"], `${path}.envoyExtAuthzGrpc`);
    else if (o["envoyExtAuthzHttp"] !== undefined) provider = readHttp(own, o["envoyExtAuthzHttp"], `${path}.envoyExtAuthzHttp`);
    return { name, provider, problems: own.problems };
  });
}

const COMMON_FIELDS = ["service", "port", "timeout", "failOpen", "clearRouteCache", "statusOnError", "includeRequestBodyInCheck"];

function readCommon(r: SpecReader, o: Record<string, unknown>, path: string): ExtAuthzCommon {
  const opt = <T>(k: string, read: (v: unknown, p: string) => T | undefined, dflt: T): T =>
    o[k] === undefined ? dflt : (read(o[k], `${path}.${k}`) ?? dflt);
  let timeout: ProtoDuration | undefined;
  if (o["timeout"] !== undefined) {
    const s = r.string(o["timeout"], `${path}.timeout`);
    timeout = s === undefined ? undefined : parseProtoDuration(s);
    if (s !== undefined && timeout === undefined) r.problem(`${path}.timeout`, `must be a duration in seconds like "10s" or "0.5s", found "${s}"`);
  }
  let body: RequestBodySettings | undefined;
  if (o["includeRequestBodyInCheck"] !== undefined) {
    const bp = `${path}.includeRequestBodyInCheck`;
    const b = r.object(o["includeRequestBodyInCheck"], bp, ["maxRequestBytes", "allowPartialMessage", "packAsBytes"]);
    if (b !== undefined) {
      body = {
        maxRequestBytes: b["maxRequestBytes"] === undefined ? 0 : (r.uint(b["maxRequestBytes"], `${bp}.maxRequestBytes`) ?? 0),
        allowPartialMessage: b["allowPartialMessage"] === undefined ? false : (r.bool(b["allowPartialMessage"], `${bp}.allowPartialMessage`) ?? false),
        packAsBytes: b["packAsBytes"] === undefined ? false : (r.bool(b["packAsBytes"], `${bp}.packAsBytes`) ?? false),
      };
    }
  }
  return {
    service: opt("service", (v, p) => r.string(v, p), ""),
    port: opt("port", (v, p) => r.uint(v, p), 0),
    failOpen: opt("failOpen", (v, p) => r.bool(v, p), false),
    clearRouteCache: opt("clearRouteCache", (v, p) => r.bool(v, p), false),
    statusOnError: opt("statusOnError", (v, p) => r.string(v, p), ""),
    ...(timeout !== undefined ? { timeout } : {}),
    ...(body !== undefined ? { includeRequestBodyInCheck: body } : {}),
  };
}

function readGrpc(r: SpecReader, v: unknown, path: string): ExtAuthzGrpcProvider | OtherProvider {
  const o = r.object(v, path, COMMON_FIELDS);
  return o === undefined ? { kind: "other" } : { kind: "envoyExtAuthzGrpc", ...readCommon(r, o, path) };
}

const HTTP_LIST_FIELDS = ["includeRequestHeadersInCheck", "includeHeadersInCheck", "headersToUpstreamOnAllow", "headersToDownstreamOnDeny", "headersToDownstreamOnAllow"] as const;

function readHttp(r: SpecReader, v: unknown, path: string): ExtAuthzHttpProvider | OtherProvider {
  const o = r.object(v, path, [...COMMON_FIELDS, "pathPrefix", "includeAdditionalHeadersInCheck", ...HTTP_LIST_FIELDS]);
  if (o === undefined) return { kind: "other" };
  const list = (k: (typeof HTTP_LIST_FIELDS)[number]): string[] => (o[k] === undefined ? [] : (r.stringList(o[k], `${path}.${k}`) ?? []));
  return {
    kind: "envoyExtAuthzHttp",
    ...readCommon(r, o, path),
    pathPrefix: o["pathPrefix"] === undefined ? "" : (r.string(o["pathPrefix"], `${path}.pathPrefix`) ?? ""),
    includeAdditionalHeadersInCheck: o["includeAdditionalHeadersInCheck"] === undefined ? {} : (r.stringMap(o["includeAdditionalHeadersInCheck"], `${path}.includeAdditionalHeadersInCheck`) ?? {}),
    includeRequestHeadersInCheck: list("includeRequestHeadersInCheck"),
    includeHeadersInCheck: list("includeHeadersInCheck"),
    headersToUpstreamOnAllow: list("headersToUpstreamOnAllow"),
    headersToDownstreamOnDeny: list("headersToDownstreamOnDeny"),
    headersToDownstreamOnAllow: list("headersToDownstreamOnAllow"),
  };
}
