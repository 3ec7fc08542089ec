// RuntimePolicy (meshward.io/v1alpha1): which runtime detections, severities or risk scores make
// meshward act on a workload, and how. Shaped like Istio's security CRDs: the object's namespace
// and `selector.matchLabels` pick the workloads (the root namespace means the whole mesh), and
// each rule maps a trigger to an action. Example with comments: examples/runtime-policy/.
import { objectRef, type ConfigError, type ConfigObject } from "../model/config.js";
import { parseGoDuration } from "./duration.js";
import { isSeverity, severityRank, type RuntimeSignal, type Severity } from "./signal.js";

export const RUNTIME_POLICY_API_VERSION = "meshward.io/v1alpha1";
export const RUNTIME_POLICY_KIND = "RuntimePolicy";
/** Istio's default root namespace; a policy there applies to every namespace. */
export const DEFAULT_ROOT_NAMESPACE = "istio-system";

export type EnforcementAction = "alert" | "quarantine" | "isolate-egress" | "revoke";
/** `pod`: only the pod the signal is about; `identity`: every pod of its service account. */
export type EnforcementScope = "pod" | "identity";

/** YAML enum spelling (Istio style, upper snake case) -> internal name. */
const ACTIONS: Readonly<Record<string, EnforcementAction>> = {
  ALERT: "alert",
  QUARANTINE: "quarantine",
  ISOLATE_EGRESS: "isolate-egress",
  REVOKE: "revoke",
};
const SCOPES: Readonly<Record<string, EnforcementScope>> = { POD: "pod", IDENTITY: "identity" };
/** The YAML spellings, for schemas and docs that must list them. */
export const RUNTIME_POLICY_ACTIONS: readonly string[] = Object.keys(ACTIONS);
export const RUNTIME_POLICY_SCOPES: readonly string[] = Object.keys(SCOPES);

export interface RuntimeTrigger {
  /** Exact ids, or prefixes ending in `*`; a signal matches if its id matches any. */
  readonly detections?: readonly string[];
  readonly minSeverity?: Severity;
  /** The workload's risk score after the signal is counted (0-100) must reach this. */
  readonly minRiskScore?: number;
}

export interface RuntimeRule {
  /** `spec.rules[i].name`, or `rules[i]` when unnamed; shown in verdicts and the audit trail. */
  readonly name: string;
  readonly index: number;
  readonly trigger: RuntimeTrigger;
  readonly action: EnforcementAction;
  readonly scope: EnforcementScope;
  /** Absent: in force until released by hand. */
  readonly durationMs?: number;
}

export interface RuntimePolicy {
  /** `RuntimePolicy ns/name`. */
  readonly ref: string;
  readonly name: string;
  readonly namespace: string;
  /** In the root namespace: selects workloads in every namespace. */
  readonly meshWide: boolean;
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly rules: readonly RuntimeRule[];
  readonly source: ConfigObject;
}

