// RDS builder: route tables of the IR (src/ir/routes.ts, src/ir/virtual-service-routes.ts) into
// Envoy RouteConfigurations. Every IR field maps to one Envoy field here and nowhere else, so
// sidecars, proxyless gRPC clients and routers share one mapping.
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { RouteConfigurationSchema } from "../gen/envoy/config/route/v3/route_pb.js";
import {
  RedirectAction_RedirectResponseCode,
  type RouteActionSchema,
  type RedirectActionSchema,
  type WeightedCluster_ClusterWeightSchema,
  type DirectResponseActionSchema,
  type HeaderMatcherSchema,
  type QueryParameterMatcherSchema,
  type RouteAction_HashPolicySchema,
  type RouteMatchSchema,
  type RouteSchema,
  type VirtualHostSchema,
} from "../gen/envoy/config/route/v3/route_components_pb.js";
import type { StringMatcherSchema } from "../gen/envoy/type/matcher/v3/string_pb.js";
import { HeaderValueOption_HeaderAppendAction, type HeaderValueOptionSchema } from "../gen/envoy/config/core/v3/base_pb.js";
import { FractionalPercent_DenominatorType } from "../gen/envoy/type/v3/percent_pb.js";
import { HTTPFaultSchema } from "../gen/envoy/extensions/filters/http/fault/v3/fault_pb.js";
import { CorsPolicySchema } from "../gen/envoy/extensions/filters/http/cors/v3/cors_pb.js";
import { PreviousHostsPredicateSchema } from "../gen/envoy/extensions/retry/host/previous_hosts/v3/previous_hosts_pb.js";
import { TypeUrl } from "../xds/types.js";
import type { CorsPolicy, DirectResponseAction, FaultInjection, ForwardAction, FractionalPercent, HashPolicy, HeaderOperations, HeaderValue, HttpRoute, Keyed, RedirectAction, RetryPolicy, RouteMatch, RouteTable, StringMatch, VirtualHost, WeightedDestination } from "../ir/types.js";
import { built, durationFromSeconds, typedConfig, type PlannedResource } from "./common.js";

/** The plain-object form of a message's init (not an already built message). */
type Init<Desc extends DescMessage> = Exclude<MessageInitShape<Desc>, MessageShape<Desc>>;
type RouteInit = Init<typeof RouteSchema>;
type RouteActionInit = Init<typeof RouteActionSchema>;
type VirtualHostInit = Init<typeof VirtualHostSchema>;
type HashPolicyInit = Init<typeof RouteAction_HashPolicySchema>;
type StringMatcherInit = Init<typeof StringMatcherSchema>;
type HeaderOptionInit = Init<typeof HeaderValueOptionSchema>;

export function stringMatcher(m: StringMatch): StringMatcherInit {
  if ("exact" in m) return { matchPattern: { case: "exact", value: m.exact } };
  if ("prefix" in m) return { matchPattern: { case: "prefix", value: m.prefix } };
  return { matchPattern: { case: "safeRegex", value: { regex: m.regex } } };
}

function routeMatch(m: RouteMatch): Init<typeof RouteMatchSchema> {
  const path = ((): Init<typeof RouteMatchSchema>["pathSpecifier"] => {
    switch (m.path.kind) {
      case "prefix":
        return { case: "prefix", value: m.path.value };
      case "exact":
        return { case: "path", value: m.path.value };
      case "regex":
        return { case: "safeRegex", value: { regex: m.path.value } };
      case "pathSeparatedPrefix":
        return { case: "pathSeparatedPrefix", value: m.path.value };
    }
  })();
  const headers = (m.headers ?? []).map((h): Init<typeof HeaderMatcherSchema> => ({
    name: h.name,
    headerMatchSpecifier: h.match === undefined ? { case: "presentMatch", value: true } : { case: "stringMatch", value: stringMatcher(h.match) },
    ...(h.invert ? { invertMatch: true } : {}),
    ...(h.treatMissingAsEmpty ? { treatMissingHeaderAsEmpty: true } : {}),
  }));
  const queryParameters = (m.queryParams ?? []).map((q): Init<typeof QueryParameterMatcherSchema> => ({
    name: q.name,
    queryParameterMatchSpecifier: q.match === undefined ? { case: "presentMatch", value: true } : { case: "stringMatch", value: stringMatcher(q.match) },
  }));
  return {
    pathSpecifier: path,
    ...(m.caseSensitive !== undefined ? { caseSensitive: m.caseSensitive } : {}),
    ...(headers.length ? { headers } : {}),
    ...(queryParameters.length ? { queryParameters } : {}),
  };
}

function hashPolicy(h: HashPolicy): HashPolicyInit {
  switch (h.kind) {
    case "header":
      return { policySpecifier: { case: "header", value: { headerName: h.name } } };
    case "cookie":
      return { policySpecifier: { case: "cookie", value: { name: h.name, ...(h.path ? { path: h.path } : {}), ...(h.ttlSeconds !== undefined ? { ttl: durationFromSeconds(h.ttlSeconds) } : {}) } } };
    case "sourceIp":
      return { policySpecifier: { case: "connectionProperties", value: { sourceIp: true } } };
    case "queryParameter":
      return { policySpecifier: { case: "queryParameter", value: { name: h.name } } };
  }
}

