// Host name matching as Istio's host.Name does it, for gateway servers: `*` matches every host,
// `*.example.com` every host under example.com (not example.com itself), anything else itself.
// Comparison is case-insensitive, as DNS names are.

/** Whether `hostname` (possibly a wildcard itself) is within `pattern` (istiod's host.Name.SubsetOf). */
export function hostMatchesPattern(hostname: string, pattern: string): boolean {
  const h = hostname.toLowerCase();
  const p = pattern.toLowerCase();
  if (p === "*") return true;
  if (p.startsWith("*.")) {
    const suffix = p.slice(1);
    if (h.startsWith("*.")) return h.slice(1).endsWith(suffix);
    return h.endsWith(suffix) && h.length > suffix.length;
  }
  return h === p;
}

/** Whether two host patterns overlap (istiod's host.Name.Matches): either is within the other. */
export function hostsOverlap(a: string, b: string): boolean {
  return hostMatchesPattern(a, b) || hostMatchesPattern(b, a);
}

/** istiod's host.MoreSpecific order: names before wildcards, then longest first, then alphabetical. */
export function compareHostSpecificity(a: string, b: string): number {
  const aw = a.startsWith("*");
  const bw = b.startsWith("*");
  if (aw !== bw) return aw ? 1 : -1;
  if (a.length !== b.length) return b.length - a.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
