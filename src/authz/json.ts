// proto3 JSON of authorization filters: a registry holding every message an authz filter's Any
// can carry, so typed_config renders with its `@type` and fields.
import { createRegistry, toJson, type JsonValue } from "@bufbuild/protobuf";
import { type HttpFilter, HttpFilterSchema, file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { type Filter, FilterSchema, file_envoy_config_listener_v3_listener_components } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import { file_envoy_extensions_filters_http_rbac_v3_rbac } from "../gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { file_envoy_extensions_filters_network_rbac_v3_rbac } from "../gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js";
import { file_envoy_extensions_filters_http_ext_authz_v3_ext_authz } from "../gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { file_envoy_extensions_filters_network_ext_authz_v3_ext_authz } from "../gen/envoy/extensions/filters/network/ext_authz/v3/ext_authz_pb.js";
import { file_envoy_extensions_path_match_uri_template_v3_uri_template_match } from "../gen/envoy/extensions/path/match/uri_template/v3/uri_template_match_pb.js";

export const authzTypeRegistry = createRegistry(
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_config_listener_v3_listener_components,
  file_envoy_extensions_filters_http_rbac_v3_rbac,
  file_envoy_extensions_filters_network_rbac_v3_rbac,
  file_envoy_extensions_filters_http_ext_authz_v3_ext_authz,
  file_envoy_extensions_filters_network_ext_authz_v3_ext_authz,
  file_envoy_extensions_path_match_uri_template_v3_uri_template_match,
);

export function httpFilterToJson(f: HttpFilter): JsonValue {
  return toJson(HttpFilterSchema, f, { registry: authzTypeRegistry });
}

export function networkFilterToJson(f: Filter): JsonValue {
  return toJson(FilterSchema, f, { registry: authzTypeRegistry });
}
