// A stand-in for Envoy's own config validation: the protoc-gen-validate `validate.rules`
// annotations in Envoy's protos, checked over protobuf-es descriptors, recursing into Any as
// Envoy's MessageUtil::validate does. No JavaScript PGV exists (xds-protocol.md §6); treat the
// result as a lint of what Envoy would NACK, not as a replacement for real clients' checks.
import { fromBinary, type DescMessage, type MessageShape, type Registry } from "@bufbuild/protobuf";
import { walkMessage } from "./plan.js";
import { generatedTypes } from "./registry.js";
import { Walk, type ValidateOptions, type Violation } from "./violation.js";

export type { ValidateOptions, Violation } from "./violation.js";

export interface ValidatorOptions extends ValidateOptions {
  /** Types for resolving Any; defaults to everything meshward generates. */
  readonly types?: Registry;
}

/** Every rule `message` breaks, in field order, with paths from `message` itself. */
export function validateMessage<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, options: ValidatorOptions = {}): Violation[] {
  const walk = new Walk(options.types ?? generatedTypes(), options.strictAny ?? false);
  walkMessage(schema, message, walk);
  return walk.violations;
}

/** Decodes `bytes` as the message `typeUrl` names (as inside an Any) and validates it. */
export function validateEncoded(typeUrl: string, bytes: Uint8Array, options: ValidatorOptions = {}): Violation[] {
  const types = options.types ?? generatedTypes();
  const typeName = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  const schema = types.getMessage(typeName);
  if (schema === undefined) return [{ path: "", rule: "any.unknown_type", message: `type URL ${JSON.stringify(typeUrl)} names no known message` }];
  let message: MessageShape<DescMessage>;
  try {
    message = fromBinary(schema, bytes);
  } catch (e) {
    return [{ path: "", rule: "any.decode", message: `bytes do not decode as ${typeName}: ${(e as Error).message}` }];
  }
  return validateMessage(schema, message, { ...options, types });
}

export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.path || "(root)"}: ${v.message} [${v.rule}]`).join("\n");
}

/** Throws an Error listing every violation; for tests and for guarding resources before they are sent. */
export function assertValid<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, options?: ValidatorOptions): void {
  const violations = validateMessage(schema, message, options);
  if (violations.length > 0) {
    throw new Error(`${schema.typeName} breaks Envoy's validation rules:\n${formatViolations(violations)}`);
  }
}
