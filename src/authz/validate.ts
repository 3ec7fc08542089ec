// AuthorizationPolicy validation as istiod does it (ValidateAuthorizationPolicy and the CRD's
// rules), reported per field path. Errors reject the one policy; warnings keep it.
import type { FieldProblem } from "./spec-reader.js";
import {
  type AuthorizationPolicySpec, type Condition, type Operation, type PolicyTargetReference, type Rule, type Source,
  DRY_RUN_ANNOTATION, OPERATION_FIELDS, SOURCE_FIELDS,
} from "./policy.js";
import { ATTR, DESTINATION_LABELS_PREFIX, REJECTED_ATTR, hasMapKeyForm } from "./attributes.js";
import { parseCidr, parsePort } from "../model/cidr.js";
import { pathTemplateProblem } from "./path-template.js";

export interface PolicyFindings {
  readonly errors: FieldProblem[];
  readonly warnings: FieldProblem[];
}

const MAX_RULES = 512;
const MAX_FROM = 512;
const MAX_TARGET_REFS = 16;
const MAX_SERVICE_ACCOUNTS = 16;
const MAX_SERVICE_ACCOUNT_LENGTH = 320;

/** Kinds a targetRef may name (Istio's allowedTargetRefs), as `group/kind` with `core` for "". */
const TARGET_REF_KINDS = ["core/Service", "networking.istio.io/ServiceEntry", "gateway.networking.k8s.io/Gateway", "gateway.networking.k8s.io/GatewayClass"];

