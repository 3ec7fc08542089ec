// The PGV rule kinds Envoy's generated API does not use, on test-only messages
// (fixtures/pgv_cases.proto): each broken value is reported at its path with its rule, and the
// valid value passes.
import { strict as assert } from "node:assert";
import { fromJson, type FileRegistry, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { validateMessage, type Violation } from "../../src/validate/pgv.js";
import { compileFixtureTypes, fixtureMessage } from "./fixture-types.js";

interface Case {
  readonly message: string;
  readonly path: string;
  readonly rule: string;
  readonly bad: JsonObject;
  readonly good: JsonObject;
}

/** A case about one top-level field. */
const field = (message: string, name: string, rule: string, bad: JsonValue, good: JsonValue): Case => ({
  message, path: name, rule, bad: { [name]: bad }, good: { [name]: good },
});

const b64 = (...bytes: number[]): string => Buffer.from(bytes).toString("base64");
const text64 = (s: string): string => Buffer.from(s).toString("base64");
const inner = "type.googleapis.com/meshward.test.pgv.Inner";
const disabledType = "type.googleapis.com/meshward.test.pgv.Disabled";
const iso = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();
const hour = 3_600_000;

const cases: Case[] = [
  field("Strings", "const", "string.const", "Mesh", "mesh"),
  field("Strings", "len", "string.len", "ab", "a\u{1F600}b"),
  field("Strings", "len_bytes", "string.len_bytes", "ééé", "éé"),
  field("Strings", "min_bytes", "string.min_bytes", "a", "é"),
  field("Strings", "max_len", "string.max_len", "éééé", "ééé"),
  field("Strings", "prefix", "string.prefix", "http://x", "spiffe://cluster.local/ns/a/sa/b"),
  field("Strings", "suffix", "string.suffix", "a.svc.cluster", "a.svc"),
  field("Strings", "contains", "string.contains", "spiffe://td/sa/x", "spiffe://td/ns/x"),
  field("Strings", "not_contains", "string.not_contains", "a/../b", "a/b"),
  field("Strings", "not_in", "string.not_in", "root", "alice"),
  field("Strings", "hostname", "string.hostname", "-bad.example", "reviews.default.svc.cluster.local."),
  field("Strings", "hostname", "string.hostname", "under_score.example", "x-1.example"),
  field("Strings", "ip", "string.ip", "10.0.0.256", "::1"),
  field("Strings", "ipv4", "string.ipv4", "::1", "10.0.0.1"),
  field("Strings", "ipv6", "string.ipv6", "10.0.0.1", "fd00::1"),
  field("Strings", "uri", "string.uri", "/relative/path", "https://example.com/a?b=c"),
  field("Strings", "uri_ref", "string.uri_ref", "http://exa mple.com", "/relative/path"),
  field("Strings", "address", "string.address", "not a host", "10.1.2.3"),
  field("Strings", "uuid", "string.uuid", "1234", "123e4567-e89b-12d3-a456-426614174000"),
  field("Strings", "email", "string.email", "no-at-sign", "ops@example.com"),
  field("Strings", "pattern", "string.pattern", "abc-1", "ABC12"),
  field("Strings", "header_name", "string.well_known_regex", "x y", ":authority"),

  field("Bytes", "const", "bytes.const", b64(1), b64(1, 2)),
  field("Bytes", "len", "bytes.len", b64(1, 2, 3), b64(1, 2)),
  field("Bytes", "min_len", "bytes.min_len", "", b64(0)),
  field("Bytes", "pattern", "bytes.pattern", text64("ABC"), text64("abc")),
  field("Bytes", "prefix", "bytes.prefix", b64(1, 0x99), b64(0x99, 1)),
  field("Bytes", "suffix", "bytes.suffix", b64(1, 2), b64(2, 1)),
  field("Bytes", "contains", "bytes.contains", text64("ba"), text64("xaby")),
  field("Bytes", "in", "bytes.in", text64("c"), text64("b")),
  field("Bytes", "not_in", "bytes.not_in", text64("a"), text64("b")),
  field("Bytes", "ip", "bytes.ip", b64(1, 2, 3, 4, 5), b64(...new Array<number>(16).fill(0))),
  field("Bytes", "ipv4", "bytes.ipv4", b64(...new Array<number>(16).fill(0)), b64(10, 0, 0, 1)),
  field("Bytes", "ipv6", "bytes.ipv6", b64(10, 0, 0, 1), b64(...new Array<number>(16).fill(0))),

  field("Numbers", "int32_const", "int32.const", 5, -5),
  field("Numbers", "int64_in", "int64.in", "4", "3"),
  field("Numbers", "sint32_not_in", "sint32.not_in", 0, 1),
  field("Numbers", "sint64_gt_lt", "sint64.gt_lt", "-10", "-9"),
  field("Numbers", "sint64_gt_lt", "sint64.gt_lt", "10", "9"),
  field("Numbers", "fixed32_gt_lt_exclusive", "fixed32.gt_lt_exclusive", 15, 21),
  field("Numbers", "fixed32_gt_lt_exclusive", "fixed32.gt_lt_exclusive", 10, 9),
  field("Numbers", "fixed32_gt_lt_exclusive", "fixed32.gt_lt_exclusive", 20, 0),
  field("Numbers", "fixed64_gte_lte_exclusive", "fixed64.gte_lte_exclusive", "11", "20"),
  field("Numbers", "fixed64_gte_lte_exclusive", "fixed64.gte_lte_exclusive", "19", "10"),
  field("Numbers", "int32_gte_lt_exclusive", "int32.gte_lt_exclusive", 0, 10),
  field("Numbers", "int32_gte_lt_exclusive", "int32.gte_lt_exclusive", 9, -1),
  field("Numbers", "sfixed32_gt_lte", "sfixed32.gt_lte", 0, 8),
  field("Numbers", "sfixed32_gt_lte", "sfixed32.gt_lte", 9, 1),
  field("Numbers", "sfixed64_gte", "sfixed64.gte", "-2", "-1"),
  field("Numbers", "float_lt", "float.lt", 1.5, 1.25),
  field("Numbers", "double_gt_lt_exclusive", "double.gt_lt_exclusive", 0.5, 1.5),
  field("Numbers", "double_gt_lt_exclusive", "double.gt_lt_exclusive", 0, -0.5),
  field("Numbers", "uint32_in", "uint32.in", 8080, 443),
  field("Numbers", "uint64_const", "uint64.const", "18446744073709551614", "18446744073709551615"),
  field("Numbers", "bool_const", "bool.const", true, false),
  field("Numbers", "enum_const", "enum.const", "RED", "GREEN"),
  field("Numbers", "enum_in", "enum.in", "BLUE", "RED"),

  field("Collections", "max_items_unique", "repeated.max_items", ["a", "b", "c"], ["a", "b"]),
  { message: "Collections", path: "max_items_unique[1]", rule: "repeated.unique", bad: { max_items_unique: ["a", "a"] }, good: { max_items_unique: ["a", "b"] } },
  { message: "Collections", path: "unique_bytes[1]", rule: "repeated.unique", bad: { unique_bytes: [b64(1), b64(1)] }, good: { unique_bytes: [b64(1), b64(2)] } },
  { message: "Collections", path: "items[1].name", rule: "string.min_len", bad: { items: [{ name: "a" }, {}] }, good: { items: [{ name: "a" }, { name: "b" }] } },
  { message: "Collections", path: "durations[0]", rule: "duration.gte_lt", bad: { durations: ["60s"] }, good: { durations: ["59.999s", "0s"] } },
  { message: "Collections", path: "durations[1]", rule: "duration.gte_lt", bad: { durations: ["1s", "-0.5s"] }, good: { durations: ["1s"] } },
  field("Collections", "max_pairs", "map.max_pairs", { a: { name: "x" }, b: { name: "y" } }, { a: { name: "x" } }),
  { message: "Collections", path: 'max_pairs["a"].name', rule: "string.min_len", bad: { max_pairs: { a: {} } }, good: { max_pairs: { a: { name: "x" } } } },
  { message: "Collections", path: "int_keys[0]", rule: "int64.gt", bad: { int_keys: { "0": "v" } }, good: { int_keys: { "1": "v" } } },
  { message: "Collections", path: "int_keys[1]", rule: "string.min_len", bad: { int_keys: { "1": "" } }, good: { int_keys: { "1": "v" } } },
  { message: "Collections", path: "wrapped[true]", rule: "string.min_len", bad: { wrapped: { true: "x" } }, good: { wrapped: { true: "xy" } } },
  { message: "Collections", path: "wrapped_items[1]", rule: "uint32.lt", bad: { wrapped_items: [1, 10] }, good: { wrapped_items: [1, 9] } },
  { message: "Collections", path: "colors[1]", rule: "repeated.unique", bad: { colors: ["RED", "RED"] }, good: { colors: ["RED", "BLUE"] } },
  { message: "Collections", path: "colors[0]", rule: "enum.defined_only", bad: { colors: [7] }, good: { colors: [3] } },

  { message: "Messages", path: "choice", rule: "oneof.required", bad: {}, good: { b: "ok" } },
  { message: "Messages", path: "b", rule: "string.min_len", bad: { b: "x" }, good: { b: "xy" } },
  { message: "Messages", path: "a.name", rule: "string.min_len", bad: { a: {} }, good: { a: { name: "n" } } },
  { message: "Messages", path: "c", rule: "int32.gt", bad: { c: 0 }, good: { c: 1 } },
  { message: "Messages", path: "plain.name", rule: "string.min_len", bad: { b: "ok", plain: {} }, good: { b: "ok", plain: { name: "n" } } },
  { message: "Messages", path: "next.next.choice", rule: "oneof.required", bad: { b: "ok", next: { b: "ok", next: {} } }, good: { b: "ok", next: { b: "ok", next: { b: "ok" } } } },
  { message: "Messages", path: "wrapped", rule: "string.prefix", bad: { b: "ok", wrapped: "y" }, good: { b: "ok", wrapped: "x1" } },
  { message: "RequiredMessage", path: "required", rule: "message.required", bad: {}, good: { required: { name: "n" } } },

  field("Times", "d_const", "duration.const", "4s", "5s"),
  field("Times", "d_in", "duration.in", "2s", "0.5s"),
  field("Times", "d_not_in", "duration.not_in", "0s", "1s"),
  field("Times", "d_lte", "duration.lte", "1.000000001s", "1s"),
  field("Times", "d_gt_lt_exclusive", "duration.gt_lt_exclusive", "5s", "10.5s"),
  field("Times", "t_lt_now", "timestamp.lt_now", iso(hour), iso(-hour)),
  field("Times", "t_gt_now", "timestamp.gt_now", iso(-hour), iso(hour)),
  field("Times", "t_within", "timestamp.within", iso(-2 * hour), iso(-hour / 2)),
  field("Times", "t_gte", "timestamp.gte", "2020-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
  field("Times", "t_const", "timestamp.const", "1970-01-01T00:00:02Z", "1970-01-01T00:00:01Z"),
  { message: "RequiredTimestamp", path: "at", rule: "timestamp.required", bad: {}, good: { at: "2024-01-01T00:00:00Z" } },

  field("Anys", "in", "any.in", { "@type": disabledType }, { "@type": inner, name: "n" }),
  field("Anys", "not_in", "any.not_in", { "@type": inner, name: "n" }, { "@type": disabledType }),
  { message: "Anys", path: "many[1].name", rule: "string.min_len", bad: { many: [{ "@type": inner, name: "n" }, { "@type": inner }] }, good: { many: [{ "@type": inner, name: "n" }] } },
];

/** Values that break a rule the field's own annotations exempt from checking. */
const exempt: { message: string; what: string; value: JsonObject }[] = [
  { message: "Collections", what: "repeated items with message.skip", value: { items_skip: [{}] } },
  { message: "Collections", what: "map values with message.skip", value: { values_skip: { a: {} } } },
  { message: "Collections", what: "no_sparse (protobuf-es cannot hold an unset map value)", value: { no_sparse: { a: { name: "n" } } } },
  { message: "Messages", what: "a field with message.skip", value: { b: "ok", skipped: {} } },
  { message: "Messages", what: "a message with validate.disabled", value: { b: "ok", disabled: {} } },
  { message: "Messages", what: "an unset wrapper", value: { b: "ok" } },
  { message: "Strings", what: "unset proto3 optional fields", value: {} },
];

describe("PGV rules on fixture messages", function () {
  let types: FileRegistry;
  before(() => {
    types = compileFixtureTypes();
  });
  const check = (message: string, json: JsonObject): { path: string; rule: string }[] => {
    const desc = fixtureMessage(types, message);
    const violations: Violation[] = validateMessage(desc, fromJson(desc, json, { registry: types }), { types });
    return violations.map(({ path, rule }) => ({ path, rule }));
  };

  for (const c of cases) {
    it(`${c.rule} at ${c.message}.${c.path}: ${JSON.stringify(c.bad)}`, () => {
      assert.deepEqual(check(c.message, c.bad), [{ path: c.path, rule: c.rule }]);
      assert.deepEqual(check(c.message, c.good), []);
    });
  }
  for (const e of exempt) {
    it(`does not check ${e.what}`, () => {
      assert.deepEqual(check(e.message, e.value), []);
    });
  }

  it("reports a rule it cannot evaluate instead of passing the field", () => {
    assert.deepEqual(check("Strings", { unsupported: "aaa" }), [{ path: "unsupported", rule: "pgv.unsupported" }]);
    assert.deepEqual(check("Strings", { const: "mesh" }), []);
  });

  it("prefixes a map key's violation so it is not read as the value's", () => {
    const desc = fixtureMessage(types, "Collections");
    const [v] = validateMessage(desc, fromJson(desc, { int_keys: { "-3": "v" } }, { registry: types }), { types });
    assert.match(v?.message ?? "", /^map key: value must be greater than 0$/);
  });
});
