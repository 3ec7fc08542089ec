// One AuthorizationPolicy rule as Envoy RBAC: a Permission per `to` entry, a Principal per `from`
// entry (one each when absent), each an AND of field clauses; a field's values are OR'ed and its
// `not` values become not(or(...)); `when` conditions are appended to every Permission/Principal.
import type { Permission, Principal } from "../gen/envoy/config/rbac/v3/rbac_pb.js";
import type { Rule } from "./policy.js";
import { ATTR } from "./attributes.js";
import type { TrustDomainBundle } from "./trust-domain.js";
import * as g from "./generators.js";
import { GenerationError, type Generated, type Generator } from "./generators.js";
import {
  permissionAnd, permissionAny, permissionNot, permissionOr, principalAnd, principalAny, principalNot, principalOr,
} from "./rbac-terms.js";

export type RbacActionName = "ALLOW" | "DENY" | "LOG";

interface Clause<T> {
  readonly key: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
  readonly gen: Generator<T>;
}

export interface RuleModel {
  readonly permissions: readonly (readonly Clause<Permission>[])[];
  readonly principals: readonly (readonly Clause<Principal>[])[];
}

export interface GeneratedPolicy {
  readonly permissions: Permission[];
  readonly principals: Principal[];
}

function clause<T>(gen: Generator<T>, key: string, values: readonly string[] | undefined, notValues: readonly string[] | undefined): Clause<T>[] {
  return (values?.length ?? 0) + (notValues?.length ?? 0) === 0 ? [] : [{ key, values: values ?? [], notValues: notValues ?? [], gen }];
}

/** Builds the clause lists of a rule; an unknown `when` key is an error, as in istiod. */
export function buildRuleModel(rule: Rule, policyNamespace: string): RuleModel | GenerationError {
  const basePermission: Clause<Permission>[] = [];
  const basePrincipal: Clause<Principal>[] = [];
  for (const when of rule.when ?? []) {
    if (when === null) continue;
    const { key: k, values: v, notValues: nv } = when;
    if (k === ATTR.destinationIp) basePermission.push(...clause(g.destinationIpGenerator, k, v, nv));
    else if (k === ATTR.destinationPort) basePermission.push(...clause(g.destinationPortGenerator, k, v, nv));
    else if (k === ATTR.connectionSni) basePermission.push(...clause(g.connectionSniGenerator, k, v, nv));
    else if (k.startsWith(ATTR.envoyFilter)) basePermission.push(...clause(g.envoyFilterGenerator, k, v, nv));
    else if (k === ATTR.sourceIp) basePrincipal.push(...clause(g.sourceIpGenerator, k, v, nv));
    else if (k === ATTR.remoteIp) basePrincipal.push(...clause(g.remoteIpGenerator, k, v, nv));
    else if (k === ATTR.sourceNamespace) basePrincipal.push(...clause(g.sourceNamespaceGenerator, k, v, nv));
    else if (k === ATTR.sourceServiceAccount) basePrincipal.push(...clause(g.serviceAccountGenerator(policyNamespace), k, v, nv));
    else if (k === ATTR.sourceTrustDomain) basePrincipal.push(...clause(g.trustDomainGenerator, k, v, nv));
    else if (k === ATTR.sourcePrincipal) basePrincipal.push(...clause(g.sourcePrincipalGenerator, k, v, nv));
    else if (k === ATTR.requestPrincipal) basePrincipal.push(...clause(g.requestPrincipalGenerator, k, v, nv));
    else if (k === ATTR.requestAudiences) basePrincipal.push(...clause(g.requestAudiencesGenerator, k, v, nv));
    else if (k === ATTR.requestPresenter) basePrincipal.push(...clause(g.requestPresenterGenerator, k, v, nv));
    else if (k.startsWith(ATTR.requestHeader)) basePrincipal.push(...clause(g.requestHeaderGenerator, k, v, nv));
    else if (k.startsWith(ATTR.requestInlineHeader)) basePrincipal.push(...clause(g.requestInlineHeaderGenerator, k, v, nv));
    else if (k.startsWith(ATTR.requestClaims)) basePrincipal.push(...clause(g.requestClaimGenerator, k, v, nv));
    else return new GenerationError(`unknown attribute ${k}`);
  }

  const principals = (rule.from ?? []).map((from) => {
    const s = from?.source;
    if (s === null || s === undefined) return [...basePrincipal];
    return [
      ...clause(g.sourcePrincipalGenerator, ATTR.sourcePrincipal, s.principals, s.notPrincipals),
      ...clause(g.requestPrincipalGenerator, ATTR.requestPrincipal, s.requestPrincipals, s.notRequestPrincipals),
      ...clause(g.serviceAccountGenerator(policyNamespace), ATTR.sourceServiceAccount, s.serviceAccounts, s.notServiceAccounts),
      ...clause(g.trustDomainGenerator, ATTR.sourceTrustDomain, s.trustDomains, s.notTrustDomains),
      ...clause(g.sourceNamespaceGenerator, ATTR.sourceNamespace, s.namespaces, s.notNamespaces),
      ...clause(g.remoteIpGenerator, ATTR.remoteIp, s.remoteIpBlocks, s.notRemoteIpBlocks),
      ...clause(g.sourceIpGenerator, ATTR.sourceIp, s.ipBlocks, s.notIpBlocks),
      ...basePrincipal,
    ];
  });
  const permissions = (rule.to ?? []).map((to) => {
    const o = to?.operation;
    if (o === null || o === undefined) return [...basePermission];
    return [
      ...clause(g.hostGenerator, ":authority", o.hosts, o.notHosts),
      ...clause(g.methodGenerator, ":method", o.methods, o.notMethods),
      ...clause(g.pathGenerator, "path-matcher", o.paths, o.notPaths),
      ...clause(g.destinationPortGenerator, ATTR.destinationPort, o.ports, o.notPorts),
      ...basePermission,
    ];
  });
  return {
    permissions: permissions.length > 0 ? permissions : [basePermission],
    principals: principals.length > 0 ? principals : [basePrincipal],
  };
}

