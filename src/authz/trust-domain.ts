// Trust-domain aliases (MeshConfig trustDomain + trustDomainAliases): a principal naming the
// local trust domain, an alias or `cluster.local` is expanded to one principal per trust domain,
// so policies keep their meaning through a trust-domain migration. Mirrors istiod's
// pilot/pkg/security/trustdomain (bundle.go, util.go) rule for rule, so the matcher set is the same.

const CLUSTER_LOCAL = "cluster.local";

export class TrustDomainBundle {
  /** The mesh trust domain first, then its aliases. */
  readonly trustDomains: readonly string[];

  constructor(trustDomain: string, aliases: readonly string[] = []) {
    this.trustDomains = [trustDomain, ...aliases];
  }

  /** Principals (`td/ns/x/sa/y`, no spiffe:// prefix) with the trust domain replaced by each member. */
  replaceTrustDomainAliases(principals: readonly string[]): string[] {
    const out: string[] = [];
    for (const principal of principals) {
      const td = enforcedTrustDomain(principal);
      // The policy does not care about the trust domain (`*/ns/..`, or not a 5-part identity).
      if (td === undefined) {
        out.push(principal);
        continue;
      }
      // `cluster.local` stands for the local trust domain; a trust domain outside the bundle is kept as written.
      if (wildcardMatchEitherWay(td, this.trustDomains) || td === CLUSTER_LOCAL) out.push(...this.replaceTrustDomains(principal, td));
      else out.push(principal);
    }
    return out;
  }

  /** `trustDomains` values: a member of the bundle stands for the whole bundle. */
  expandTrustDomainAliases(values: readonly string[]): string[] {
    const out: string[] = [];
    for (const v of values) {
      for (const td of this.trustDomains.includes(v) ? this.trustDomains : [v]) if (!out.includes(td)) out.push(td);
    }
    return out;
  }

  private replaceTrustDomains(principal: string, td: string): string[] {
    const rest = principal.slice(principal.indexOf("/"));
    const out: string[] = [];
    for (const member of this.trustDomains) {
      // A `*suffix` trust domain in the policy already covers the members it matches: keep it as written.
      const replaced = suffixMatch(member, td) ? principal : member + rest;
      if (!out.includes(replaced)) out.push(replaced);
    }
    return out;
  }
}

/** The trust domain a principal enforces: the first of exactly five `/` parts, unless it is `*`. */
export function enforcedTrustDomain(principal: string): string | undefined {
  const parts = principal.split("/");
  if (parts.length !== 5 || parts[0] === "*") return undefined;
  return parts[0];
}

function prefixMatch(a: string, pattern: string): boolean {
  return pattern.endsWith("*") && a.startsWith(pattern.slice(0, -1));
}

function suffixMatch(a: string, pattern: string): boolean {
  return pattern.startsWith("*") && a.endsWith(pattern.slice(1));
}

/**
 * istiod's `stringMatch`: exact, `*`, or a `prefix*` / `*suffix` pattern on either side, so a
 * principal's `*-td` matches the alias `old-td` as well as an alias `td*` matching `td1`.
 */
export function wildcardMatchEitherWay(a: string, list: readonly string[]): boolean {
  return list.some((s) => a === s || s === "*" || prefixMatch(a, s) || prefixMatch(s, a) || suffixMatch(a, s) || suffixMatch(s, a));
}
