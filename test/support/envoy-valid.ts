// For any test that produces Envoy resources: assert they pass Envoy's own validation rules
// (validate.rules, recursing into Any), as a stand-in for the Envoy that cannot run here.
import { AssertionError } from "node:assert";
import type { EncodedResource } from "../../src/xds/types.js";
import { formatViolations, validateEncoded, type ValidateOptions } from "../../src/validate/pgv.js";

/**
 * Throws an AssertionError listing every violation when `bytes` (the message inside an Any, as in
 * EncodedResource.bytes) breaks a rule. `what` names the resource in the failure message.
 */
export function expectEnvoyValid(typeUrl: string, bytes: Uint8Array, what = typeUrl, options?: ValidateOptions): void {
  const violations = validateEncoded(typeUrl, bytes, options);
  if (violations.length === 0) return;
  throw new AssertionError({
    message: `${what} would be rejected by Envoy's validation rules:\n${formatViolations(violations)}`,
    actual: violations,
    expected: [],
    operator: "expectEnvoyValid",
  });
}

/** expectEnvoyValid for each resource, reporting all broken resources at once. */
export function expectEnvoyValidResources(resources: Iterable<EncodedResource>, options?: ValidateOptions): void {
  const failures: string[] = [];
  for (const r of resources) {
    const violations = validateEncoded(r.typeUrl, r.bytes, options);
    if (violations.length > 0) failures.push(`${r.typeUrl} ${JSON.stringify(r.name)}:\n${formatViolations(violations).replace(/^/gm, "  ")}`);
  }
  if (failures.length > 0) {
    throw new AssertionError({ message: `Envoy would reject ${failures.length} resource(s):\n${failures.join("\n")}`, operator: "expectEnvoyValidResources" });
  }
}
