// Who may call whom, for the read API and the console (Kiali's graph, decided from config rather
// than observed traffic): for a calling workload and a called one, what the called workload's
// AuthorizationPolicies decide about a call from the caller's identity and address, as Envoy's
// RBAC filter would (CUSTOM, then DENY, then ALLOW; no ALLOW policy allows everything). A rule that
// also depends on the request (paths, methods, headers, JWTs) makes the answer "conditional".
// Selection is authz/select.ts's; only the matching of one known caller is done here.
import { BlockList, isIP } from "node:net";
import { DRY_RUN_ANNOTATION, type AuthorizationPolicy, type Condition, type Rule, type Source } from "../authz/policy.js";
import { selectPolicies, type PoliciesForWorkload } from "../authz/select.js";
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

/** One BlockList per CIDR entry (config strings repeat across every pair of a graph). */
const blockLists = new Map<string, BlockList | null>();
const BLOCK_LIST_CACHE_MAX = 10_000;

function inBlock(cidr: string, address: string): boolean {
  let list = blockLists.get(cidr);
  if (list === undefined) {
    const c = parseCidr(cidr);
    list = "error" in c ? null : new BlockList();
    if (list !== null && !("error" in c)) list.addSubnet(c.addressPrefix, c.prefixLen, isIP(c.addressPrefix) === 4 ? "ipv4" : "ipv6");
    if (blockLists.size >= BLOCK_LIST_CACHE_MAX) blockLists.clear();
    blockLists.set(cidr, list);
  }
  const family = isIP(address);
  return list !== null && family !== 0 && list.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** A list field and its `not` form: the value must match one of the first and none of the second. */
function field(values: readonly string[] | undefined, notValues: readonly string[] | undefined, test: (v: string) => boolean): boolean {
  if (values !== undefined && !values.some(test)) return false;
  return notValues === undefined || !notValues.some(test);
}

/**
 * The caller's principal exists only over mTLS: `mtls` false (plaintext) leaves principal,
 * namespace, service-account and trust-domain fields matching nothing, as in Envoy. Every present
 * field must match; request principals (JWT) make it "maybe".
 */
function sourceMatch(s: Source, from: CallParty, mtls: boolean): Match {
  const principal = `${from.trustDomain}/ns/${from.namespace}/sa/${from.serviceAccount}`;
  const sa = `${from.namespace}/${from.serviceAccount}`;
  const ok =
    field(s.principals, s.notPrincipals, (p) => mtls && globMatch(p, principal)) &&
    field(s.namespaces, s.notNamespaces, (n) => mtls && globMatch(n, from.namespace)) &&
    field(s.serviceAccounts, s.notServiceAccounts, (a) => mtls && (globMatch(a, sa) || globMatch(a, from.serviceAccount))) &&
    field(s.trustDomains, s.notTrustDomains, (t) => mtls && globMatch(t, from.trustDomain)) &&
    // A direct call: the peer address is the remote address.
    field(s.ipBlocks, s.notIpBlocks, (b) => inBlock(b, from.address)) &&
    field(s.remoteIpBlocks, s.notRemoteIpBlocks, (b) => inBlock(b, from.address));
  if (!ok) return "no";
  return s.requestPrincipals !== undefined || s.notRequestPrincipals !== undefined ? "maybe" : "yes";
}

/** Conditions on what is known of the call (addresses, principal, namespace); the rest depends on the request. */
function conditionMatch(c: Condition, from: CallParty, to: CallParty, mtls: boolean): Match {
  let value: string;
  switch (c.key) {
    case "source.ip":
    case "remote.ip":
      return field(c.values, c.notValues, (v) => inBlock(v, from.address)) ? "yes" : "no";
    case "destination.ip":
      return field(c.values, c.notValues, (v) => inBlock(v, to.address)) ? "yes" : "no";
    case "source.principal":
      value = mtls ? `${from.trustDomain}/ns/${from.namespace}/sa/${from.serviceAccount}` : "";
      break;
    case "source.namespace":
      value = mtls ? from.namespace : "";
      break;
    default:
      return "maybe";
  }
  return field(c.values, c.notValues, (v) => globMatch(v, value)) ? "yes" : "no";
}

/** `from` entries are ORed; the rule's parts (from, to, when) ANDed; `to` is about the request. */
function ruleMatch(r: Rule, from: CallParty, to: CallParty, mtls: boolean): Match {
  let result: Match = (r.to ?? []).length > 0 ? "maybe" : "yes";
  const froms = r.from ?? [];
  if (froms.some((f) => f !== null)) {
    let fromMatch: Match = "no";
    for (const f of froms) {
      if (f === null || f.source === null) continue;
      const m = sourceMatch(f.source, from, mtls);
      if (m === "yes") {
        fromMatch = "yes";
        break;
      }
      if (m === "maybe") fromMatch = "maybe";
    }
    if (fromMatch === "no") return "no";
    if (fromMatch === "maybe") result = "maybe";
  }
  for (const c of r.when ?? []) {
    if (c === null) continue;
    const m = conditionMatch(c, from, to, mtls);
    if (m === "no") return "no";
    if (m === "maybe") result = "maybe";
  }
  return result;
}

/** Rules are ORed; a policy without rules matches nothing. */
function policyMatch(p: AuthorizationPolicy, from: CallParty, to: CallParty, mtls: boolean): Match {
  let result: Match = "no";
  for (const r of p.spec.rules ?? []) {
    if (r === null) continue;
    const m = ruleMatch(r, from, to, mtls);
    if (m === "yes") return "yes";
    if (m === "maybe") result = "maybe";
  }
  return result;
}

const ref = (p: AuthorizationPolicy): string => `${p.namespace}/${p.name}`;
const dryRun = (p: AuthorizationPolicy): boolean => p.annotations[DRY_RUN_ANNOTATION] === "true";

/**
 * What `to`'s policies decide about a call from `from`; `mtls` says whether the call carries the
 * caller's certificate (the called workload's PeerAuthentication is STRICT or the caller uses mTLS).
 */
export function decideCall(policies: readonly AuthorizationPolicy[], rootNamespace: string, from: CallParty, to: CallParty, mtls: boolean): CallVerdict {
  return decideCallUnder(selectPolicies(policies, to, rootNamespace), from, to, mtls);
}

/** decideCall with the called workload's policies already selected (once per callee in a graph). */
export function decideCallUnder(applied: PoliciesForWorkload, from: CallParty, to: CallParty, mtls: boolean): CallVerdict {
  // CUSTOM and DENY policies that may match: the answer then depends on them (or the request).
  const uncertain: string[] = [];
  for (const p of applied.custom) if (!dryRun(p) && policyMatch(p, from, to, mtls) !== "no") uncertain.push(ref(p));
  let denied: string[] | undefined;
  for (const p of applied.deny) {
    if (dryRun(p)) continue;
    const m = policyMatch(p, from, to, mtls);
    if (m === "yes") (denied ??= []).push(ref(p));
    else if (m === "maybe") uncertain.push(ref(p));
  }
  if (denied !== undefined) return { decision: "denied", by: denied };
  const allow = applied.allow.filter((p) => !dryRun(p));
  if (allow.length === 0) return uncertain.length > 0 ? { decision: "conditional", by: uncertain } : { decision: "allowed", by: [] };
  const allowedBy: string[] = [];
  const maybeAllowed: string[] = [];
  for (const p of allow) {
    const m = policyMatch(p, from, to, mtls);
    if (m === "yes") allowedBy.push(ref(p));
    else if (m === "maybe") maybeAllowed.push(ref(p));
  }
  if (allowedBy.length > 0) return uncertain.length > 0 ? { decision: "conditional", by: [...uncertain, ...allowedBy] } : { decision: "allowed", by: allowedBy };
  if (maybeAllowed.length > 0) return { decision: "conditional", by: [...uncertain, ...maybeAllowed] };
  // ALLOW policies exist and none matches: Envoy denies.
  return { decision: "denied", by: allow.map(ref) };
}
