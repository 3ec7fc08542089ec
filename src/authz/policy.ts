// The AuthorizationPolicy model (security.istio.io v1 and v1beta1): a typed spec read from a
// ConfigObject. Reading checks shapes only (a list where a list belongs, no unknown fields, as
// protojson does for istiod); the meaning of the values is checked by validate.ts.
import type { ConfigObject, ConfigOrigin } from "../model/config.js";
import { SpecReader, type FieldProblem } from "./spec-reader.js";

export const AUTHORIZATION_POLICY_KIND = "AuthorizationPolicy";
export const AUTHORIZATION_POLICY_API_VERSIONS: readonly string[] = ["security.istio.io/v1", "security.istio.io/v1beta1"];
export const DRY_RUN_ANNOTATION = "istio.io/dry-run";

export type AuthzAction = "ALLOW" | "DENY" | "AUDIT" | "CUSTOM";
const ACTIONS: readonly AuthzAction[] = ["ALLOW", "DENY", "AUDIT", "CUSTOM"];

/** Lists are `undefined` when absent; an explicitly empty list stays `[]` so validation can see it. */
export interface Source {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly serviceAccounts?: readonly string[];
  readonly notServiceAccounts?: readonly string[];
  readonly trustDomains?: readonly string[];
  readonly notTrustDomains?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
}
export const SOURCE_FIELDS = [
  "principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces", "notNamespaces",
  "serviceAccounts", "notServiceAccounts", "trustDomains", "notTrustDomains", "ipBlocks", "notIpBlocks",
  "remoteIpBlocks", "notRemoteIpBlocks",
] as const satisfies readonly (keyof Source)[];

export interface Operation {
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}
export const OPERATION_FIELDS = [
  "hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths",
] as const satisfies readonly (keyof Operation)[];

export interface Condition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

/** `source`/`operation` are `null` when the entry is present but has none (rejected by validation). */
export interface RuleFrom { readonly source: Source | null }
export interface RuleTo { readonly operation: Operation | null }

export interface Rule {
  readonly from?: readonly (RuleFrom | null)[];
  readonly to?: readonly (RuleTo | null)[];
  readonly when?: readonly (Condition | null)[];
}

export interface PolicyTargetReference {
  readonly group?: string;
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
}

export interface AuthorizationPolicySpec {
  readonly selector?: { readonly matchLabels?: Readonly<Record<string, string>> };
  readonly targetRef?: PolicyTargetReference;
  readonly targetRefs?: readonly PolicyTargetReference[];
  readonly action: AuthzAction;
  readonly provider?: { readonly name?: string };
  /** `undefined` when the policy has no `rules`; entries are `null` where the YAML has a null rule. */
  readonly rules?: readonly (Rule | null)[];
}

export interface AuthorizationPolicy {
  readonly name: string;
  readonly namespace: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly creationTimestamp?: string;
  readonly spec: AuthorizationPolicySpec;
  readonly origin: ConfigOrigin;
}

export function isAuthorizationPolicy(o: Pick<ConfigObject, "kind" | "apiVersion">): boolean {
  return o.kind === AUTHORIZATION_POLICY_KIND && AUTHORIZATION_POLICY_API_VERSIONS.includes(o.apiVersion);
}

export type ReadResult =
  | { readonly ok: true; readonly policy: AuthorizationPolicy }
  | { readonly ok: false; readonly problems: readonly FieldProblem[] };

/** Reads the typed spec of an AuthorizationPolicy object; shape errors carry `spec.`-rooted paths. */
export function readAuthorizationPolicy(o: ConfigObject): ReadResult {
  const r = new SpecReader();
  const spec = readSpec(r, o.spec ?? {});
  if (r.problems.length > 0 || spec === undefined) return { ok: false, problems: r.problems };
  return { ok: true, policy: authorizationPolicyOf(o, spec) };
}

/** The policy of an object whose spec has been read (the model keeps objects with typed specs). */
export function authorizationPolicyOf(o: ConfigObject, spec: AuthorizationPolicySpec): AuthorizationPolicy {
  return {
    name: o.metadata.name,
    namespace: o.metadata.namespace,
    annotations: o.metadata.annotations,
    spec,
    origin: o.origin,
    ...(o.metadata.creationTimestamp !== undefined ? { creationTimestamp: o.metadata.creationTimestamp } : {}),
  };
}

