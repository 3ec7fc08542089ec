// One test per validation rule: the error (or warning) and the field path it names.
import assert from "node:assert/strict";
import { admitAuthorizationPolicies } from "../../src/authz/admit.js";
import { formatConfigError } from "../../src/model/config.js";
import { configObject, type ObjectOptions } from "./helpers.js";

function findings(spec: unknown, o: ObjectOptions = {}): { errors: string[]; warnings: string[]; admitted: number } {
  const res = admitAuthorizationPolicies([configObject(spec, o)]);
  const fmt = (sev: string): string[] => res.findings.filter((f) => f.severity === sev).map((f) => `${f.path}: ${f.message}`);
  return { errors: fmt("error"), warnings: fmt("warning"), admitted: res.policies.length };
}

function assertError(spec: unknown, path: string, message: RegExp, o: ObjectOptions = {}): void {
  const f = findings(spec, o);
  assert.equal(f.admitted, 0, `expected rejection: ${JSON.stringify(spec)}`);
  assert.ok(f.errors.some((e) => e.startsWith(`${path}: `) && message.test(e)), `no error at ${path} matching ${message}; got ${JSON.stringify(f.errors)}`);
}

describe("authz validation: shape", () => {
  it("unknown fields are rejected with their path", () => {
    assertError({ rules: [{ from: [{ source: { principal: ["x"] } }] }] }, "spec.rules[0].from[0].source.principal", /unknown field "principal"/);
  });
  it("lists must hold strings (a bare YAML number is not a port string)", () => {
    assertError({ rules: [{ to: [{ operation: { ports: [80] } }] }] }, "spec.rules[0].to[0].operation.ports[0]", /must be a string.*quote it/);
  });
  it("action must be one of ALLOW, DENY, AUDIT, CUSTOM", () => {
    assertError({ action: "REJECT" }, "spec.action", /must be one of ALLOW, DENY, AUDIT, CUSTOM/);
  });
});

