// Admission of AuthorizationPolicy objects into the model: read, validate, and keep each policy
// or reject it alone. Every finding names the file, the object and the field path.
import { type ConfigError, type ConfigObject, objectRef } from "../model/config.js";
import { type AuthorizationPolicy, isAuthorizationPolicy, readAuthorizationPolicy } from "./policy.js";
import { validateAuthorizationPolicy } from "./validate.js";
import type { FieldProblem } from "./spec-reader.js";

export interface AdmittedPolicies {
  readonly policies: AuthorizationPolicy[];
  /** Errors (the policy was rejected) and warnings (it was kept). */
  readonly findings: ConfigError[];
}

function finding(o: ConfigObject, p: FieldProblem): ConfigError {
  const file = o.origin.document === undefined ? o.origin.file : `${o.origin.file}#${o.origin.document}`;
  return { file, object: objectRef(o), path: p.path, message: p.message, severity: p.severity };
}

export interface CheckedPolicy {
  /** Absent when the object was rejected. */
  readonly policy?: AuthorizationPolicy;
  readonly errors: readonly FieldProblem[];
  readonly warnings: readonly FieldProblem[];
}

/** Reads and validates one AuthorizationPolicy object. */
export function checkAuthorizationPolicy(o: ConfigObject): CheckedPolicy {
  const read = readAuthorizationPolicy(o);
  if (!read.ok) return { errors: read.problems, warnings: [] };
  const { errors, warnings } = validateAuthorizationPolicy(read.policy.spec, read.policy.annotations);
  return errors.length === 0 ? { policy: read.policy, errors, warnings } : { errors, warnings };
}

/** Admits the AuthorizationPolicies among `objects` (other kinds are ignored). */
export function admitAuthorizationPolicies(objects: readonly ConfigObject[]): AdmittedPolicies {
  const out: AdmittedPolicies = { policies: [], findings: [] };
  for (const o of objects) {
    if (!isAuthorizationPolicy(o)) continue;
    const checked = checkAuthorizationPolicy(o);
    out.findings.push(...checked.errors.map((p) => finding(o, p)), ...checked.warnings.map((p) => finding(o, p)));
    if (checked.policy !== undefined) out.policies.push(checked.policy);
  }
  return out;
}
