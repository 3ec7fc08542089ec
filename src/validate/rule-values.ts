// Reads the constraints that are actually set in a validate.*Rules message. validate.proto is
// proto2, so an unset `gt` reads as 0: presence must come from isFieldSet, not the value.
import { isFieldSet, type DescMessage, type Message } from "@bufbuild/protobuf";

/** The set fields of a rules message, by proto field name (`min_len`, `not_in`, ...). */
export function setRuleValues(schema: DescMessage, rules: Message): Map<string, unknown> {
  const set = new Map<string, unknown>();
  const record = rules as unknown as Record<string, unknown>;
  for (const field of schema.fields) {
    if (field.oneof) continue; // well_known is read by its owner
    if (!isFieldSet(rules, field)) continue;
    const value = record[field.localName];
    if (Array.isArray(value) && value.length === 0) continue;
    set.set(field.name, value);
  }
  return set;
}