export function retryPolicy(r: RetryPolicy): NonNullable<RouteActionInit["retryPolicy"]> {
  return {
    retryOn: r.retryOn,
    numRetries: r.numRetries,
    ...(r.perTryTimeoutSeconds !== undefined ? { perTryTimeout: durationFromSeconds(r.perTryTimeoutSeconds) } : {}),
    ...(r.otherHost ? { retryHostPredicate: [{ name: "envoy.retry_host_predicates.previous_hosts", configType: { case: "typedConfig", value: typedConfig(PreviousHostsPredicateSchema, {}) } }] } : {}),
    // Istio's retry policies always allow 5 host selection attempts.
    hostSelectionRetryMaxAttempts: 5n,
    ...(r.retriableStatusCodes?.length ? { retriableStatusCodes: [...r.retriableStatusCodes] } : {}),
    ...(r.backoffSeconds !== undefined ? { retryBackOff: { baseInterval: durationFromSeconds(r.backoffSeconds) } } : {}),
  };
}

function fraction(f: FractionalPercent): { numerator: number; denominator: FractionalPercent_DenominatorType } {
  return { numerator: f.numerator, denominator: f.denominator === "MILLION" ? FractionalPercent_DenominatorType.MILLION : FractionalPercent_DenominatorType.HUNDRED };
}

function weightedCluster(d: WeightedDestination): Init<typeof WeightedCluster_ClusterWeightSchema> {
  return { name: d.cluster, weight: d.weight, ...headerOperations(d.headers), ...(d.authority !== undefined ? { hostRewriteSpecifier: { case: "hostRewriteLiteral", value: d.authority } } : {}) };
}

function forwardAction(a: ForwardAction): RouteActionInit {
  const [only] = a.destinations;
  return {
    clusterSpecifier:
      a.destinations.length === 1 && only !== undefined && only.headers === undefined
        ? { case: "cluster", value: only.cluster }
        : { case: "weightedClusters", value: { clusters: a.destinations.map(weightedCluster) } },
    timeout: durationFromSeconds(a.timeoutSeconds),
    ...(a.retry ? { retryPolicy: retryPolicy(a.retry) } : {}),
    ...(a.maxGrpcTimeoutSeconds !== undefined ? { maxGrpcTimeout: durationFromSeconds(a.maxGrpcTimeoutSeconds) } : {}),
    ...(a.maxStreamDurationSeconds !== undefined ? { maxStreamDuration: { maxStreamDuration: durationFromSeconds(a.maxStreamDurationSeconds) } } : {}),
    ...(a.hashPolicies?.length ? { hashPolicy: a.hashPolicies.map(hashPolicy) } : {}),
    ...(a.mirrors?.length
      ? { requestMirrorPolicies: a.mirrors.map((m) => ({ cluster: m.cluster, runtimeFraction: { defaultValue: fraction(m.fraction) }, traceSampled: false, disableShadowHostSuffixAppend: true })) }
      : {}),
    ...(a.rewrite?.prefix !== undefined ? { prefixRewrite: a.rewrite.prefix } : {}),
    ...(a.rewrite?.regex ? { regexRewrite: { pattern: { regex: a.rewrite.regex.pattern }, substitution: a.rewrite.regex.substitution } } : {}),
    ...(a.authority !== undefined ? { hostRewriteSpecifier: { case: "hostRewriteLiteral", value: a.authority } } : {}),
  };
}

const redirectCodes: Readonly<Record<number, RedirectAction_RedirectResponseCode>> = {
  301: RedirectAction_RedirectResponseCode.MOVED_PERMANENTLY,
  302: RedirectAction_RedirectResponseCode.FOUND,
  303: RedirectAction_RedirectResponseCode.SEE_OTHER,
  307: RedirectAction_RedirectResponseCode.TEMPORARY_REDIRECT,
  308: RedirectAction_RedirectResponseCode.PERMANENT_REDIRECT,
};

function redirectAction(r: RedirectAction): Init<typeof RedirectActionSchema> {
  return {
    ...(r.scheme !== undefined ? { schemeRewriteSpecifier: { case: "schemeRedirect", value: r.scheme } } : {}),
    ...(r.authority !== undefined ? { hostRedirect: r.authority } : {}),
    ...(r.port !== undefined ? { portRedirect: r.port } : {}),
    ...(r.path !== undefined ? { pathRewriteSpecifier: { case: "pathRedirect", value: r.path } } : r.prefix !== undefined ? { pathRewriteSpecifier: { case: "prefixRewrite", value: r.prefix } } : {}),
    responseCode: redirectCodes[r.code ?? 301] ?? RedirectAction_RedirectResponseCode.MOVED_PERMANENTLY,
  };
}

function headerOptions(values: readonly HeaderValue[]): HeaderOptionInit[] {
  // APPEND_IF_EXISTS_OR_ADD is the enum's zero value: set only when overwriting, as istiod's output reads.
  return values.map((h) => ({ header: { key: h.key, value: h.value }, ...(h.append ? {} : { appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD }) }));
}

