// Who may call whom, for the read API and the console (Kiali's graph, decided from config rather
// than observed traffic): for a calling workload and a called one, what the called workload's
// AuthorizationPolicies decide about a call from the caller's identity and address, as Envoy's
// RBAC filter would (CUSTOM, then DENY, then ALLOW; no ALLOW policy allows everything). A rule that
// also depends on the request (paths, methods, headers, JWTs) makes the answer "conditional".
// Selection is authz/select.ts's; only the matching of one known caller is done here.
import { BlockList, isIP } from "node:net";
import { DRY_RUN_ANNOTATION, type AuthorizationPolicy, type Condition, type Rule, type Source } from "../authz/policy.js";
import { selectPolicies } from "../authz/select.js";
import { parseCidr } from "../model/cidr.js";

export type CallDecision = "allowed" | "denied" | "conditional";

/** A workload as the evaluator needs it: where it is and, over mTLS, who it is. */
export interface CallParty {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly address: string;
  readonly trustDomain: string;
  readonly serviceAccount: string;
}

export interface CallVerdict {
  readonly decision: CallDecision;
  /** The policies that decided it (`namespace/name`); empty when no policy applies (allowed). */
  readonly by: readonly string[];
}

type Match = "yes" | "no" | "maybe";

/** Istio's string match: exact, `prefix*`, `*suffix` or `*`. */
function globMatch(pattern: string, value: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("*")) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith("*")) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

function inBlocks(blocks: readonly string[], address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const list = new BlockList();
  for (const b of blocks) {
    const c = parseCidr(b);
    if ("error" in c) continue;
    const type = isIP(c.addressPrefix) === 4 ? "ipv4" : "ipv6";
    list.addSubnet(c.addressPrefix, c.prefixLen, type);
  }
  return list.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** A list field and its `not` form: the value must match one of the first and none of the second. */
function field(values: readonly string[] | undefined, notValues: readonly string[] | undefined, test: (v: string) => boolean): Match {
  if (values !== undefined && !values.some(test)) return "no";
  if (notValues !== undefined && notValues.some(test)) return "no";
  return "yes";
}

/** Every present field must match (AND); fields about the request make it "maybe". */
function all(matches: readonly Match[]): Match {
  if (matches.includes("no")) return "no";
  return matches.includes("maybe") ? "maybe" : "yes";
}

function any(matches: readonly Match[]): Match {
  if (matches.includes("yes")) return "yes";
  return matches.includes("maybe") ? "maybe" : "no";
}

/**
 * The caller's principal exists only over mTLS: `mtls` false (plaintext) leaves principal,
 * namespace, service-account and trust-domain fields matching nothing, as in Envoy.
 */
function sourceMatch(s: Source, from: CallParty, mtls: boolean): Match {
  const principal = `${from.trustDomain}/ns/${from.namespace}/sa/${from.serviceAccount}`;
  const id = (test: (v: string) => boolean) => (v: string): boolean => mtls && test(v);
  const out: Match[] = [
    field(s.principals, s.notPrincipals, id((p) => globMatch(p, principal))),
    field(s.namespaces, s.notNamespaces, id((n) => globMatch(n, from.namespace))),
    field(s.serviceAccounts, s.notServiceAccounts, id((a) => globMatch(a, `${from.namespace}/${from.serviceAccount}`) || globMatch(a, from.serviceAccount))),
    field(s.trustDomains, s.notTrustDomains, id((t) => globMatch(t, from.trustDomain))),
    // A direct call: the peer address is the remote address.
    field(s.ipBlocks, s.notIpBlocks, (b) => inBlocks([b], from.address)),
    field(s.remoteIpBlocks, s.notRemoteIpBlocks, (b) => inBlocks([b], from.address)),
  ];
  if (s.requestPrincipals !== undefined || s.notRequestPrincipals !== undefined) out.push("maybe");
  return all(out);
}

/** Conditions on what is known of the call (addresses, principal, namespace); the rest depends on the request. */
function conditionMatch(c: Condition, from: CallParty, to: CallParty, mtls: boolean): Match {
  const known: Readonly<Record<string, string | undefined>> = {
    "source.ip": from.address,
    "remote.ip": from.address,
    "destination.ip": to.address,
    "source.principal": mtls ? `${from.trustDomain}/ns/${from.namespace}/sa/${from.serviceAccount}` : "",
    "source.namespace": mtls ? from.namespace : "",
  };
  if (!(c.key in known)) return "maybe";
  const value = known[c.key] ?? "";
  const test = c.key.endsWith(".ip") ? (v: string): boolean => inBlocks([v], value) : (v: string): boolean => globMatch(v, value);
  return field(c.values, c.notValues, test);
}

function ruleMatch(r: Rule, from: CallParty, to: CallParty, mtls: boolean): Match {
  const froms = (r.from ?? []).filter((f) => f !== null);
  const fromMatch = froms.length === 0 ? "yes" : any(froms.map((f) => (f.source === null ? "no" : sourceMatch(f.source, from, mtls))));
  const whens = (r.when ?? []).filter((c) => c !== null).map((c) => conditionMatch(c, from, to, mtls));
  const operations: Match = (r.to ?? []).length > 0 ? "maybe" : "yes";
  return all([fromMatch, operations, ...whens]);
}

function policyMatch(p: AuthorizationPolicy, from: CallParty, to: CallParty, mtls: boolean): Match {
  return any((p.spec.rules ?? []).filter((r) => r !== null).map((r) => ruleMatch(r, from, to, mtls)));
}

const ref = (p: AuthorizationPolicy): string => `${p.namespace}/${p.name}`;

/**
 * What `to`'s policies decide about a call from `from`; `mtls` says whether the call carries the
 * caller's certificate (the called workload's PeerAuthentication is STRICT or the caller uses mTLS).
 */
export function decideCall(policies: readonly AuthorizationPolicy[], rootNamespace: string, from: CallParty, to: CallParty, mtls: boolean): CallVerdict {
  const applied = selectPolicies(policies, to, rootNamespace);
  const dryRun = (p: AuthorizationPolicy): boolean => p.annotations[DRY_RUN_ANNOTATION] === "true";
  const custom = applied.custom.filter((p) => !dryRun(p) && policyMatch(p, from, to, mtls) !== "no");
  const deny = applied.deny.filter((p) => !dryRun(p)).map((p) => ({ p, m: policyMatch(p, from, to, mtls) }));
  const denied = deny.filter((d) => d.m === "yes").map((d) => ref(d.p));
  if (denied.length > 0) return { decision: "denied", by: denied };
  const maybeDenied = deny.filter((d) => d.m === "maybe").map((d) => ref(d.p));
  const allow = applied.allow.filter((p) => !dryRun(p)).map((p) => ({ p, m: policyMatch(p, from, to, mtls) }));
  const uncertain = [...custom.map(ref), ...maybeDenied];
  if (allow.length === 0) return uncertain.length > 0 ? { decision: "conditional", by: uncertain } : { decision: "allowed", by: [] };
  const allowedBy = allow.filter((a) => a.m === "yes").map((a) => ref(a.p));
  if (allowedBy.length > 0) return uncertain.length > 0 ? { decision: "conditional", by: [...uncertain, ...allowedBy] } : { decision: "allowed", by: allowedBy };
  const maybeAllowed = allow.filter((a) => a.m === "maybe").map((a) => ref(a.p));
  if (maybeAllowed.length > 0) return { decision: "conditional", by: [...uncertain, ...maybeAllowed] };
  // ALLOW policies exist and none matches: Envoy denies.
  return { decision: "denied", by: allow.map((a) => ref(a.p)) };
}
