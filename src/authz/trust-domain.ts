// Trust-domain aliases (MeshConfig trustDomain + trustDomainAliases): a principal naming the
// local trust domain, an alias or `cluster.local` is expanded to one principal per trust domain,
// so policies keep their meaning through a trust-domain migration.

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
      const parts = principal.split("/");
      // Only a 5-part identity names a trust domain; `*` in that place means any trust domain.
      if (parts.length !== 5 || parts[0] === "*") {
        out.push(principal);
        continue;
      }
      const td = parts[0] ?? "";
      if (wildcardMatch(td, this.trustDomains) || td === CLUSTER_LOCAL) out.push(...this.replaceTrustDomains(principal, td, parts));
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

  private replaceTrustDomains(principal: string, td: string, parts: readonly string[]): string[] {
    const out: string[] = [];
    for (const member of this.trustDomains) {
      // A `*suffix` trust domain in the policy already covers the members it matches.
      const replaced = suffixMatch(member, td) ? principal : [member, ...parts.slice(1)].join("/");
      if (!out.includes(replaced)) out.push(replaced);
    }
    return out;
  }
}

function prefixMatch(a: string, pattern: string): boolean {
  return pattern.endsWith("*") && a.startsWith(pattern.slice(0, -1));
}

function suffixMatch(a: string, pattern: string): boolean {
  return pattern.startsWith("*") && a.endsWith(pattern.slice(1));
}

/** Exact, `*`, `prefix*` or `*suffix` match of `a` against any pattern in the list. */
function wildcardMatch(a: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => a === p || p === "*" || prefixMatch(a, p) || suffixMatch(a, p));
}
