// MeshConfig extension providers (envoyExtAuthzHttp, envoyExtAuthzGrpc) as Envoy ext_authz
// filter configs, as istiod's builder/extauthz.go builds them. A provider that cannot be built
// carries its error; CUSTOM policies naming it then deny (see custom-builder.ts).
import { create } from "@bufbuild/protobuf";
import { DurationSchema, type Duration } from "@bufbuild/protobuf/wkt";
import {
  type ExtAuthz as HttpExtAuthz, ExtAuthzSchema as HttpExtAuthzSchema, HttpServiceSchema, AuthorizationRequestSchema,
  AuthorizationResponseSchema, BufferSettingsSchema,
} from "../gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { type ExtAuthz as NetworkExtAuthz, ExtAuthzSchema as NetworkExtAuthzSchema } from "../gen/envoy/extensions/filters/network/ext_authz/v3/ext_authz_pb.js";
import { GrpcServiceSchema, GrpcService_EnvoyGrpcSchema, type GrpcService } from "../gen/envoy/config/core/v3/grpc_service_pb.js";
import { HttpUriSchema } from "../gen/envoy/config/core/v3/http_uri_pb.js";
import { HeaderValueSchema } from "../gen/envoy/config/core/v3/base_pb.js";
import { ApiVersion } from "../gen/envoy/config/core/v3/config_source_pb.js";
import { HttpStatusSchema, StatusCodeSchema, type HttpStatus } from "../gen/envoy/type/v3/http_status_pb.js";
import { type ListStringMatcher, ListStringMatcherSchema } from "../gen/envoy/type/matcher/v3/string_pb.js";
import type { MetadataMatcher } from "../gen/envoy/type/matcher/v3/metadata_pb.js";
import type { ExtAuthzGrpcProvider, ExtAuthzHttpProvider, ExtensionProvider, ProtoDuration, RequestBodySettings } from "./mesh-config.js";
import { lookupCluster, type ServiceRegistry } from "./services.js";
import { metadataMatcher, stringExact, stringPrefix, stringSuffix, stringValue } from "./matchers.js";

export const EXT_AUTHZ_MATCH_PREFIX = "istio-ext-authz";
export const EXT_AUTHZ_SHADOW_STAT_PREFIX = "istio_ext_authz_";
const SHADOW_EFFECTIVE_POLICY_ID = "shadow_effective_policy_id";

/** A provider built for one workload's chains; `tcp` is absent for HTTP providers (no TCP check). */
export type BuiltExtAuthz =
  | { readonly ok: true; readonly http: HttpExtAuthz; readonly tcp?: NetworkExtAuthz }
  | { readonly ok: false; readonly error: string };

/** Builds every ext_authz provider of the mesh by name (other provider kinds are skipped). */
export function buildExtensionProviders(providers: readonly ExtensionProvider[], services: ServiceRegistry): Map<string, BuiltExtAuthz> {
  const built = new Map<string, BuiltExtAuthz>();
  providers.forEach((p, i) => {
    const errors: string[] = [];
    if (p.name === "") errors.push(`extension provider name must not be empty, found empty at index: ${i}`);
    else if (built.has(p.name)) errors.push(`extension provider name must be unique, found duplicate: ${p.name}`);
    if (p.provider.kind === "other") return;
    errors.push(...p.problems.map((x) => `${x.path}: ${x.message}`));
    const result = errors.length === 0 ? buildProvider(p.provider, services) : undefined;
    if (result !== undefined && !result.ok) errors.push(result.error);
    built.set(p.name, errors.length > 0 || result === undefined ? { ok: false, error: `failed to parse extension provider "${p.name}": ${errors.join("; ")}` } : result);
  });
  return built;
}

function buildProvider(p: ExtAuthzGrpcProvider | ExtAuthzHttpProvider, services: ServiceRegistry): BuiltExtAuthz {
  const errors: string[] = [];
  if (p.port < 1 || p.port > 65535) errors.push(`port must be in the range [1, 65535], found: ${p.port}`);
  const target = lookupCluster(services, p.service, p.port);
  if ("error" in target) errors.push(target.error);
  const status = statusOnError(p.statusOnError);
  if (typeof status === "string") errors.push(status);
  if (p.kind === "envoyExtAuthzHttp") {
    if (p.pathPrefix !== "" && !p.pathPrefix.startsWith("/")) errors.push(`pathPrefix must begin with \`/\`, found: "${p.pathPrefix}"`);
    const lists = {
      IncludeRequestHeadersInCheck: p.includeRequestHeadersInCheck, IncludeHeadersInCheck: p.includeHeadersInCheck,
      HeadersToDownstreamOnDeny: p.headersToDownstreamOnDeny, HeadersToDownstreamOnAllow: p.headersToDownstreamOnAllow,
      HeadersToUpstreamOnAllow: p.headersToUpstreamOnAllow,
    };
    for (const [field, values] of Object.entries(lists)) {
      if (values.includes("*")) errors.push(`a single wildcard ("*") is not supported, change it to either prefix or suffix match: ${field}`);
    }
  }
  if (errors.length > 0 || "error" in target || typeof status === "string") return { ok: false, error: errors.join("; ") };
  return p.kind === "envoyExtAuthzHttp" ? httpProviderConfig(p, target.hostname, target.cluster, status) : grpcProviderConfig(p, target.hostname, target.cluster, status);
}