/** Go's strconv.ParseBool, which istiod uses for the dry-run annotation. */
export function parseGoBool(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

export function hasRules(spec: AuthorizationPolicySpec): boolean {
  return spec.rules !== undefined && spec.rules.length > 0;
}

export function validateAuthorizationPolicy(spec: AuthorizationPolicySpec, annotations: Readonly<Record<string, string>>): PolicyFindings {
  const f: PolicyFindings = { errors: [], warnings: [] };
  const err = (path: string, message: string): void => void f.errors.push({ path, message, severity: "error" });
  validateTargeting(spec, f);

  const dryRun = annotations[DRY_RUN_ANNOTATION];
  if (dryRun !== undefined) {
    const path = `metadata.annotations["${DRY_RUN_ANNOTATION}"]`;
    if (spec.action !== "ALLOW" && spec.action !== "DENY") err(path, `only supported on ALLOW and DENY policies, found action ${spec.action}`);
    if (parseGoBool(dryRun) === undefined) err(path, `must be "true" or "false", found ${JSON.stringify(dryRun)}`);
  }

  if (spec.action === "CUSTOM") {
    if (!hasRules(spec)) {
      err("spec.rules", "CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request");
    } else if (spec.provider?.name === undefined || spec.provider.name === "") {
      err("spec.provider.name", "`provider.name` must not be empty");
    }
    spec.rules?.forEach((rule, i) => rule !== null && validateCustomRule(rule, `spec.rules[${i}]`, err));
  }
  if (spec.provider !== undefined && spec.action !== "CUSTOM") err("spec.provider", `\`provider\` must not be with non CUSTOM action, found ${spec.action}`);
  if (spec.action === "DENY" && !hasRules(spec)) {
    err("spec.rules", "DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request");
  }
  if (spec.rules !== undefined && spec.rules.length > MAX_RULES) err("spec.rules", `must have at most ${MAX_RULES} rules, found ${spec.rules.length}`);
  spec.rules?.forEach((rule, i) => {
    const path = `spec.rules[${i}]`;
    if (rule === null) err(path, "`rule` must not be null");
    else validateRule(rule, spec.action, path, f);
  });
  return f;
}

function validateTargeting(spec: AuthorizationPolicySpec, f: PolicyFindings): void {
  const err = (path: string, message: string): void => void f.errors.push({ path, message, severity: "error" });
  const refs = spec.targetRefs ?? [];
  const set = [spec.selector !== undefined, spec.targetRef !== undefined, refs.length > 0].filter(Boolean).length;
  if (set > 1) err("spec", "only one of selector, targetRef or targetRefs can be set");
  const labels = spec.selector?.matchLabels ?? {};
  for (const [k, v] of Object.entries(labels)) {
    const path = `spec.selector.matchLabels.${k}`;
    if (k === "") err(path, `empty key is not supported in selector: "${k}=${v}"`);
    if (k.includes("*") || v.includes("*")) err(path, `wildcard is not supported in selector: "${k}=${v}"`);
  }
  if (spec.selector !== undefined && Object.keys(labels).length === 0) {
    f.warnings.push({ path: "spec.selector", message: "workload selector specified without labels", severity: "warning" });
  }
  if (refs.length > MAX_TARGET_REFS) err("spec.targetRefs", `must have at most ${MAX_TARGET_REFS} entries, found ${refs.length}`);
  const check = (ref: PolicyTargetReference, path: string): void => {
    if (!ref.name) err(`${path}.name`, "targetRef name must be set");
    if (ref.namespace) err(`${path}.namespace`, "targetRef namespace must not be set; cross namespace referencing is not supported");
    const gk = `${ref.group || "core"}/${ref.kind ?? ""}`;
    if (!TARGET_REF_KINDS.includes(gk)) err(path, `targetRef must be to one of ${TARGET_REF_KINDS.join(", ")} but was ${ref.group ?? ""}/${ref.kind ?? ""}`);
  };
  if (spec.targetRef !== undefined) check(spec.targetRef, "spec.targetRef");
  refs.forEach((r, i) => check(r, `spec.targetRefs[${i}]`));
  if (spec.targetRef !== undefined || refs.length > 0) {
    f.warnings.push({
      path: spec.targetRef !== undefined ? "spec.targetRef" : "spec.targetRefs",
      message: "targetRef applies to gateways and waypoints only; sidecars and proxyless gRPC workloads ignore this policy",
      severity: "warning",
    });
  }
}

const CUSTOM_UNSUPPORTED_SOURCE: readonly (keyof Source)[] = [
  "namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts", "trustDomains", "notTrustDomains",
  "principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals",
];
const CUSTOM_UNSUPPORTED_WHEN = [ATTR.sourceNamespace, ATTR.sourceServiceAccount, ATTR.sourceTrustDomain, ATTR.sourcePrincipal];

function validateCustomRule(rule: Rule, path: string, err: (p: string, m: string) => void): void {
  rule.from?.forEach((from, j) => {
    for (const field of CUSTOM_UNSUPPORTED_SOURCE) {
      if ((from?.source?.[field]?.length ?? 0) > 0) err(`${path}.from[${j}].source.${field}`, `${field} is currently not supported with CUSTOM action`);
    }
  });
  rule.when?.forEach((c, j) => {
    if (c === null) return;
    if ((CUSTOM_UNSUPPORTED_WHEN as readonly string[]).includes(c.key) || c.key.startsWith("request.auth.")) {
      err(`${path}.when[${j}].key`, `${c.key} is currently not supported with CUSTOM action`);
    }
  });
}

function validateRule(rule: Rule, action: string, path: string, f: PolicyFindings): void {
  const err = (p: string, m: string): void => void f.errors.push({ path: p, message: m, severity: "error" });
  let tcpInFrom = false;
  let tcpInTo = false;
  let fromExists = false;
  let toExists = false;
  if (rule.from !== undefined && rule.from.length === 0) err(`${path}.from`, "`from` must not be empty");
  if (rule.from !== undefined && rule.from.length > MAX_FROM) err(`${path}.from`, `must have at most ${MAX_FROM} entries, found ${rule.from.length}`);
  rule.from?.forEach((from, j) => {
    const p = `${path}.from[${j}]`;
    if (from === null) return err(p, "`from` must not be null");
    if (from.source === null) return err(`${p}.source`, "`from.source` must not be null");
    fromExists = true;
    validateSource(from.source, `${p}.source`, err);
    if (SOURCE_FIELDS.some((k) => k !== "requestPrincipals" && k !== "notRequestPrincipals" && from.source?.[k] !== undefined)) tcpInFrom = true;
  });
  if (rule.to !== undefined && rule.to.length === 0) err(`${path}.to`, "`to` must not be empty");
  rule.to?.forEach((to, j) => {
    const p = `${path}.to[${j}]`;
    if (to === null) return err(p, "`to` must not be null");
    if (to.operation === null) return err(`${p}.operation`, "`to.operation` must not be null");
    toExists = true;
    validateOperation(to.operation, `${p}.operation`, err);
    if (to.operation.ports !== undefined || to.operation.notPorts !== undefined) tcpInTo = true;
  });
  rule.when?.forEach((c, j) => validateCondition(c, `${path}.when[${j}]`, err));
  if (action === "DENY" && ((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo))) {
    f.warnings.push({
      path,
      message: "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port",
      severity: "warning",
    });
  }
}

function validateSource(src: Source, path: string, err: (p: string, m: string) => void): void {
  const count = (k: keyof Source): number => src[k]?.length ?? 0;
  if (count("principals") + count("notPrincipals") + count("namespaces") + count("notNamespaces") > 0 && count("serviceAccounts") + count("notServiceAccounts") > 0) {
    err(path, "cannot set serviceAccounts with namespaces or principals");
  }
  if (SOURCE_FIELDS.every((k) => count(k) === 0)) err(path, "`from.source` must not be empty");
  for (const k of SOURCE_FIELDS) {
    const values = src[k];
    if (values === undefined) continue;
    const p = `${path}.${k}`;
    if (k === "serviceAccounts" || k === "notServiceAccounts") checkServiceAccounts(values, p, err);
    else if (k === "trustDomains" || k === "notTrustDomains") checkTrustDomains(values, p, err);
    else checkNonEmpty(values, p, err);
    if (k === "ipBlocks" || k === "notIpBlocks" || k === "remoteIpBlocks" || k === "notRemoteIpBlocks") checkIps(values, p, err);
  }
}

function validateOperation(op: Operation, path: string, err: (p: string, m: string) => void): void {
  if (OPERATION_FIELDS.every((k) => (op[k]?.length ?? 0) === 0)) err(path, "`to.operation` must not be empty");
  for (const k of OPERATION_FIELDS) {
    const values = op[k];
    if (values === undefined) continue;
    const p = `${path}.${k}`;
    checkNonEmpty(values, p, err);
    if (k === "ports" || k === "notPorts") checkPorts(values, p, err);
    if (k === "paths" || k === "notPaths") {
      values.forEach((v, i) => {
        const problem = pathTemplateProblem(v);
        if (problem !== undefined) err(`${p}[${i}]`, `invalid or unsupported path ${v}: ${problem}`);
      });
    }
  }
}

function validateCondition(c: Condition | null, path: string, err: (p: string, m: string) => void): void {
  if (c === null || c.key === "") return err(`${path}.key`, "`key` must not be empty");
  if ((c.values?.length ?? 0) === 0 && (c.notValues?.length ?? 0) === 0) {
    return err(path, `at least one of \`values\` or \`notValues\` must be set for key ${c.key}`);
  }
  const keyProblem = attributeKeyProblem(c.key);
  if (keyProblem !== undefined) return err(`${path}.key`, keyProblem);
  for (const field of ["values", "notValues"] as const) {
    const values = c[field];
    if (values === undefined) continue;
    const p = `${path}.${field}`;
    checkNonEmpty(values, p, err);
    if (c.key === ATTR.sourceIp || c.key === ATTR.remoteIp || c.key === ATTR.destinationIp) checkIps(values, p, err);
    if (c.key === ATTR.destinationPort) checkPorts(values, p, err);
    if (c.key === ATTR.sourceServiceAccount) checkServiceAccounts(values, p, err);
    if (c.key === ATTR.sourceTrustDomain) checkTrustDomains(values, p, err);
  }
}

/** Why istiod rejects a `when` key, or undefined when it accepts it. */
export function attributeKeyProblem(key: string): string | undefined {
  const mapKey = (k: string): string | undefined => (hasMapKeyForm(k) ? undefined : `bad key (${k}): should have format a[b]`);
  if (key.startsWith(ATTR.requestHeader) || key.startsWith(ATTR.requestInlineHeader) || key.startsWith(ATTR.requestClaims) || key.startsWith(ATTR.envoyFilter)) {
    return mapKey(key);
  }
  const exact: readonly string[] = [
    ATTR.sourceIp, ATTR.remoteIp, ATTR.sourceNamespace, ATTR.sourceServiceAccount, ATTR.sourceTrustDomain, ATTR.sourcePrincipal,
    ATTR.requestPrincipal, ATTR.requestAudiences, ATTR.requestPresenter, ATTR.destinationIp, ATTR.destinationPort, ATTR.connectionSni,
  ];
  if (exact.includes(key)) return undefined;
  const rejected = REJECTED_ATTR[key];
  if (rejected !== undefined) return `attribute ${key} ${rejected}`;
  if (key.startsWith(DESTINATION_LABELS_PREFIX)) return `attribute ${key} is replaced by the workload selector`;
  return `unknown attribute: ${key}`;
}

function checkNonEmpty(values: readonly string[], path: string, err: (p: string, m: string) => void): void {
  values.forEach((v, i) => v === "" && err(`${path}[${i}]`, "empty value not allowed"));
}

function checkIps(values: readonly string[], path: string, err: (p: string, m: string) => void): void {
  values.forEach((v, i) => {
    const parsed = parseCidr(v);
    if (v !== "" && "error" in parsed) err(`${path}[${i}]`, parsed.error);
  });
}

function checkPorts(values: readonly string[], path: string, err: (p: string, m: string) => void): void {
  values.forEach((v, i) => v !== "" && parsePort(v) === undefined && err(`${path}[${i}]`, `bad port (${v}): must be an integer in [0, 65535]`));
}

function checkServiceAccounts(values: readonly string[], path: string, err: (p: string, m: string) => void): void {
  if (values.length > MAX_SERVICE_ACCOUNTS) err(path, `may not have more than ${MAX_SERVICE_ACCOUNTS} values`);
  values.forEach((v, i) => {
    const p = `${path}[${i}]`;
    if (v === "") return err(p, "empty value not allowed");
    if (v.includes("*")) return err(p, "wildcard not allowed");
    const slashes = v.split("/").length - 1;
    if (slashes > 1) return err(p, `expected format 'serviceAccount' or 'namespace/serviceAccount', found "${v}"`);
    if (v.length > MAX_SERVICE_ACCOUNT_LENGTH) return err(p, `value cannot exceed ${MAX_SERVICE_ACCOUNT_LENGTH} characters`);
    const [ns, sa] = slashes === 1 ? v.split("/") : ["x", v];
    if (ns === "") err(p, `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace "${v}"`);
    if (sa === "") err(p, `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount "${v}"`);
  });
}

function checkTrustDomains(values: readonly string[], path: string, err: (p: string, m: string) => void): void {
  values.forEach((v, i) => {
    const p = `${path}[${i}]`;
    if (v === "") return err(p, "empty value not allowed");
    if (v.includes("/")) return err(p, `trust domain must not contain '/', found "${v}"`);
    const stars = v.split("*").length - 1;
    if (stars > 1 || (stars === 1 && v !== "*" && !v.startsWith("*") && !v.endsWith("*"))) {
      err(p, `trust domain may have one wildcard, only at its start or end, found "${v}"`);
    }
  });
}
