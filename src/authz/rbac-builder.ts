// AuthorizationPolicies of one action → Envoy RBAC rules and shadow (dry-run) rules, with
// istiod's policy names `ns[<ns>]-policy[<name>]-rule[<i>]` and its empty-vs-missing rules.
import { create } from "@bufbuild/protobuf";
import { type Policy, PolicySchema, type RBAC, RBACSchema, RBAC_Action } from "../gen/envoy/config/rbac/v3/rbac_pb.js";
import type { AuthorizationPolicy } from "./policy.js";
import { DRY_RUN_ANNOTATION } from "./policy.js";
import { parseGoBool } from "./validate.js";
import { buildRuleModel, generatePolicy, migrateTrustDomain, type RbacActionName } from "./rule-model.js";
import { GenerationError } from "./generators.js";
import type { TrustDomainBundle } from "./trust-domain.js";
import { permissionAny, permissionNot, principalAny, principalNot } from "./rbac-terms.js";

export const DRY_RUN_ALLOW_STAT_PREFIX = "istio_dry_run_allow_";
export const DRY_RUN_DENY_STAT_PREFIX = "istio_dry_run_deny_";

/** A problem found while translating one policy (validated input rarely has any). */
export interface TranslationProblem {
  readonly policy: AuthorizationPolicy;
  readonly path: string;
  readonly message: string;
}

export interface BuildContext {
  readonly forTcp: boolean;
  readonly bundle: TrustDomainBundle;
  readonly problems: TranslationProblem[];
}

export const RBAC_ACTION: Readonly<Record<RbacActionName, RBAC_Action>> = { ALLOW: RBAC_Action.ALLOW, DENY: RBAC_Action.DENY, LOG: RBAC_Action.LOG };

export function policyName(policy: Pick<AuthorizationPolicy, "namespace" | "name">, rule: number, prefix = ""): string {
  return `${prefix}ns[${policy.namespace}]-policy[${policy.name}]-rule[${rule}]`;
}

export function isDryRun(policy: AuthorizationPolicy): boolean {
  const v = policy.annotations[DRY_RUN_ANNOTATION];
  return v !== undefined && parseGoBool(v) === true;
}

/** A policy without rules: matches nothing, so an ALLOW of it allows nothing. */
export function matchNeverPolicy(): Policy {
  return create(PolicySchema, { permissions: [permissionNot(permissionAny())], principals: [principalNot(principalAny())] });
}

/** Per rule: its RBAC policy, or why it has none on this chain (undefined: left out by design). */
type RuleOutcome = Policy | { readonly problem: string } | undefined;

/**
 * Rule outcomes depend only on the policy, the action, the chain and the trust domains, not on
 * the workload: they are computed once per policy object and shared by every proxy it selects.
 */
const outcomes = new WeakMap<AuthorizationPolicy, Map<string, RuleOutcome[]>>();

function ruleOutcomes(policy: AuthorizationPolicy, action: RbacActionName, ctx: BuildContext): RuleOutcome[] {
  const key = `${action}|${ctx.forTcp}|${ctx.bundle.trustDomains.join(",")}`;
  let byKey = outcomes.get(policy);
  const cached = byKey?.get(key);
  if (cached !== undefined) return cached;
  const out = (policy.spec.rules ?? []).map((rule): RuleOutcome => {
    if (rule === null) return { problem: "skipped nil rule" };
    const model = buildRuleModel(rule, policy.namespace);
    if (model instanceof GenerationError) return { problem: `skipped invalid rule: ${model.message}` };
    const generated = generatePolicy(migrateTrustDomain(model, ctx.bundle), ctx.forTcp, action);
    // An ALLOW rule using HTTP-only fields does not exist on a TCP chain; that is by design, not a problem.
    return generated instanceof GenerationError ? undefined : create(PolicySchema, generated);
  });
  if (byKey === undefined) outcomes.set(policy, (byKey = new Map()));
  byKey.set(key, out);
  return out;
}

/** The named RBAC policies one AuthorizationPolicy contributes to a filter of `action`. */
export function rbacPoliciesOf(
  policy: AuthorizationPolicy, action: RbacActionName, ctx: BuildContext, nameOf: (rule: number) => string = (i) => policyName(policy, i),
): Map<string, Policy> {
  const out = new Map<string, Policy>();
  const rules = ruleOutcomes(policy, action, ctx);
  rules.forEach((r, i) => {
    if (r === undefined) return;
    if ("problem" in r) ctx.problems.push({ policy, path: `spec.rules[${i}]`, message: `${r.problem} (${nameOf(i)})` });
    else out.set(nameOf(i), r);
  });
  if (rules.length === 0) out.set(nameOf(0), matchNeverPolicy());
  return out;
}

export interface BuiltRbac {
  /** Enforced rules; absent when every policy is a dry run. */
  readonly rules?: RBAC;
  /** Dry-run rules; absent when no policy is a dry run. */
  readonly shadowRules?: RBAC;
}

/** RBAC for the policies of one action, split by the `istio.io/dry-run` annotation; undefined when there are none. */
export function buildRbac(policies: readonly AuthorizationPolicy[], action: RbacActionName, ctx: BuildContext): BuiltRbac | undefined {
  if (policies.length === 0) return undefined;
  const enforced = create(RBACSchema, { action: RBAC_ACTION[action] });
  const shadow = create(RBACSchema, { action: RBAC_ACTION[action] });
  let hasEnforced = false;
  let hasShadow = false;
  for (const policy of policies) {
    const dryRun = isDryRun(policy);
    const target = dryRun ? shadow : enforced;
    if (dryRun) hasShadow = true;
    else hasEnforced = true;
    for (const [name, p] of rbacPoliciesOf(policy, action, ctx)) target.policies[name] = p;
  }
  return { ...(hasEnforced ? { rules: enforced } : {}), ...(hasShadow ? { shadowRules: shadow } : {}) };
}

/**
 * Envoy's stat prefix for shadow rules. istiod always sets it, and with no shadow rules it reads
 * the action of an absent RBAC, which is ALLOW: hence the allow prefix even on DENY filters.
 */
export function shadowRulesStatPrefix(shadow: RBAC | undefined): string {
  const action = shadow?.action ?? RBAC_Action.ALLOW;
  return action === RBAC_Action.ALLOW ? DRY_RUN_ALLOW_STAT_PREFIX : action === RBAC_Action.DENY ? DRY_RUN_DENY_STAT_PREFIX : "";
}