function readSpec(r: SpecReader, v: unknown): AuthorizationPolicySpec | undefined {
  const o = r.object(v, "spec", ["selector", "targetRef", "targetRefs", "action", "provider", "rules"]);
  if (o === undefined) return undefined;
  const action = o["action"] === undefined ? "ALLOW" : r.enumValue(o["action"], "spec.action", ACTIONS);
  const spec: { -readonly [K in keyof AuthorizationPolicySpec]: AuthorizationPolicySpec[K] } = { action: action ?? "ALLOW" };
  if (o["selector"] !== undefined) {
    const sel = r.object(o["selector"], "spec.selector", ["matchLabels"]);
    if (sel !== undefined) {
      const labels = sel["matchLabels"] === undefined ? undefined : r.stringMap(sel["matchLabels"], "spec.selector.matchLabels");
      spec.selector = labels === undefined ? {} : { matchLabels: labels };
    }
  }
  if (o["targetRef"] !== undefined) {
    const ref = readTargetRef(r, o["targetRef"], "spec.targetRef");
    if (ref !== undefined) spec.targetRef = ref;
  }
  if (o["targetRefs"] !== undefined) {
    const refs = r.list(o["targetRefs"], "spec.targetRefs", (e, p) => readTargetRef(r, e, p));
    if (refs !== undefined) spec.targetRefs = refs.filter((x): x is PolicyTargetReference => x !== null);
  }
  if (o["provider"] !== undefined) {
    const p = r.object(o["provider"], "spec.provider", ["name"]);
    if (p !== undefined) spec.provider = p["name"] === undefined ? {} : { name: r.string(p["name"], "spec.provider.name") ?? "" };
  }
  if (o["rules"] !== undefined && o["rules"] !== null) {
    const rules = r.list(o["rules"], "spec.rules", (e, p) => readRule(r, e, p));
    if (rules !== undefined) spec.rules = rules;
  }
  return spec;
}

function readTargetRef(r: SpecReader, v: unknown, path: string): PolicyTargetReference | undefined {
  const o = r.object(v, path, ["group", "kind", "name", "namespace"]);
  if (o === undefined) return undefined;
  const ref: { -readonly [K in keyof PolicyTargetReference]: PolicyTargetReference[K] } = {};
  for (const k of ["group", "kind", "name", "namespace"] as const) {
    if (o[k] !== undefined) ref[k] = r.string(o[k], `${path}.${k}`) ?? "";
  }
  return ref;
}

function readRule(r: SpecReader, v: unknown, path: string): Rule | undefined {
  const o = r.object(v, path, ["from", "to", "when"]);
  if (o === undefined) return undefined;
  const rule: { -readonly [K in keyof Rule]: Rule[K] } = {};
  const from = readEntries(r, o["from"], `${path}.from`, "source", SOURCE_FIELDS);
  if (from !== undefined) rule.from = from.map((e) => (e === null ? null : { source: e.value }));
  const to = readEntries(r, o["to"], `${path}.to`, "operation", OPERATION_FIELDS);
  if (to !== undefined) rule.to = to.map((e) => (e === null ? null : { operation: e.value }));
  if (o["when"] !== undefined && o["when"] !== null) {
    const when = r.list(o["when"], `${path}.when`, (e, p) => readCondition(r, e, p));
    if (when !== undefined) rule.when = when;
  }
  return rule;
}

/** `from`/`to` lists: entries `{<field>: {lists...}}`; an entry without its field has value null. */
function readEntries<F extends string>(
  r: SpecReader, v: unknown, path: string, field: string, lists: readonly F[],
): ({ value: { [K in F]?: readonly string[] } | null } | null)[] | undefined {
  if (v === undefined || v === null) return undefined;
  return r.list(v, path, (e, p) => {
    const entry = r.object(e, p, [field]);
    if (entry === undefined) return undefined;
    if (entry[field] === undefined || entry[field] === null) return { value: null };
    const value = readStringLists(r, entry[field], `${p}.${field}`, lists);
    return value === undefined ? undefined : { value };
  });
}

function readCondition(r: SpecReader, v: unknown, path: string): Condition | undefined {
  const o = r.object(v, path, ["key", "values", "notValues"]);
  if (o === undefined) return undefined;
  const lists = readStringLists(r, o, path, ["values", "notValues"], ["key"]);
  if (lists === undefined) return undefined;
  return { key: o["key"] === undefined ? "" : (r.string(o["key"], `${path}.key`) ?? ""), ...lists };
}

function readStringLists<F extends string>(
  r: SpecReader,
  v: unknown,
  path: string,
  fields: readonly F[],
  otherFields: readonly string[] = [],
): { [K in F]?: readonly string[] } | undefined {
  const o = r.object(v, path, [...fields, ...otherFields]);
  if (o === undefined) return undefined;
  const out: { [K in F]?: readonly string[] } = {};
  for (const f of fields) {
    if (o[f] === undefined || o[f] === null) continue;
    const list = r.stringList(o[f], `${path}.${f}`);
    if (list !== undefined) out[f] = list;
  }
  return out;
}
