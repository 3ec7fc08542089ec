// CUSTOM policies: per extension provider, an RBAC filter whose shadow rules record which CUSTOM
// policy matched, then that provider's ext_authz filter, enabled only by such a match. Anything
// wrong with the provider turns its policies into enforced DENY rules (fail closed), as istiod does.
import { create } from "@bufbuild/protobuf";
import { type RBAC, RBACSchema, RBAC_Action } from "../gen/envoy/config/rbac/v3/rbac_pb.js";
import type { AuthorizationPolicy } from "./policy.js";
import { type BuildContext, isDryRun, policyName, rbacPoliciesOf } from "./rbac-builder.js";
import { type BuiltExtAuthz, EXT_AUTHZ_MATCH_PREFIX, EXT_AUTHZ_SHADOW_STAT_PREFIX } from "./ext-authz.js";
import type { Chain } from "./chains.js";

const BAD_CUSTOM_ACTION_SUFFIX = "-deny-due-to-bad-CUSTOM-action";

export interface CustomBuildOptions {
  readonly providers: ReadonlyMap<string, BuiltExtAuthz>;
  /** istiod's PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS (off by default). */
  readonly multipleProviders: boolean;
}

export interface CustomProblem {
  readonly policy: AuthorizationPolicy;
  readonly message: string;
}

interface ProviderRules {
  readonly enforced: RBAC;
  readonly dryRun: RBAC;
  readonly policies: AuthorizationPolicy[];
}

function badCustomDenyRules(rules: RBAC): RBAC {
  const deny = create(RBACSchema, { action: RBAC_Action.DENY });
  for (const [name, p] of Object.entries(rules.policies)) deny.policies[name + BAD_CUSTOM_ACTION_SUFFIX] = p;
  return deny;
}

export function buildCustomFilters<F>(
  policies: readonly AuthorizationPolicy[], chain: Chain<F>, ctx: BuildContext, opts: CustomBuildOptions, problems: CustomProblem[],
): F[] {
  const byProvider = new Map<string, ProviderRules>();
  for (const policy of policies) {
    const provider = policy.spec.provider?.name ?? "";
    let entry = byProvider.get(provider);
    if (entry === undefined) {
      entry = { enforced: create(RBACSchema, { action: RBAC_Action.DENY }), dryRun: create(RBACSchema, { action: RBAC_Action.DENY }), policies: [] };
      byProvider.set(provider, entry);
    }
    entry.policies.push(policy);
    const target = isDryRun(policy) ? entry.dryRun : entry.enforced;
    // The name carries the provider so ext_authz can tell whose policy matched.
    const prefix = provider === "" ? `${EXT_AUTHZ_MATCH_PREFIX}-` : `${EXT_AUTHZ_MATCH_PREFIX}-${provider}-`;
    for (const [name, p] of rbacPoliciesOf(policy, "DENY", ctx, (i) => policyName(policy, i, prefix))) target.policies[name] = p;
  }
  const providers = [...byProvider.keys()].sort();
  const filters: F[] = [];
  const denyAll = (provider: string, message: string): void => {
    const entry = byProvider.get(provider);
    if (entry === undefined) return;
    for (const policy of entry.policies) problems.push({ policy, message });
    filters.push(chain.rbacFilter({ rules: badCustomDenyRules(entry.enforced) }));
  };
  if (providers.length > 1 && !opts.multipleProviders) {
    const message = `multiple CUSTOM authorization providers per workload requires PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS, found ${providers.length} providers: ${providers.join(", ")}; denying the requests these policies match`;
    for (const provider of providers) denyAll(provider, message);
    return filters;
  }
  for (const provider of providers) {
    const entry = byProvider.get(provider);
    if (entry === undefined) continue;
    const built = opts.providers.get(provider);
    if (built === undefined || !built.ok) {
      const why = built === undefined ? `available providers are [${[...opts.providers.keys()].join(", ")}] but found "${provider}"` : built.error;
      denyAll(provider, `failed to process CUSTOM action for provider ${provider}, denying the requests its policies match: ${why}`);
      continue;
    }
    const extAuthz = chain.extAuthzFilter(built, provider);
    // An HTTP-only provider has nothing to say about TCP traffic.
    if (extAuthz === undefined) continue;
    // Enforced policies go to the shadow rules: RBAC only records the match, ext_authz decides.
    const rbac = chain.rbacFilter({
      shadowRules: entry.enforced,
      shadowRulesStatPrefix: EXT_AUTHZ_SHADOW_STAT_PREFIX,
      ...(Object.keys(entry.dryRun.policies).length > 0 ? { rules: entry.dryRun } : {}),
    });
    filters.push(rbac, extAuthz);
  }
  return filters;
}
