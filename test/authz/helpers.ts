// Builders shared by the authz unit tests: policies from plain specs (through the real reader and
// validator), and the proto3 JSON of what the translator produced.
import assert from "node:assert/strict";
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import type { ConfigObject } from "../../src/model/config.js";
import { type AuthorizationPolicy, type Rule, readAuthorizationPolicy } from "../../src/authz/policy.js";
import { validateAuthorizationPolicy } from "../../src/authz/validate.js";
import { PolicySchema } from "../../src/gen/envoy/config/rbac/v3/rbac_pb.js";
import { buildRuleModel, generatePolicy, migrateTrustDomain, type RbacActionName } from "../../src/authz/rule-model.js";
import { GenerationError } from "../../src/authz/generators.js";
import { TrustDomainBundle } from "../../src/authz/trust-domain.js";
import { create } from "@bufbuild/protobuf";
import { authzTypeRegistry, httpFilterToJson, networkFilterToJson } from "../../src/authz/json.js";
import type { HttpFilter } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { Filter } from "../../src/gen/envoy/config/listener/v3/listener_components_pb.js";

export interface ObjectOptions {
  name?: string;
  namespace?: string;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  apiVersion?: string;
  file?: string;
}

export function configObject(spec: unknown, o: ObjectOptions = {}): ConfigObject {
  return {
    apiVersion: o.apiVersion ?? "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: {
      name: o.name ?? "p",
      namespace: o.namespace ?? "foo",
      labels: {},
      annotations: o.annotations ?? {},
      ...(o.creationTimestamp !== undefined ? { creationTimestamp: o.creationTimestamp } : {}),
    },
    spec,
    origin: { file: o.file ?? "policies.yaml" },
  };
}

/** A valid policy; fails the test if reading or validation rejects it. */
export function policy(spec: unknown, o: ObjectOptions = {}): AuthorizationPolicy {
  const read = readAuthorizationPolicy(configObject(spec, o));
  assert.ok(read.ok, `policy does not read: ${JSON.stringify(read.ok ? [] : read.problems)}`);
  const { errors } = validateAuthorizationPolicy(read.policy.spec, read.policy.annotations);
  assert.deepEqual(errors, [], "policy does not validate");
  return read.policy;
}

/** The RBAC Policy (proto3 JSON) of one rule, or the GenerationError message. */
export function ruleJson(
  rule: Rule, opts: { forTcp?: boolean; action?: RbacActionName; namespace?: string; bundle?: TrustDomainBundle } = {},
): JsonValue | string {
  const model = buildRuleModel(rule, opts.namespace ?? "foo");
  if (model instanceof GenerationError) return model.message;
  const generated = generatePolicy(migrateTrustDomain(model, opts.bundle ?? new TrustDomainBundle("cluster.local")), opts.forTcp ?? false, opts.action ?? "ALLOW");
  if (generated instanceof GenerationError) return generated.message;
  return toJson(PolicySchema, create(PolicySchema, generated), { registry: authzTypeRegistry });
}

/** The single principal clause (the andIds entries) of a one-`from` rule. */
export function principalIds(rule: Rule, opts: Parameters<typeof ruleJson>[1] = {}): JsonValue[] {
  const j = ruleJson(rule, opts) as { principals: { andIds: { ids: JsonValue[] } }[] };
  return j.principals[0]?.andIds.ids ?? [];
}

/** The single permission clause (the andRules entries) of a one-`to` rule. */
export function permissionRules(rule: Rule, opts: Parameters<typeof ruleJson>[1] = {}): JsonValue[] {
  const j = ruleJson(rule, opts) as { permissions: { andRules: { rules: JsonValue[] } }[] };
  return j.permissions[0]?.andRules.rules ?? [];
}

export const httpJson = (fs: HttpFilter[]): JsonValue[] => fs.map(httpFilterToJson);
export const networkJson = (fs: Filter[]): JsonValue[] => fs.map(networkFilterToJson);

/** `principalName` matcher of an authenticated principal. */
export const authn = (m: JsonValue): JsonValue => ({ authenticated: { principalName: m } });
export const or = (ids: JsonValue[]): JsonValue => ({ orIds: { ids } });
export const orRules = (rules: JsonValue[]): JsonValue => ({ orRules: { rules } });