function headerOperations(h: HeaderOperations | undefined): Pick<RouteInit, "requestHeadersToAdd" | "requestHeadersToRemove" | "responseHeadersToAdd" | "responseHeadersToRemove"> {
  if (h === undefined) return {};
  return {
    ...(h.requestAdd?.length ? { requestHeadersToAdd: headerOptions(h.requestAdd) } : {}),
    ...(h.requestRemove?.length ? { requestHeadersToRemove: [...h.requestRemove] } : {}),
    ...(h.responseAdd?.length ? { responseHeadersToAdd: headerOptions(h.responseAdd) } : {}),
    ...(h.responseRemove?.length ? { responseHeadersToRemove: [...h.responseRemove] } : {}),
  };
}

function faultConfig(f: FaultInjection): ReturnType<typeof typedConfig> {
  return typedConfig(HTTPFaultSchema, {
    ...(f.delay ? { delay: { faultDelaySecifier: { case: "fixedDelay", value: durationFromSeconds(f.delay.fixedDelaySeconds) }, percentage: fraction(f.delay.percentage) } } : {}),
    ...(f.abort
      ? {
          abort: {
            errorType: f.abort.grpcStatus !== undefined ? { case: "grpcStatus", value: f.abort.grpcStatus } : { case: "httpStatus", value: f.abort.httpStatus ?? 500 },
            ...(f.abort.percentage ? { percentage: fraction(f.abort.percentage) } : {}),
          },
        }
      : {}),
  });
}

/** Istio's CORS policy: enabled at 100%, unmatched preflights forwarded (Envoy's behaviour before 1.30). */
function corsConfig(c: CorsPolicy): ReturnType<typeof typedConfig> {
  return typedConfig(CorsPolicySchema, {
    allowOriginStringMatch: c.allowOrigins.map(stringMatcher),
    allowMethods: c.allowMethods.join(","),
    allowHeaders: c.allowHeaders.join(","),
    exposeHeaders: c.exposeHeaders.join(","),
    ...(c.maxAgeSeconds !== undefined ? { maxAge: String(c.maxAgeSeconds) } : {}),
    ...(c.allowCredentials !== undefined ? { allowCredentials: c.allowCredentials } : {}),
    filterEnabled: { defaultValue: { numerator: 100, denominator: FractionalPercent_DenominatorType.HUNDRED } },
    forwardNotMatchingPreflights: c.forwardNotMatchingPreflights,
  });
}

function directResponseBody(a: DirectResponseAction): Pick<Init<typeof DirectResponseActionSchema>, "body"> {
  if (a.body !== undefined) return { body: { specifier: { case: "inlineString", value: a.body } } };
  if (a.bodyBase64 !== undefined) return { body: { specifier: { case: "inlineBytes", value: Buffer.from(a.bodyBase64, "base64") } } };
  return {};
}

export function envoyRoute(r: HttpRoute): RouteInit {
  const perFilter: Record<string, ReturnType<typeof typedConfig>> = {};
  if (r.fault) perFilter["envoy.filters.http.fault"] = faultConfig(r.fault);
  if (r.cors) perFilter["envoy.filters.http.cors"] = corsConfig(r.cors);
  const action = ((): RouteInit["action"] => {
    switch (r.action.kind) {
      case "forward":
        return { case: "route", value: forwardAction(r.action) };
      case "redirect":
        return { case: "redirect", value: redirectAction(r.action) };
      case "directResponse":
        return { case: "directResponse", value: { status: r.action.status, ...directResponseBody(r.action) } };
    }
  })();
  return {
    ...(r.name !== undefined ? { name: r.name } : {}),
    ...(r.statPrefix !== undefined ? { statPrefix: r.statPrefix } : {}),
    match: routeMatch(r.match),
    action,
    ...headerOperations(r.headers),
    ...(Object.keys(perFilter).length ? { typedPerFilterConfig: perFilter } : {}),
    ...(r.origin !== undefined ? { metadata: { filterMetadata: { istio: { config: r.origin } } } } : {}),
  };
}

function virtualHost(v: VirtualHost): VirtualHostInit {
  return { name: v.name, domains: [...v.domains], routes: v.routes.map(envoyRoute), includeRequestAttemptCount: true };
}

/** One RouteConfiguration. Sidecar tables may carry direct responses of up to 1 MiB, as istiod allows. */
export function routeConfiguration(t: RouteTable): ReturnType<typeof built> {
  const sidecar = t.sidecar ? { validateClusters: false, ignorePortInHostMatching: true, maxDirectResponseBodySizeBytes: 1048576 } : {};
  return built(RouteConfigurationSchema, { name: t.name, virtualHosts: t.virtualHosts.map(virtualHost), ...sidecar });
}

/** Route tables of the IR as planned RDS resources, built (and encoded) once per key. */
export function plannedRouteTables(tables: readonly Keyed<RouteTable>[]): PlannedResource[] {
  return tables.map((t) => ({ typeUrl: TypeUrl.RouteConfiguration, name: t.name, key: t.key, build: () => routeConfiguration(t.ir()) }));
}
