// Envoy RBAC permissions and principals: the constructors the field generators and the rule
// model compose (and/or/not, any, and one leaf per Envoy matcher kind).
import { create } from "@bufbuild/protobuf";
import {
  type Permission, type Principal, PermissionSchema, PrincipalSchema, Permission_SetSchema, Principal_SetSchema,
  Principal_AuthenticatedSchema,
} from "../gen/envoy/config/rbac/v3/rbac_pb.js";
import type { StringMatcher } from "../gen/envoy/type/matcher/v3/string_pb.js";
import type { MetadataMatcher } from "../gen/envoy/type/matcher/v3/metadata_pb.js";
import type { PathMatcher } from "../gen/envoy/type/matcher/v3/path_pb.js";
import type { HeaderMatcher } from "../gen/envoy/config/route/v3/route_components_pb.js";
import type { TypedExtensionConfig } from "../gen/envoy/config/core/v3/extension_pb.js";
import type { CidrRange } from "../gen/envoy/config/core/v3/address_pb.js";

const permission = (rule: Permission["rule"]): Permission => create(PermissionSchema, { rule });
const principal = (identifier: Principal["identifier"]): Principal => create(PrincipalSchema, { identifier });

export const permissionAny = (): Permission => permission({ case: "any", value: true });
export const permissionAnd = (rules: Permission[]): Permission => permission({ case: "andRules", value: create(Permission_SetSchema, { rules }) });
export const permissionOr = (rules: Permission[]): Permission => permission({ case: "orRules", value: create(Permission_SetSchema, { rules }) });
export const permissionNot = (p: Permission): Permission => permission({ case: "notRule", value: p });
export const permissionHeader = (h: HeaderMatcher): Permission => permission({ case: "header", value: h });
export const permissionPath = (p: PathMatcher): Permission => permission({ case: "urlPath", value: p });
export const permissionPathTemplate = (t: TypedExtensionConfig): Permission => permission({ case: "uriTemplate", value: t });
export const permissionDestinationIp = (c: CidrRange): Permission => permission({ case: "destinationIp", value: c });
export const permissionDestinationPort = (port: number): Permission => permission({ case: "destinationPort", value: port });
export const permissionRequestedServerName = (m: StringMatcher): Permission => permission({ case: "requestedServerName", value: m });
export const permissionMetadata = (m: MetadataMatcher): Permission => permission({ case: "metadata", value: m });

export const principalAny = (): Principal => principal({ case: "any", value: true });
export const principalAnd = (ids: Principal[]): Principal => principal({ case: "andIds", value: create(Principal_SetSchema, { ids }) });
export const principalOr = (ids: Principal[]): Principal => principal({ case: "orIds", value: create(Principal_SetSchema, { ids }) });
export const principalNot = (p: Principal): Principal => principal({ case: "notId", value: p });
export const principalAuthenticated = (m: StringMatcher): Principal =>
  principal({ case: "authenticated", value: create(Principal_AuthenticatedSchema, { principalName: m }) });
export const principalDirectRemoteIp = (c: CidrRange): Principal => principal({ case: "directRemoteIp", value: c });
export const principalRemoteIp = (c: CidrRange): Principal => principal({ case: "remoteIp", value: c });
export const principalHeader = (h: HeaderMatcher): Principal => principal({ case: "header", value: h });
export const principalMetadata = (m: MetadataMatcher): Principal => principal({ case: "metadata", value: m });
