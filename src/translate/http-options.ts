// What istiod's buildHTTPConnectionManager sets on every Envoy sidecar HTTP connection manager
// besides routing: path normalisation from MeshConfig `pathNormalization` (so `/x/../admin`,
// `%2e`-encoded dots and, on request, `//admin` reach routing and RBAC as `/admin`), websocket
// upgrades, no stream idle timeout, the UUID request id, and on inbound the client certificate
// details (XFCC) the application sees. Proxyless gRPC never gets these (grpc-js-xds NACKs some,
// and grpcgen sets none).
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  HttpConnectionManager_ForwardClientCertDetails,
  HttpConnectionManager_PathWithEscapedSlashesAction,
  HttpFilterSchema,
  type HttpConnectionManager,
  type HttpConnectionManagerSchema,
  type HttpFilter,
} from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { UuidRequestIdConfigSchema } from "../gen/envoy/extensions/request_id/uuid/v3/uuid_pb.js";
import { FilterConfigSchema as GrpcStatsSchema } from "../gen/envoy/extensions/filters/http/grpc_stats/v3/config_pb.js";
import { CorsSchema } from "../gen/envoy/extensions/filters/http/cors/v3/cors_pb.js";
import { create } from "@bufbuild/protobuf";
import type { MeshConfig } from "../model/mesh-config.js";
import { faultFilter } from "./filters.js";
import { typedConfig } from "./common.js";

/** The object form of an HttpConnectionManager init (every field optional). */
export type HcmInit = Exclude<MessageInitShape<typeof HttpConnectionManagerSchema>, HttpConnectionManager>;

/** Which side of the sidecar the connection manager serves (istiod's ListenerClass). */
export type HcmDirection = "inbound" | "outbound";

/** Istio's `Server` header value on inbound responses (EnvoyServerName). */
export const EnvoyServerName = "istio-envoy";

/** normalize_path / merge_slashes / escaped slashes per MeshConfig pathNormalization, as istiod maps them. */
export function pathNormalizationOptions(mesh: MeshConfig): Pick<HcmInit, "normalizePath" | "mergeSlashes" | "pathWithEscapedSlashesAction"> {
  const keep = HttpConnectionManager_PathWithEscapedSlashesAction.KEEP_UNCHANGED;
  switch (mesh.pathNormalization ?? "DEFAULT") {
    case "NONE":
      return { normalizePath: false, pathWithEscapedSlashesAction: keep };
    case "DEFAULT":
    case "BASE":
      return { normalizePath: true, pathWithEscapedSlashesAction: keep };
    case "MERGE_SLASHES":
      return { normalizePath: true, mergeSlashes: true, pathWithEscapedSlashesAction: keep };
    case "DECODE_AND_MERGE_SLASHES":
      return { normalizePath: true, mergeSlashes: true, pathWithEscapedSlashesAction: HttpConnectionManager_PathWithEscapedSlashesAction.UNESCAPE_AND_FORWARD };
  }
}

/** The connection-manager settings istiod gives every sidecar HCM of `direction`. */
export function sidecarHcmOptions(mesh: MeshConfig, direction: HcmDirection, http2: boolean): HcmInit {
  const inbound: HcmInit =
    direction === "inbound"
      ? {
          // The application learns who called it from the verified peer certificate, never from the caller.
          forwardClientCertDetails: HttpConnectionManager_ForwardClientCertDetails.APPEND_FORWARD,
          setCurrentClientCertDetails: { subject: true, uri: true, dns: true },
          serverName: EnvoyServerName,
          ...(http2 ? { http2ProtocolOptions: {} } : {}),
        }
      : {};
  return {
    ...inbound,
    ...pathNormalizationOptions(mesh),
    useRemoteAddress: false,
    upgradeConfigs: [{ upgradeType: "websocket" }],
    // 0s turns Envoy's stream idle timeout off, as istiod does (long-lived gRPC streams).
    streamIdleTimeout: { seconds: 0n },
    // Answer `Expect: 100-continue` by passing it on, as istiod does (features.Enable100ContinueHeaders).
    proxy100Continue: true,
    requestIdExtension: { typedConfig: typedConfig(UuidRequestIdConfigSchema, { useRequestIdForTraceSampling: true }) },
  };
}

/**
 * The standard Envoy HTTP filters istiod puts between authorization and the router on sidecars:
 * grpc_stats (per-method gRPC counters), fault and cors (the filters VirtualService per-route
 * fault and CORS config need). Istio-proxy-only filters (istio.metadata_exchange, istio.alpn,
 * istio.stats) are not emitted: see test/oracle/differences.ts.
 */
export function sidecarHttpExtensionFilters(): HttpFilter[] {
  return [
    create(HttpFilterSchema, { name: "envoy.filters.http.grpc_stats", configType: { case: "typedConfig", value: typedConfig(GrpcStatsSchema, { emitFilterState: true, perMethodStatSpecifier: { case: "statsForAllMethods", value: { value: false } } }) } }),
    faultFilter(),
    create(HttpFilterSchema, { name: "envoy.filters.http.cors", configType: { case: "typedConfig", value: typedConfig(CorsSchema, {}) } }),
  ];
}