export interface RuntimePolicyOptions {
  readonly rootNamespace?: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonMap = { [k: string]: Json };

function isMap(v: unknown): v is JsonMap {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DETECTION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*\*?$|^\*$/;

/** Collects errors for one object so every problem is reported at once. */
class Problems {
  readonly errors: ConfigError[] = [];
  constructor(private readonly obj: ConfigObject) {}
  add(path: string, message: string): void {
    this.errors.push({ file: this.obj.origin.file, object: objectRef(this.obj), path, message, severity: "error" });
  }
  unknownKeys(m: JsonMap, path: string, known: readonly string[]): void {
    for (const k of Object.keys(m)) {
      if (!known.includes(k)) this.add(`${path}.${k}`, `unknown field; known fields: ${known.join(", ")}`);
    }
  }
  enumValue<T>(v: Json | undefined, path: string, values: Readonly<Record<string, T>>): T | undefined {
    if (typeof v === "string" && Object.hasOwn(values, v)) return values[v];
    this.add(path, `must be one of ${Object.keys(values).join(", ")}; got ${JSON.stringify(v ?? null)}`);
    return undefined;
  }
}

function validateSelector(v: Json | undefined, p: Problems): Record<string, string> {
  const labels: Record<string, string> = {};
  if (v === undefined) return labels;
  if (!isMap(v)) {
    p.add("spec.selector", "must be an object with matchLabels");
    return labels;
  }
  p.unknownKeys(v, "spec.selector", ["matchLabels"]);
  const ml = v["matchLabels"];
  if (ml === undefined) return labels;
  if (!isMap(ml)) {
    p.add("spec.selector.matchLabels", "must be a map of label names to values");
    return labels;
  }
  for (const [k, val] of Object.entries(ml)) {
    const path = `spec.selector.matchLabels.${k}`;
    if (k === "" || k.includes("*")) p.add(path, "label name must be non-empty and without wildcards");
    else if (typeof val !== "string") p.add(path, "label value must be a string");
    else if (val.includes("*")) p.add(path, "wildcards are not supported in selector label values");
    else labels[k] = val;
  }
  return labels;
}

function validateTrigger(v: Json | undefined, path: string, p: Problems): RuntimeTrigger | undefined {
  if (!isMap(v)) {
    p.add(path, "required: an object with at least one of detections, minSeverity, minRiskScore");
    return undefined;
  }
  p.unknownKeys(v, path, ["detections", "minSeverity", "minRiskScore"]);
  const before = p.errors.length;
  const out: { detections?: string[]; minSeverity?: Severity; minRiskScore?: number } = {};
  const d = v["detections"];
  if (d !== undefined) {
    if (!Array.isArray(d) || d.length === 0) p.add(`${path}.detections`, "must be a non-empty list of detection ids");
    else {
      d.forEach((id, i) => {
        if (typeof id !== "string" || !DETECTION_ID.test(id)) {
          p.add(`${path}.detections[${i}]`, `invalid detection id ${JSON.stringify(id)}: letters, digits and . _ : - with an optional trailing *`);
        }
      });
      out.detections = d.filter((id): id is string => typeof id === "string");
    }
  }
  const s = v["minSeverity"];
  if (s !== undefined) {
    const lower = typeof s === "string" ? s.toLowerCase() : undefined;
    if (typeof s === "string" && s === s.toUpperCase() && isSeverity(lower)) out.minSeverity = lower;
    else p.add(`${path}.minSeverity`, `must be one of LOW, MEDIUM, HIGH, CRITICAL; got ${JSON.stringify(s)}`);
  }
  const r = v["minRiskScore"];
  if (r !== undefined) {
    if (typeof r !== "number" || !(r > 0 && r <= 100)) p.add(`${path}.minRiskScore`, "must be a number in (0, 100]");
    else out.minRiskScore = r;
  }
  if (d === undefined && s === undefined && r === undefined) {
    p.add(path, "must set at least one of detections, minSeverity, minRiskScore (an empty trigger would fire on every signal)");
  }
  return p.errors.length === before ? out : undefined;
}

function validateRule(v: Json, i: number, p: Problems, names: Set<string>): RuntimeRule | undefined {
  const path = `spec.rules[${i}]`;
  if (!isMap(v)) {
    p.add(path, "must be an object with trigger and action");
    return undefined;
  }
  const before = p.errors.length;
  p.unknownKeys(v, path, ["name", "trigger", "action", "scope", "duration"]);
  let name = `rules[${i}]`;
  const n = v["name"];
  if (n !== undefined) {
    if (typeof n !== "string" || !DNS_LABEL.test(n)) p.add(`${path}.name`, "must be a DNS label (lowercase letters, digits, -)");
    else if (names.has(n)) p.add(`${path}.name`, `duplicate rule name "${n}"`);
    else name = n;
    names.add(String(n));
  }
  const trigger = validateTrigger(v["trigger"], `${path}.trigger`, p);
  const action = p.enumValue(v["action"], `${path}.action`, ACTIONS);
  let scope: EnforcementScope = "pod";
  if (v["scope"] !== undefined) {
    if (action === "alert") p.add(`${path}.scope`, "ALERT only records; scope applies to enforcing actions");
    scope = p.enumValue(v["scope"], `${path}.scope`, SCOPES) ?? "pod";
  }
  let durationMs: number | undefined;
  const dur = v["duration"];
  if (dur !== undefined) {
    if (action === "alert") p.add(`${path}.duration`, "ALERT only records; duration applies to enforcing actions");
    const parsed = typeof dur === "string" ? parseGoDuration(dur) : { error: "must be a duration string such as 30m or 1h" };
    if ("error" in parsed) p.add(`${path}.duration`, parsed.error);
    else if (parsed.ms < 1000) p.add(`${path}.duration`, `must be at least 1s; got "${String(dur)}"`);
    else durationMs = parsed.ms;
  }
  if (p.errors.length !== before || trigger === undefined || action === undefined) return undefined;
  return { name, index: i, trigger, action, scope, ...(durationMs !== undefined ? { durationMs } : {}) };
}

/** Validates one RuntimePolicy; errors name the object, the field path and the file. */
export function validateRuntimePolicy(
  obj: ConfigObject,
  opts: RuntimePolicyOptions = {},
): { policy?: RuntimePolicy; errors: ConfigError[] } {
  const p = new Problems(obj);
  if (obj.apiVersion !== RUNTIME_POLICY_API_VERSION) p.add("apiVersion", `must be ${RUNTIME_POLICY_API_VERSION}; got "${obj.apiVersion}"`);
  if (obj.kind !== RUNTIME_POLICY_KIND) p.add("kind", `must be ${RUNTIME_POLICY_KIND}; got "${obj.kind}"`);
  if (!DNS_LABEL.test(obj.metadata.name)) p.add("metadata.name", "must be a DNS label");
  if (obj.metadata.namespace === "") p.add("metadata.namespace", "required");
  const spec = obj.spec as Json;
  if (!isMap(spec)) {
    p.add("spec", "required: an object with rules");
    return { errors: p.errors };
  }
  p.unknownKeys(spec, "spec", ["selector", "rules"]);
  const matchLabels = validateSelector(spec["selector"], p);
  const rawRules = spec["rules"];
  const rules: RuntimeRule[] = [];
  if (!Array.isArray(rawRules) || rawRules.length === 0) {
    p.add("spec.rules", "required: a non-empty list of rules");
  } else {
    const names = new Set<string>();
    rawRules.forEach((r, i) => {
      const rule = validateRule(r, i, p, names);
      if (rule) rules.push(rule);
    });
  }
  if (p.errors.length > 0) return { errors: p.errors };
  const root = opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  return {
    policy: {
      ref: objectRef(obj),
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      meshWide: obj.metadata.namespace === root,
      matchLabels,
      rules,
      source: obj,
    },
    errors: [],
  };
}

/**
 * Validates every RuntimePolicy among `objects` (other kinds are ignored). A bad object is rejected
 * alone; if an earlier good version of it exists in `previous`, that version keeps serving.
 */
export function compileRuntimePolicies(
  objects: readonly ConfigObject[],
  opts: RuntimePolicyOptions = {},
  previous: readonly RuntimePolicy[] = [],
): { policies: RuntimePolicy[]; errors: ConfigError[] } {
  const prior = new Map(previous.map((pol) => [pol.ref, pol]));
  const policies: RuntimePolicy[] = [];
  const errors: ConfigError[] = [];
  for (const obj of objects) {
    if (obj.kind !== RUNTIME_POLICY_KIND) continue;
    const r = validateRuntimePolicy(obj, opts);
    errors.push(...r.errors);
    const keep = r.policy ?? prior.get(objectRef(obj));
    if (keep) policies.push(keep);
  }
  // Oldest first, as Istio orders policies, then by name so the order is total.
  policies.sort(
    (a, b) =>
      (a.source.metadata.creationTimestamp ?? "").localeCompare(b.source.metadata.creationTimestamp ?? "") ||
      a.ref.localeCompare(b.ref),
  );
  return { policies, errors };
}

/** Whether the policy applies to a pod: same namespace (or mesh-wide) and every matchLabel present. */
export function selectsPod(policy: RuntimePolicy, pod: { namespace: string; labels: Readonly<Record<string, string>> }): boolean {
  if (!policy.meshWide && policy.namespace !== pod.namespace) return false;
  return Object.entries(policy.matchLabels).every(([k, v]) => pod.labels[k] === v);
}

function detectionMatches(pattern: string, id: string): boolean {
  return pattern.endsWith("*") ? id.startsWith(pattern.slice(0, -1)) : pattern === id;
}

/** Every field the trigger sets must hold (AND); detection ids within the list are OR'ed. */
export function triggerMatches(t: RuntimeTrigger, signal: RuntimeSignal, riskScore: number): boolean {
  if (t.detections && !t.detections.some((d) => detectionMatches(d, signal.detection.id))) return false;
  if (t.minSeverity && severityRank(signal.detection.severity) < severityRank(t.minSeverity)) return false;
  if (t.minRiskScore !== undefined && riskScore < t.minRiskScore) return false;
  return true;
}
