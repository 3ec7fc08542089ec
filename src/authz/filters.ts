// The authorization filters one workload receives, the entry point for the mesh translators and
// `meshward x authz`. Envoy chains get, in order: CUSTOM (RBAC shadow + ext_authz per provider),
// then AUDIT, DENY and ALLOW RBAC filters. Proxyless gRPC gets a DENY then an ALLOW RBAC filter.
import { create } from "@bufbuild/protobuf";
import type { HttpFilter } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { Filter } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import { RBACSchema } from "../gen/envoy/config/rbac/v3/rbac_pb.js";
import type { ConfigError } from "../model/config.js";
import type { AuthorizationPolicy } from "./policy.js";
import type { AuthzMeshConfig } from "./mesh-config.js";
import { selectPolicies, type Workload } from "./select.js";
import { TrustDomainBundle } from "./trust-domain.js";
import { type BuiltExtAuthz, buildExtensionProviders } from "./ext-authz.js";
import { EMPTY_SERVICE_REGISTRY, type ServiceRegistry } from "./services.js";
import { type BuildContext, RBAC_ACTION, buildRbac, isDryRun, rbacPoliciesOf, shadowRulesStatPrefix } from "./rbac-builder.js";
import { type CustomProblem, buildCustomFilters } from "./custom-builder.js";
import { type Chain, HTTP_RBAC_FILTER, httpChain, networkChain } from "./chains.js";

export interface AuthzInput {
  readonly workload: Workload;
  /** Validated policies of the mesh (see admitAuthorizationPolicies); selection happens here. */
  readonly policies: readonly AuthorizationPolicy[];
  readonly mesh: AuthzMeshConfig;
  /** Resolves extension providers' services; only CUSTOM policies need it. */
  readonly services?: ServiceRegistry;
  /** Providers already built (a translator builds them once per mesh config, not per proxy). */
  readonly extensionProviders?: ReadonlyMap<string, BuiltExtAuthz>;
  /** istiod's PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS. */
  readonly multipleCustomProviders?: boolean;
}

export interface AuthzFilters<F> {
  /** Every authorization filter in emission order: `custom` then `rbac`. */
  readonly filters: F[];
  /** CUSTOM pairs (RBAC shadow + ext_authz); istiod puts them before authentication filters. */
  readonly custom: F[];
  /** AUDIT, DENY and ALLOW RBAC filters; istiod puts them after authentication filters. */
  readonly rbac: F[];
  /** Problems met while translating (bad providers, skipped rules); the filters already fail closed. */
  readonly problems: ConfigError[];
}

export const GRPC_RBAC_DENY_FILTER = "envoy.filters.http.rbac.DENY";

function policyError(policy: AuthorizationPolicy, path: string, message: string, severity: ConfigError["severity"] = "error"): ConfigError {
  return { file: policy.origin.file, object: `AuthorizationPolicy ${policy.namespace}/${policy.name}`, path, message, severity };
}

function envoyFilters<F>(input: AuthzInput, chain: Chain<F>): AuthzFilters<F> {
  const selected = selectPolicies(input.policies, input.workload, input.mesh.rootNamespace);
  const ctx: BuildContext = { forTcp: chain.forTcp, bundle: new TrustDomainBundle(input.mesh.trustDomain, input.mesh.trustDomainAliases), problems: [] };
  const custom: F[] = [];
  const rbac: F[] = [];
  const customProblems: CustomProblem[] = [];
  if (selected.custom.length > 0) {
    const providers = input.extensionProviders ?? buildExtensionProviders(input.mesh.extensionProviders, input.services ?? EMPTY_SERVICE_REGISTRY);
    const opts = { providers, multipleProviders: input.multipleCustomProviders ?? false };
    custom.push(...buildCustomFilters(selected.custom, chain, ctx, opts, customProblems));
  }
  for (const [policies, action] of [[selected.audit, "LOG"], [selected.deny, "DENY"], [selected.allow, "ALLOW"]] as const) {
    const built = buildRbac(policies, action, ctx);
    if (built === undefined) continue;
    rbac.push(chain.rbacFilter({ ...built, shadowRulesStatPrefix: shadowRulesStatPrefix(built.shadowRules) }));
  }
  const problems = [
    ...customProblems.map((p) => policyError(p.policy, "spec.provider.name", p.message)),
    ...ctx.problems.map((p) => policyError(p.policy, p.path, p.message)),
  ];
  return { filters: [...custom, ...rbac], custom, rbac, problems };
}

/** The authorization HttpFilters of an inbound HTTP filter chain of an Envoy sidecar. */
export function authzHttpFilters(input: AuthzInput): AuthzFilters<HttpFilter> {
  return envoyFilters(input, httpChain);
}

/** The authorization network Filters of an inbound TCP filter chain of an Envoy sidecar. */
export function authzNetworkFilters(input: AuthzInput): AuthzFilters<Filter> {
  return envoyFilters(input, networkChain);
}

/**
 * Proxyless gRPC servers (Istio's grpcgen): only DENY and ALLOW, as two filters, rules named
 * `<ns>-<name>-<i>`. gRPC has no shadow rules, audit or ext_authz, so dry-run, AUDIT and CUSTOM
 * policies are left out (reported). Unlike grpcgen, an ALLOW policy without rules still yields an
 * ALLOW filter that matches nothing, keeping its Envoy meaning (allow nothing) instead of allowing all.
 */
export function authzGrpcFilters(input: AuthzInput): AuthzFilters<HttpFilter> {
  const selected = selectPolicies(input.policies, input.workload, input.mesh.rootNamespace);
  const ctx: BuildContext = { forTcp: false, bundle: new TrustDomainBundle(input.mesh.trustDomain, input.mesh.trustDomainAliases), problems: [] };
  const problems: ConfigError[] = [];
  for (const p of [...selected.audit, ...selected.custom]) {
    problems.push(policyError(p, "spec.action", `${p.spec.action} is not supported by proxyless gRPC servers; ignored for this workload`, "warning"));
  }
  const filters: HttpFilter[] = [];
  for (const [policies, action, name] of [[selected.deny, "DENY", GRPC_RBAC_DENY_FILTER], [selected.allow, "ALLOW", HTTP_RBAC_FILTER]] as const) {
    const enforced = policies.filter((p) => {
      if (!isDryRun(p)) return true;
      problems.push(policyError(p, "metadata.annotations", "dry-run is not supported by proxyless gRPC servers; the policy is not applied to this workload", "warning"));
      return false;
    });
    if (enforced.length === 0) continue;
    const rules = create(RBACSchema, { action: RBAC_ACTION[action] });
    for (const policy of enforced) {
      for (const [name, rule] of rbacPoliciesOf(policy, action, ctx, (i) => `${policy.namespace}-${policy.name}-${i}`)) rules.policies[name] = rule;
    }
    filters.push(httpChain.rbacFilter({ rules }, name));
  }
  problems.push(...ctx.problems.map((p) => policyError(p.policy, p.path, p.message)));
  return { filters, custom: [], rbac: filters, problems };
}
