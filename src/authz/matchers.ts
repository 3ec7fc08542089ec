// Envoy matchers built from Istio's value syntax: `*` (present / non-empty), `prefix*`, `*suffix`
// and exact values. The few helpers every field generator shares.
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { type StringMatcher, StringMatcherSchema } from "../gen/envoy/type/matcher/v3/string_pb.js";
import { type ValueMatcher, ValueMatcherSchema, ListMatcherSchema, OrMatcherSchema } from "../gen/envoy/type/matcher/v3/value_pb.js";
import { type MetadataMatcher, MetadataMatcherSchema, MetadataMatcher_PathSegmentSchema } from "../gen/envoy/type/matcher/v3/metadata_pb.js";
import { type PathMatcher, PathMatcherSchema } from "../gen/envoy/type/matcher/v3/path_pb.js";
import { RegexMatcherSchema } from "../gen/envoy/type/matcher/v3/regex_pb.js";
import { type HeaderMatcher, HeaderMatcherSchema } from "../gen/envoy/config/route/v3/route_components_pb.js";
import { type TypedExtensionConfig, TypedExtensionConfigSchema } from "../gen/envoy/config/core/v3/extension_pb.js";
import { type CidrRange, CidrRangeSchema } from "../gen/envoy/config/core/v3/address_pb.js";
import { UriTemplateMatchConfigSchema } from "../gen/envoy/extensions/path/match/uri_template/v3/uri_template_match_pb.js";
import type { ParsedCidr } from "../model/cidr.js";
import { envoyPathTemplate } from "./path-template.js";

/** Go's regexp.QuoteMeta, as istiod applies it: a backslash before each of `\.+*?()|[]{}^$`. */
export function quoteRegex(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}

export function stringExact(exact: string, ignoreCase = false): StringMatcher {
  return create(StringMatcherSchema, { matchPattern: { case: "exact", value: exact }, ignoreCase });
}
export function stringPrefix(prefix: string, ignoreCase = false): StringMatcher {
  return create(StringMatcherSchema, { matchPattern: { case: "prefix", value: prefix }, ignoreCase });
}
export function stringSuffix(suffix: string, ignoreCase = false): StringMatcher {
  return create(StringMatcherSchema, { matchPattern: { case: "suffix", value: suffix }, ignoreCase });
}
export function stringRegex(regex: string): StringMatcher {
  return create(StringMatcherSchema, { matchPattern: { case: "safeRegex", value: create(RegexMatcherSchema, { regex }) } });
}

/** Istio value → StringMatcher; `*` becomes `.+` so it never matches an empty value. */
export function stringMatcher(v: string): StringMatcher {
  return stringMatcherWithPrefix(v, "");
}

/** As stringMatcher, with `prefix` put in front of the value (ignored for `*`). */
export function stringMatcherWithPrefix(v: string, prefix: string): StringMatcher {
  if (v === "*") return stringRegex(".+");
  // istiod puts the prefix into the regex as it is (its callers pass `spiffe://`, no metacharacters).
  if (v.startsWith("*")) return prefix === "" ? stringSuffix(v.slice(1)) : stringRegex(`${prefix}.*${quoteRegex(v.slice(1))}`);
  if (v.endsWith("*")) return stringPrefix(prefix + v.slice(0, -1));
  return stringExact(prefix + v);
}

function header(name: string, spec: HeaderMatcher["headerMatchSpecifier"]): HeaderMatcher {
  return create(HeaderMatcherSchema, { name, headerMatchSpecifier: spec });
}

function wildcardHeader(name: string, v: string, ignoreCase: boolean): HeaderMatcher {
  if (v === "*") return header(name, { case: "presentMatch", value: true });
  if (v.startsWith("*")) return header(name, { case: "stringMatch", value: stringSuffix(v.slice(1), ignoreCase) });
  if (v.endsWith("*")) return header(name, { case: "stringMatch", value: stringPrefix(v.slice(0, -1), ignoreCase) });
  return header(name, { case: "stringMatch", value: stringExact(v, ignoreCase) });
}

/** Header value match (case-sensitive); `*` means the header is present. */
export function headerMatcher(name: string, v: string): HeaderMatcher {
  return wildcardHeader(name, v, false);
}

/** `:authority` match, case-insensitive as host names are. */
export function hostMatcher(name: string, v: string): HeaderMatcher {
  return wildcardHeader(name, v, true);
}

/** Matches `v` as one element of a comma-separated header value (RFC 7230 list). */
export function inlineHeaderMatcher(name: string, v: string): HeaderMatcher {
  if (v === "*") return header(name, { case: "presentMatch", value: true });
  const re = v.startsWith("*") ? `.*${quoteRegex(v.slice(1))}` : v.endsWith("*") ? `${quoteRegex(v.slice(0, -1))}.*` : quoteRegex(v);
  return header(name, { case: "safeRegexMatch", value: create(RegexMatcherSchema, { regex: `^${re}$|^${re},.*|.*,${re},.*|.*,${re}$` }) });
}

export function pathMatcher(path: string): PathMatcher {
  return create(PathMatcherSchema, { rule: { case: "path", value: stringMatcher(path) } });
}

/** A `{*}`/`{**}` path as Envoy's uri_template matcher extension. */
export function pathTemplateMatcher(path: string): TypedExtensionConfig {
  return create(TypedExtensionConfigSchema, {
    name: "uri-template",
    typedConfig: anyPack(UriTemplateMatchConfigSchema, create(UriTemplateMatchConfigSchema, { pathTemplate: envoyPathTemplate(path) })),
  });
}

export function stringValue(m: StringMatcher): ValueMatcher {
  return create(ValueMatcherSchema, { matchPattern: { case: "stringMatch", value: m } });
}

/** One matcher stays itself; several become an or_match. */
export function orValue(matchers: ValueMatcher[]): ValueMatcher {
  if (matchers.length === 1 && matchers[0] !== undefined) return matchers[0];
  return create(ValueMatcherSchema, { matchPattern: { case: "orMatch", value: create(OrMatcherSchema, { valueMatchers: matchers }) } });
}

export function stringOrValue(values: readonly string[]): ValueMatcher {
  return orValue(values.map((v) => stringValue(stringMatcher(v))));
}

/** A list matcher whose element matches `value`. */
export function listValue(value: ValueMatcher): ValueMatcher {
  return create(ValueMatcherSchema, { matchPattern: { case: "listMatch", value: create(ListMatcherSchema, { matchPattern: { case: "oneOf", value } }) } });
}

export function metadataMatcher(filter: string, keys: readonly string[], value: ValueMatcher): MetadataMatcher {
  return create(MetadataMatcherSchema, {
    filter,
    path: keys.map((key) => create(MetadataMatcher_PathSegmentSchema, { segment: { case: "key", value: key } })),
    value,
  });
}

/** Matches a metadata value that is either a list containing a match or a plain matching value. */
export function metadataListOrValueMatcher(filter: string, keys: readonly string[], value: ValueMatcher): MetadataMatcher {
  return metadataMatcher(filter, keys, orValue([listValue(value), value]));
}

export function cidrRange(parsed: ParsedCidr): CidrRange {
  return create(CidrRangeSchema, { addressPrefix: parsed.addressPrefix, prefixLen: parsed.prefixLen });
}
