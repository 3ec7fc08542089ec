// Repeated and map fields: the rules on the collection itself (`repeated.*`, `map.*`), then the
// item / key / value rules for each element, with `[index]` or `["key"]` path segments.
import { ScalarType, type DescField } from "@bufbuild/protobuf";
import { MapRulesSchema, RepeatedRulesSchema, type FieldRules } from "../gen/validate/validate_pb.js";
import { setRuleValues } from "./rule-values.js";
import { scalarRulesCheck } from "./value-rules.js";
import type { ValueCheck, Walk } from "./violation.js";

/** Builds the check for one list item or map value of `field` under `rules` (items / values). */
export type ItemCheck = (field: DescField, rules: FieldRules | undefined) => ValueCheck | undefined;

export function collectionCheck(field: DescField, rules: FieldRules | undefined, item: ItemCheck): ValueCheck | undefined {
  return field.fieldKind === "map" ? mapCheck(field, rules, item) : listCheck(field, rules, item);
}

type SizeCheck = (size: number, walk: Walk) => void;

function sizeChecks(set: ReadonlyMap<string, unknown>, kind: string, min: string, max: string, unit: string): SizeCheck[] {
  const checks: SizeCheck[] = [];
  if (set.has(min)) {
    const lo = Number(set.get(min) as bigint);
    checks.push((n, walk) => {
      if (n < lo) walk.report(`${kind}.${min}`, `value must contain at least ${lo} ${unit}`);
    });
  }
  if (set.has(max)) {
    const hi = Number(set.get(max) as bigint);
    checks.push((n, walk) => {
      if (n > hi) walk.report(`${kind}.${max}`, `value must contain no more than ${hi} ${unit}`);
    });
  }
  return checks;
}

/** A comparable identity for `unique`: bytes by content, boxed wrappers by their value. */
function uniqueKey(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (typeof value === "object" && value !== null && "value" in value) return uniqueKey(value.value);
  return value;
}

function listCheck(field: DescField, rules: FieldRules | undefined, item: ItemCheck): ValueCheck | undefined {
  const repeated = rules?.type.case === "repeated" ? rules.type.value : undefined;
  const set = repeated ? setRuleValues(RepeatedRulesSchema, repeated) : new Map<string, unknown>();
  const sizes = sizeChecks(set, "repeated", "min_items", "max_items", "item(s)");
  const unique = set.get("unique") === true && field.fieldKind === "list" && field.listKind !== "message";
  const each = item(field, repeated?.items);
  if (sizes.length === 0 && !unique && each === undefined) return undefined;
  return (value, walk) => {
    const list = value as readonly unknown[];
    for (const size of sizes) size(list.length, walk);
    if (unique) {
      const seen = new Set<unknown>();
      for (let i = 0; i < list.length; i++) {
        const key = uniqueKey(list[i]);
        if (seen.has(key)) {
          walk.enter(`[${i}]`);
          walk.report("repeated.unique", "repeated value must contain unique items");
          walk.leave();
        }
        seen.add(key);
      }
    }
    if (each === undefined) return;
    for (let i = 0; i < list.length; i++) {
      walk.enter(`[${i}]`);
      each(list[i], walk);
      walk.leave();
    }
  };
}

function mapCheck(field: DescField, rules: FieldRules | undefined, item: ItemCheck): ValueCheck | undefined {
  if (field.fieldKind !== "map") return undefined;
  const map = rules?.type.case === "map" ? rules.type.value : undefined;
  const set = map ? setRuleValues(MapRulesSchema, map) : new Map<string, unknown>();
  // no_sparse needs unset message values, which protobuf-es cannot represent: nothing to check.
  const sizes = sizeChecks(set, "map", "min_pairs", "max_pairs", "pair(s)");
  const keyType = field.mapKey;
  const key = scalarRulesCheck(map?.keys);
  const each = item(field, map?.values);
  if (sizes.length === 0 && key === undefined && each === undefined) return undefined;
  const segment = keyType === ScalarType.STRING ? (k: string) => `[${JSON.stringify(k)}]` : (k: string) => `[${k}]`;
  return (value, walk) => {
    const entries = value as Readonly<Record<string, unknown>>;
    const keys = Object.keys(entries);
    for (const size of sizes) size(keys.length, walk);
    if (key === undefined && each === undefined) return;
    for (const k of keys) {
      walk.enter(segment(k));
      if (key) {
        walk.inMapKey = true;
        key(mapKeyValue(k, keyType), walk);
        walk.inMapKey = false;
      }
      if (each) each(entries[k], walk);
      walk.leave();
    }
  };
}

/** Map keys arrive as object property names; rules compare them in their proto type. */
function mapKeyValue(key: string, type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING:
      return key;
    case ScalarType.BOOL:
      return key === "true";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return BigInt(key);
    default:
      return Number(key);
  }
}