/** Applies trust-domain aliases to source principals and trust domains. */
export function migrateTrustDomain(model: RuleModel, bundle: TrustDomainBundle): RuleModel {
  const migrate = (c: Clause<Principal>): Clause<Principal> => {
    if (c.key === ATTR.sourcePrincipal) {
      return { ...c, values: bundle.replaceTrustDomainAliases(c.values), notValues: bundle.replaceTrustDomainAliases(c.notValues) };
    }
    if (c.key === ATTR.sourceTrustDomain) {
      return { ...c, values: bundle.expandTrustDomainAliases(c.values), notValues: bundle.expandTrustDomainAliases(c.notValues) };
    }
    return c;
  };
  return { permissions: model.permissions, principals: model.principals.map((list) => list.map(migrate)) };
}

/**
 * On an ALLOW filter a value that cannot be generated drops the whole rule (a narrower allow);
 * on DENY and LOG only that value is dropped (a broader deny), as istiod's checkError does.
 */
function terms<T>(c: Clause<T>, forTcp: boolean, action: RbacActionName, or: (xs: T[]) => T, not: (x: T) => T): Generated<T[]> {
  const out: T[] = [];
  for (const [values, negate] of [[c.values, false], [c.notValues, true]] as const) {
    if (values.length === 0) continue;
    const generated: T[] = [];
    const gen = c.gen;
    const results: Generated<T>[] = "all" in gen ? [gen.all(c.key, values, forTcp)] : values.map((v) => gen.each(c.key, v, forTcp));
    for (const r of results) {
      if (!(r instanceof GenerationError)) generated.push(r);
      else if (action === "ALLOW") return r;
    }
    if (generated.length === 0) continue;
    // An `all` generator already combined its values; `each` results are OR'ed here.
    const combined = "all" in gen && generated[0] !== undefined ? generated[0] : or(generated);
    out.push(negate ? not(combined) : combined);
  }
  return out;
}

function generateAnd<T>(
  clauses: readonly Clause<T>[], forTcp: boolean, action: RbacActionName,
  ops: { and: (xs: T[]) => T; or: (xs: T[]) => T; not: (x: T) => T; any: () => T },
): Generated<T> {
  const and: T[] = [];
  for (const c of clauses) {
    const r = terms(c, forTcp, action, ops.or, ops.not);
    if (r instanceof GenerationError) return r;
    and.push(...r);
  }
  if (and.length === 0) and.push(ops.any());
  return ops.and(and);
}

/** The RBAC policy for one rule, or the reason the rule is left out of this chain. */
export function generatePolicy(model: RuleModel, forTcp: boolean, action: RbacActionName): Generated<GeneratedPolicy> {
  const permissions: Permission[] = [];
  for (const list of model.permissions) {
    const p = generateAnd(list, forTcp, action, { and: permissionAnd, or: permissionOr, not: permissionNot, any: permissionAny });
    if (p instanceof GenerationError) return p;
    permissions.push(p);
  }
  const principals: Principal[] = [];
  for (const list of model.principals) {
    const p = generateAnd(list, forTcp, action, { and: principalAnd, or: principalOr, not: principalNot, any: principalAny });
    if (p instanceof GenerationError) return p;
    principals.push(p);
  }
  return { permissions, principals };
}