describe("authz validation: istiod rules", () => {
  it("a null rule", () => assertError({ rules: [null] }, "spec.rules[0]", /must not be null/));
  it("empty `from` and `to` lists", () => {
    assertError({ rules: [{ from: [] }] }, "spec.rules[0].from", /must not be empty/);
    assertError({ rules: [{ to: [] }] }, "spec.rules[0].to", /must not be empty/);
  });
  it("`from` without source, `to` without operation", () => {
    assertError({ rules: [{ from: [{}] }] }, "spec.rules[0].from[0].source", /must not be null/);
    assertError({ rules: [{ to: [{}] }] }, "spec.rules[0].to[0].operation", /must not be null/);
  });
  it("empty source and operation", () => {
    assertError({ rules: [{ from: [{ source: {} }] }] }, "spec.rules[0].from[0].source", /must not be empty/);
    assertError({ rules: [{ to: [{ operation: { paths: [] } }] }] }, "spec.rules[0].to[0].operation", /must not be empty/);
  });
  it("empty string values", () => {
    assertError({ rules: [{ from: [{ source: { principals: [""] } }] }] }, "spec.rules[0].from[0].source.principals[0]", /empty value not allowed/);
    assertError({ rules: [{ to: [{ operation: { notHosts: ["a", ""] } }] }] }, "spec.rules[0].to[0].operation.notHosts[1]", /empty value/);
  });
  it("bad IPs and CIDRs", () => {
    assertError({ rules: [{ from: [{ source: { ipBlocks: ["10.0.0.256"] } }] }] }, "spec.rules[0].from[0].source.ipBlocks[0]", /bad IP address/);
    assertError({ rules: [{ from: [{ source: { notRemoteIpBlocks: ["10.0.0.0/33"] } }] }] }, "spec.rules[0].from[0].source.notRemoteIpBlocks[0]", /bad CIDR range/);
    assertError({ rules: [{ when: [{ key: "destination.ip", values: ["x"] }] }] }, "spec.rules[0].when[0].values[0]", /bad IP/);
  });
  it("ports outside 0-65535", () => {
    assertError({ rules: [{ to: [{ operation: { ports: ["65536"] } }] }] }, "spec.rules[0].to[0].operation.ports[0]", /bad port/);
    assertError({ rules: [{ when: [{ key: "destination.port", notValues: ["http"] }] }] }, "spec.rules[0].when[0].notValues[0]", /bad port/);
  });
  it("serviceAccounts: no wildcards, `sa` or `ns/sa`, at most 16, not with namespaces or principals", () => {
    const src = (s: unknown): unknown => ({ rules: [{ from: [{ source: s }] }] });
    assertError(src({ serviceAccounts: ["ns/*"] }), "spec.rules[0].from[0].source.serviceAccounts[0]", /wildcard not allowed/);
    assertError(src({ serviceAccounts: ["a/b/c"] }), "spec.rules[0].from[0].source.serviceAccounts[0]", /expected format/);
    assertError(src({ serviceAccounts: ["/sa"] }), "spec.rules[0].from[0].source.serviceAccounts[0]", /empty namespace/);
    assertError(src({ serviceAccounts: Array.from({ length: 17 }, (_, i) => `sa${i}`) }), "spec.rules[0].from[0].source.serviceAccounts", /more than 16/);
    assertError(src({ serviceAccounts: ["sa"], namespaces: ["ns"] }), "spec.rules[0].from[0].source", /cannot set serviceAccounts with namespaces or principals/);
    assertError(src({ notServiceAccounts: ["x".repeat(321)] }), "spec.rules[0].from[0].source.notServiceAccounts[0]", /320 characters/);
  });
  it("trustDomains: one wildcard, only at an end, no `/`", () => {
    const src = (v: string): unknown => ({ rules: [{ from: [{ source: { trustDomains: [v] } }] }] });
    assertError(src("a*b"), "spec.rules[0].from[0].source.trustDomains[0]", /one wildcard, only at its start or end/);
    assertError(src("*a*"), "spec.rules[0].from[0].source.trustDomains[0]", /one wildcard/);
    assertError(src("td/ns"), "spec.rules[0].from[0].source.trustDomains[0]", /must not contain '\/'/);
  });
  it("path templates: {**} last, no other braces, pchar literals", () => {
    const paths = (v: string): unknown => ({ rules: [{ to: [{ operation: { paths: [v] } }] }] });
    assertError(paths("/a/{**}/b/{*}"), "spec.rules[0].to[0].operation.paths[0]", /\{\*\*\} is not the last operator/);
    assertError(paths("/a/{id}"), "spec.rules[0].to[0].operation.paths[0]", /beyond a supported path template/);
    assertError(paths("/a b/{*}"), "spec.rules[0].to[0].operation.paths[0]", /invalid string literal/);
    assert.equal(findings(paths("/a/{**}/b")).admitted, 1, "{**} in the middle followed by literals is allowed");
    assertError(paths(`/${"a".repeat(260)}/{*}`), "spec.rules[0].to[0].operation.paths[0]", /at most 256 characters/);
  });
  it("when: key required, values or notValues required, known keys only", () => {
    assertError({ rules: [{ when: [{ values: ["x"] }] }] }, "spec.rules[0].when[0].key", /must not be empty/);
    assertError({ rules: [{ when: [{ key: "source.ip" }] }] }, "spec.rules[0].when[0]", /at least one of `values` or `notValues`/);
    assertError({ rules: [{ when: [{ key: "source.user", values: ["x"] }] }] }, "spec.rules[0].when[0].key", /unknown attribute: source.user/);
    assertError({ rules: [{ when: [{ key: "destination.namespace", values: ["x"] }] }] }, "spec.rules[0].when[0].key", /replaced by the metadata.namespace/);
    assertError({ rules: [{ when: [{ key: "destination.labels[app]", values: ["x"] }] }] }, "spec.rules[0].when[0].key", /replaced by the workload selector/);
    assertError({ rules: [{ when: [{ key: "destination.user", values: ["x"] }] }] }, "spec.rules[0].when[0].key", /deprecated/);
    assertError({ rules: [{ when: [{ key: "request.headers", values: ["x"] }] }] }, "spec.rules[0].when[0].key", /should have format a\[b\]/);
    assertError({ rules: [{ when: [{ key: "request.auth.claims[]", values: ["x"] }] }] }, "spec.rules[0].when[0].key", /should have format a\[b\]/);
  });
  it("DENY needs rules; provider only with CUSTOM", () => {
    assertError({ action: "DENY" }, "spec.rules", /DENY action without `rules` is meaningless/);
    assertError({ action: "DENY", rules: [] }, "spec.rules", /DENY action without `rules`/);
    assertError({ action: "ALLOW", provider: { name: "x" }, rules: [{}] }, "spec.provider", /must not be with non CUSTOM action/);
  });
  it("CUSTOM: rules, provider.name, no identity sources or identity `when` keys", () => {
    assertError({ action: "CUSTOM", provider: { name: "x" } }, "spec.rules", /CUSTOM action without `rules`/);
    assertError({ action: "CUSTOM", rules: [{}] }, "spec.provider.name", /must not be empty/);
    const custom = (rule: unknown): unknown => ({ action: "CUSTOM", provider: { name: "x" }, rules: [rule] });
    assertError(custom({ from: [{ source: { principals: ["a"] } }] }), "spec.rules[0].from[0].source.principals", /not supported with CUSTOM/);
    assertError(custom({ from: [{ source: { notRequestPrincipals: ["a"] } }] }), "spec.rules[0].from[0].source.notRequestPrincipals", /not supported with CUSTOM/);
    assertError(custom({ when: [{ key: "request.auth.claims[iss]", values: ["a"] }] }), "spec.rules[0].when[0].key", /not supported with CUSTOM/);
    assertError(custom({ when: [{ key: "source.namespace", values: ["a"] }] }), "spec.rules[0].when[0].key", /not supported with CUSTOM/);
    assert.equal(findings(custom({ from: [{ source: { ipBlocks: ["1.2.3.4"] } }] })).admitted, 1);
  });
  it("selector: no wildcards, no empty key; only one of selector, targetRef, targetRefs", () => {
    assertError({ selector: { matchLabels: { app: "web*" } } }, "spec.selector.matchLabels.app", /wildcard is not supported/);
    assertError({ selector: { matchLabels: { a: "b" } }, targetRef: { kind: "Service", name: "s" } }, "spec", /only one of selector, targetRef or targetRefs/);
    assertError({ targetRef: { kind: "Pod", name: "s" } }, "spec.targetRef", /targetRef must be to one of/);
    assertError({ targetRefs: [{ kind: "Service", group: "", name: "s", namespace: "other" }] }, "spec.targetRefs[0].namespace", /cross namespace/);
  });
  it("dry-run annotation: ALLOW/DENY only, a Go bool", () => {
    assertError({ action: "AUDIT", rules: [{}] }, 'metadata.annotations["istio.io/dry-run"]', /only supported on ALLOW and DENY/, { annotations: { "istio.io/dry-run": "true" } });
    assertError({ rules: [{}] }, 'metadata.annotations["istio.io/dry-run"]', /must be "true" or "false"/, { annotations: { "istio.io/dry-run": "yes" } });
    assert.equal(findings({ rules: [{}] }, { annotations: { "istio.io/dry-run": "T" } }).admitted, 1);
  });
});

