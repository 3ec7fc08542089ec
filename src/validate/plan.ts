// Per-message rule plans, built once per descriptor and cached: for each field the checks its
// `validate.rules` ask for and the recursion into nested messages, list items, map values and
// google.protobuf.Any payloads (resolved through the walk's registry).
import { fromBinary, getOption, hasOption, type DescField, type DescMessage, type DescOneof } from "@bufbuild/protobuf";
import { isWrapperDesc, type Any } from "@bufbuild/protobuf/wkt";
import { disabled, required as oneofRequired, rules as fieldRules, type FieldRules } from "../gen/validate/validate_pb.js";
import { collectionCheck } from "./collections.js";
import { messageRulesCheck, requiredRule, scalarRulesCheck } from "./value-rules.js";
import { allOf, type ValueCheck, type Walk } from "./violation.js";

type Fields = Record<string, unknown>;
type MessageCheck = (message: Fields, walk: Walk) => void;

interface MessagePlan {
  readonly checks: MessageCheck[];
  /** True while the plan's own fields are being planned (a recursive type refers to itself). */
  building: boolean;
}

const plans = new WeakMap<DescMessage, MessagePlan>();
const anyTypeName = "google.protobuf.Any";

/** Checks `message` (of type `desc`) and everything below it, reporting into `walk`. */
export function walkMessage(desc: DescMessage, message: unknown, walk: Walk): void {
  if (desc.typeName === anyTypeName) {
    walkAny(message as Any, walk);
    return;
  }
  for (const check of planFor(desc).checks) check(message as Fields, walk);
}

/** Envoy validates an Any's payload as the message its type URL names (recursivePgvCheck). */
function walkAny(any: Any, walk: Walk): void {
  const typeName = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  const desc = walk.types.getMessage(typeName);
  if (desc === undefined) {
    if (walk.strictAny) walk.report("any.unknown_type", `type URL ${JSON.stringify(any.typeUrl)} names no known message`);
    return;
  }
  let payload: unknown;
  try {
    payload = fromBinary(desc, any.value);
  } catch (e) {
    walk.report("any.decode", `payload does not decode as ${desc.typeName}: ${(e as Error).message}`);
    return;
  }
  walkMessage(desc, payload, walk);
}

function planFor(desc: DescMessage): MessagePlan {
  let plan = plans.get(desc);
  if (plan) return plan;
  plan = { checks: [], building: true };
  plans.set(desc, plan);
  if (!getOption(desc, disabled)) {
    for (const member of desc.members) {
      const check = member.kind === "oneof" ? oneofCheck(member) : fieldCheck(member);
      if (check) plan.checks.push(check);
    }
  }
  plan.building = false;
  return plan;
}

/** Whether values of this type can break a rule; cycles count as yes until planned. */
function mayViolate(desc: DescMessage): boolean {
  if (desc.typeName === anyTypeName) return true;
  // Other well-known types carry no rules; Struct and friends are stored as plain JSON values.
  if (desc.file.name.startsWith("google/protobuf/")) return false;
  const plan = planFor(desc);
  return plan.building || plan.checks.length > 0;
}

function rulesOf(field: DescField): FieldRules | undefined {
  return hasOption(field, fieldRules) ? getOption(field, fieldRules) : undefined;
}

/** Checks for one present value of the field's element type (the field, a list item, a map value): its own rules plus recursion. */
function elementCheck(field: DescField, rules: FieldRules | undefined): ValueCheck | undefined {
  const message = field.message;
  if (message === undefined) return scalarRulesCheck(rules, field.enum);
  const unboxed = field.fieldKind === "message" && field.oneof === undefined && isWrapperDesc(message);
  const checks: ValueCheck[] = [];
  const own = messageRulesCheck(rules, message, unboxed);
  if (own) checks.push(own);
  if (!rules?.message?.skip && mayViolate(message)) {
    checks.push((value, walk) => walkMessage(message, value, walk));
  }
  return allOf(checks);
}

/** A singular field's check on its value: absence against required rules, presence against the rest. */
function singularCheck(field: DescField, rules: FieldRules | undefined): ValueCheck | undefined {
  const present = elementCheck(field, rules);
  const required = field.fieldKind === "message" ? requiredRule(rules) : undefined;
  if (present === undefined && required === undefined) return undefined;
  return (value, walk) => {
    if (value === undefined) {
      if (required) walk.report(required, "value is required");
    } else if (present) {
      present(value, walk);
    }
  };
}

/**
 * Builds a field's check. A rule this checker cannot evaluate (RE2 syntax with no JavaScript
 * equivalent) is reported whenever the field holds a value, never skipped.
 */
function planned(build: () => ValueCheck | undefined): ValueCheck | undefined {
  try {
    return build();
  } catch (e) {
    const why = (e as Error).message;
    return (value, walk) => {
      if (value !== undefined) walk.report("pgv.unsupported", `rule cannot be checked here: ${why}`);
    };
  }
}

function fieldCheck(field: DescField): MessageCheck | undefined {
  const rules = rulesOf(field);
  const check = planned(() =>
    field.fieldKind === "list" || field.fieldKind === "map" ? collectionCheck(field, rules, elementCheck) : singularCheck(field, rules),
  );
  if (check === undefined) return undefined;
  const { localName, name } = field;
  return (message, walk) => {
    walk.enter(name);
    check(message[localName], walk);
    walk.leave();
  };
}

function oneofCheck(oneof: DescOneof): MessageCheck | undefined {
  const isRequired = getOption(oneof, oneofRequired);
  const members = new Map<string, { name: string; check: ValueCheck }>();
  for (const field of oneof.fields) {
    const check = planned(() => singularCheck(field, rulesOf(field)));
    if (check) members.set(field.localName, { name: field.name, check });
  }
  if (!isRequired && members.size === 0) return undefined;
  const { localName, name } = oneof;
  return (message, walk) => {
    const selected = message[localName] as { case: string | undefined; value?: unknown };
    if (selected.case === undefined) {
      if (isRequired) {
        walk.enter(name);
        walk.report("oneof.required", `exactly one field of oneof ${name} must be set`);
        walk.leave();
      }
      return;
    }
    const member = members.get(selected.case);
    if (member === undefined) return;
    walk.enter(member.name);
    member.check(selected.value, walk);
    walk.leave();
  };
}
