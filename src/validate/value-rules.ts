// The rules of one FieldRules applied to one present value: a scalar, an enum, or a message of
// a well-known type (wrapper, Duration, Timestamp, Any). Recursion into messages is plan.ts's.
import type { DescEnum, DescMessage, Message } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { AnyRulesSchema, BoolRulesSchema, EnumRulesSchema, FieldRulesSchema, type FieldRules } from "../gen/validate/validate_pb.js";
import { boolCheck, boundsCheck, boundsFrom, enumCheck, numericValue } from "./numeric.js";
import { setRuleValues } from "./rule-values.js";
import { bytesCheck, stringCheck } from "./strings.js";
import { durationCheck, timestampCheck } from "./time.js";
import type { ValueCheck } from "./violation.js";

const numericKinds = new Set([
  "float", "double", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64",
]);

function rulesSchema(kind: string): DescMessage {
  const field = FieldRulesSchema.fields.find((f) => f.localName === kind);
  if (field?.message === undefined) throw new Error(`validate.FieldRules has no message field ${kind}`);
  return field.message;
}

/** Rules for a scalar or enum value (also the inner value of a wrapper). */
export function scalarRulesCheck(rules: FieldRules | undefined, enumDesc?: DescEnum): ValueCheck | undefined {
  const t = rules?.type;
  if (t?.case === undefined) return undefined;
  if (numericKinds.has(t.case)) {
    return boundsCheck(t.case, boundsFrom(setRuleValues(rulesSchema(t.case), t.value as Message)), numericValue);
  }
  switch (t.case) {
    case "bool":
      return boolCheck(setRuleValues(BoolRulesSchema, t.value));
    case "string":
      return stringCheck(t.value);
    case "bytes":
      return bytesCheck(t.value);
    case "enum":
      return enumDesc ? enumCheck(setRuleValues(EnumRulesSchema, t.value), enumDesc) : undefined;
    default:
      return undefined;
  }
}

/**
 * Rules for a present message value of type `desc`. `unboxed` says the value is a wrapper's
 * inner scalar (protobuf-es unwraps singular wrapper fields outside oneofs).
 */
export function messageRulesCheck(rules: FieldRules | undefined, desc: DescMessage, unboxed: boolean): ValueCheck | undefined {
  const t = rules?.type;
  if (t?.case === undefined) return undefined;
  if (isWrapperDesc(desc)) {
    const inner = scalarRulesCheck(rules);
    if (inner === undefined || unboxed) return inner;
    return (value, walk) => inner((value as { value: unknown }).value, walk);
  }
  switch (t.case) {
    case "duration":
      return durationCheck(t.value);
    case "timestamp":
      return timestampCheck(t.value);
    case "any":
      return anyTypeCheck(setRuleValues(AnyRulesSchema, t.value));
    default:
      return undefined;
  }
}

function anyTypeCheck(set: ReadonlyMap<string, unknown>): ValueCheck | undefined {
  const allowed = set.get("in") as string[] | undefined;
  const denied = set.get("not_in") as string[] | undefined;
  if (allowed === undefined && denied === undefined) return undefined;
  const allow = allowed && new Set(allowed);
  const deny = denied && new Set(denied);
  return (value, walk) => {
    const typeUrl = (value as Any).typeUrl;
    if (allow && !allow.has(typeUrl)) walk.report("any.in", `type URL must be in list ${JSON.stringify(allowed)}`);
    if (deny?.has(typeUrl)) walk.report("any.not_in", `type URL must not be in list ${JSON.stringify(denied)}`);
  };
}

/** The rule broken by an absent message value, if its rules require presence. */
export function requiredRule(rules: FieldRules | undefined): string | undefined {
  if (rules === undefined) return undefined;
  if (rules.message?.required) return "message.required";
  const t = rules.type;
  if ((t.case === "duration" || t.case === "timestamp" || t.case === "any") && t.value.required) return `${t.case}.required`;
  return undefined;
}
