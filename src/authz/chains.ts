// The two Envoy filter chains authorization lands on: an HTTP connection manager's HttpFilters
// and a TCP listener's network Filters. Same RBAC, different wrappers, names and stat prefixes.
import { clone, create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { RBAC } from "../gen/envoy/config/rbac/v3/rbac_pb.js";
import { type HttpFilter, HttpFilterSchema } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { type Filter, FilterSchema } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import { RBACSchema as HttpRbacSchema } from "../gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { RBACSchema as NetworkRbacSchema } from "../gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js";
import { ExtAuthzSchema as HttpExtAuthzSchema } from "../gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { ExtAuthzSchema as NetworkExtAuthzSchema } from "../gen/envoy/extensions/filters/network/ext_authz/v3/ext_authz_pb.js";
import { type BuiltExtAuthz, filterEnabledMetadata } from "./ext-authz.js";

export const HTTP_RBAC_FILTER = "envoy.filters.http.rbac";
export const NETWORK_RBAC_FILTER = "envoy.filters.network.rbac";
export const HTTP_EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz";
export const NETWORK_EXT_AUTHZ_FILTER = "envoy.filters.network.ext_authz";
/** istiod's stat prefix for the network RBAC filter. */
export const TCP_STAT_PREFIX = "tcp.";

export interface RbacConfig {
  readonly rules?: RBAC;
  readonly shadowRules?: RBAC;
  /** Unset (empty) where istiod leaves it unset. */
  readonly shadowRulesStatPrefix?: string;
}

export interface Chain<F> {
  readonly forTcp: boolean;
  rbacFilter(config: RbacConfig, name?: string): F;
  /** The ext_authz filter of a provider, or undefined when the provider cannot check this chain. */
  extAuthzFilter(built: Extract<BuiltExtAuthz, { ok: true }>, provider: string): F | undefined;
}

export const httpChain: Chain<HttpFilter> = {
  forTcp: false,
  rbacFilter: (c, name = HTTP_RBAC_FILTER) =>
    create(HttpFilterSchema, { name, configType: { case: "typedConfig", value: anyPack(HttpRbacSchema, create(HttpRbacSchema, c)) } }),
  extAuthzFilter: (built, provider) => {
    const config = clone(HttpExtAuthzSchema, built.http);
    config.filterEnabledMetadata = filterEnabledMetadata(HTTP_RBAC_FILTER, provider);
    return create(HttpFilterSchema, { name: HTTP_EXT_AUTHZ_FILTER, configType: { case: "typedConfig", value: anyPack(HttpExtAuthzSchema, config) } });
  },
};

export const networkChain: Chain<Filter> = {
  forTcp: true,
  rbacFilter: (c, name = NETWORK_RBAC_FILTER) =>
    create(FilterSchema, { name, configType: { case: "typedConfig", value: anyPack(NetworkRbacSchema, create(NetworkRbacSchema, { ...c, statPrefix: TCP_STAT_PREFIX })) } }),
  extAuthzFilter: (built, provider) => {
    if (built.tcp === undefined) return undefined;
    const config = clone(NetworkExtAuthzSchema, built.tcp);
    config.filterEnabledMetadata = filterEnabledMetadata(NETWORK_RBAC_FILTER, provider);
    return create(FilterSchema, { name: NETWORK_EXT_AUTHZ_FILTER, configType: { case: "typedConfig", value: anyPack(NetworkExtAuthzSchema, config) } });
  },
};