describe("authz validation: warnings keep the policy", () => {
  it("a DENY rule with only HTTP attributes will deny all TCP traffic", () => {
    const f = findings({ action: "DENY", rules: [{ to: [{ operation: { methods: ["POST"] } }] }] });
    assert.equal(f.admitted, 1);
    assert.ok(f.warnings.some((w) => w.startsWith("spec.rules[0]: ") && /deny all traffic to TCP ports/.test(w)), JSON.stringify(f.warnings));
  });
  it("no warning when the DENY rule names ports or TCP sources", () => {
    assert.deepEqual(findings({ action: "DENY", rules: [{ to: [{ operation: { methods: ["POST"], ports: ["80"] } }] }] }).warnings, []);
    assert.deepEqual(findings({ action: "DENY", rules: [{ from: [{ source: { namespaces: ["x"], requestPrincipals: ["a/b"] } }] }] }).warnings, []);
    const onlyJwt = findings({ action: "DENY", rules: [{ from: [{ source: { requestPrincipals: ["a/b"] } }] }] });
    assert.equal(onlyJwt.warnings.length, 1);
  });
  it("a selector without labels", () => {
    const f = findings({ selector: {} });
    assert.equal(f.admitted, 1);
    assert.deepEqual(f.warnings, ["spec.selector: workload selector specified without labels"]);
  });
  it("targetRef: sidecars ignore the policy", () => {
    const f = findings({ targetRef: { kind: "Gateway", group: "gateway.networking.k8s.io", name: "gw" } });
    assert.equal(f.admitted, 1);
    assert.match(f.warnings.join(), /sidecars and proxyless gRPC workloads ignore this policy/);
  });
});

describe("authz admission", () => {
  it("a bad policy is rejected alone; its error names file, object and field path", () => {
    const good = configObject({ rules: [{}] }, { name: "good" });
    const bad = { ...configObject({ rules: [{ from: [{ source: { ipBlocks: ["nope"] } }] }] }, { name: "bad", file: "mesh/authz.yaml" }), origin: { file: "mesh/authz.yaml", document: 2 } };
    const res = admitAuthorizationPolicies([good, bad]);
    assert.deepEqual(res.policies.map((p) => p.name), ["good"]);
    assert.equal(res.findings.length, 1);
    assert.equal(
      formatConfigError(res.findings[0] ?? assert.fail()),
      "error: mesh/authz.yaml#2: AuthorizationPolicy foo/bad: spec.rules[0].from[0].source.ipBlocks[0]: bad IP address (nope)",
    );
  });
  it("v1beta1 is accepted; other kinds and groups are ignored", () => {
    const beta = configObject({}, { apiVersion: "security.istio.io/v1beta1" });
    const other = { ...configObject({}), kind: "PeerAuthentication" };
    const res = admitAuthorizationPolicies([beta, other, configObject({}, { apiVersion: "example.com/v1" })]);
    assert.equal(res.policies.length, 1);
    assert.deepEqual(res.findings, []);
  });
});