function statusOnError(s: string): HttpStatus | undefined | string {
  if (s === "") return undefined;
  const code = /^-?\d+$/.test(s) ? Number(s) : NaN;
  if (Number.isNaN(code)) return `invalid statusOnError "${s}": not a number`;
  if (!StatusCodeSchema.values.some((v) => v.number === code)) {
    return `unsupported statusOnError ${s}, supported values: ${StatusCodeSchema.values.map((v) => v.number).join(", ")}`;
  }
  return create(HttpStatusSchema, { code });
}

function duration(d: ProtoDuration | undefined): Duration {
  // istiod's default when the provider sets no timeout.
  return create(DurationSchema, d ?? { seconds: 600n, nanos: 0 });
}

/** Header patterns: `*suffix`, `prefix*` or exact, always case-insensitive. */
function headerPatterns(headers: readonly string[]): ListStringMatcher | undefined {
  if (headers.length === 0) return undefined;
  return create(ListStringMatcherSchema, {
    patterns: headers.map((h) => (h.startsWith("*") ? stringSuffix(h.slice(1), true) : h.endsWith("*") ? stringPrefix(h.slice(0, -1), true) : stringExact(h, true))),
  });
}

function withRequestBody(b: RequestBodySettings | undefined): HttpExtAuthz["withRequestBody"] {
  return b === undefined ? undefined : create(BufferSettingsSchema, b);
}

function httpProviderConfig(p: ExtAuthzHttpProvider, hostname: string, cluster: string, status: HttpStatus | undefined): BuiltExtAuthz {
  // includeHeadersInCheck is the deprecated spelling, used only without includeRequestHeadersInCheck.
  const allowedHeaders = headerPatterns(p.includeRequestHeadersInCheck) ?? headerPatterns(p.includeHeadersInCheck);
  const headersToAdd = Object.keys(p.includeAdditionalHeadersInCheck).sort().map((key) => create(HeaderValueSchema, { key, value: p.includeAdditionalHeadersInCheck[key] ?? "" }));
  const respond = p.headersToUpstreamOnAllow.length + p.headersToDownstreamOnDeny.length + p.headersToDownstreamOnAllow.length > 0;
  const service = create(HttpServiceSchema, {
    pathPrefix: p.pathPrefix,
    // The uri is required by Envoy but unused; the cluster decides where checks go.
    serverUri: create(HttpUriSchema, { uri: `http://${hostname}`, httpUpstreamType: { case: "cluster", value: cluster }, timeout: duration(p.timeout) }),
    ...(headersToAdd.length > 0 ? { authorizationRequest: create(AuthorizationRequestSchema, { headersToAdd }) } : {}),
    ...(respond
      ? {
          authorizationResponse: create(AuthorizationResponseSchema, {
            allowedUpstreamHeaders: headerPatterns(p.headersToUpstreamOnAllow),
            allowedClientHeaders: headerPatterns(p.headersToDownstreamOnDeny),
            allowedClientHeadersOnSuccess: headerPatterns(p.headersToDownstreamOnAllow),
          }),
        }
      : {}),
  });
  const http = create(HttpExtAuthzSchema, {
    statusOnError: status,
    failureModeAllow: p.failOpen,
    clearRouteCache: p.clearRouteCache,
    transportApiVersion: ApiVersion.V3,
    services: { case: "httpService", value: service },
    withRequestBody: withRequestBody(p.includeRequestBodyInCheck),
    allowedHeaders,
  });
  return { ok: true, http };
}

function grpcProviderConfig(p: ExtAuthzGrpcProvider, hostname: string, cluster: string, status: HttpStatus | undefined): BuiltExtAuthz {
  const grpc = (): GrpcService =>
    create(GrpcServiceSchema, {
      targetSpecifier: { case: "envoyGrpc", value: create(GrpcService_EnvoyGrpcSchema, { clusterName: cluster, authority: hostname }) },
      timeout: duration(p.timeout),
    });
  const http = create(HttpExtAuthzSchema, {
    statusOnError: status,
    failureModeAllow: p.failOpen,
    clearRouteCache: p.clearRouteCache,
    services: { case: "grpcService", value: grpc() },
    transportApiVersion: ApiVersion.V3,
    withRequestBody: withRequestBody(p.includeRequestBodyInCheck),
  });
  const tcp = create(NetworkExtAuthzSchema, { statPrefix: "tcp.", failureModeAllow: p.failOpen, transportApiVersion: ApiVersion.V3, grpcService: grpc() });
  return { ok: true, http, tcp };
}

/** ext_authz runs only where the RBAC shadow rules matched a policy of this provider. */
export function filterEnabledMetadata(rbacFilterName: string, provider: string): MetadataMatcher {
  return metadataMatcher(rbacFilterName, [EXT_AUTHZ_SHADOW_STAT_PREFIX + SHADOW_EFFECTIVE_POLICY_ID], stringValue(stringPrefix(`${EXT_AUTHZ_MATCH_PREFIX}-${provider}`)));
}
