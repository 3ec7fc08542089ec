import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { formatConfigError } from "../../src/model/config.js";
import { parseGoDuration } from "../../src/risk/duration.js";
import { parse } from "yaml";
import { SEVERITIES } from "../../src/risk/signal.js";
import {
  RUNTIME_POLICY_ACTIONS,
  RUNTIME_POLICY_API_VERSION,
  RUNTIME_POLICY_SCOPES,
  compileRuntimePolicies,
  selectsPod,
  triggerMatches,
  validateRuntimePolicy,
  type RuntimePolicy,
} from "../../src/risk/runtime-policy.js";
import { configObject, configObjects, podA, signal } from "./fixtures.js";

const FILE = "mesh-config/policies.yaml";

function withRules(rules: string, extra = ""): string {
  return `apiVersion: meshward.io/v1alpha1
kind: RuntimePolicy
metadata: {name: p1, namespace: shop}
spec:
${extra}  rules:
${rules}`;
}

function valid(text: string): RuntimePolicy {
  const r = validateRuntimePolicy(configObject(text, FILE));
  assert.deepEqual(r.errors.map(formatConfigError), []);
  assert.ok(r.policy);
  return r.policy;
}

describe("RuntimePolicy validation", () => {
  const cases: [string, string, string, RegExp][] = [
    ["wrong apiVersion", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT}").replace("meshward.io/v1alpha1", "meshward.io/v1"), "apiVersion", /must be meshward.io\/v1alpha1/],
    ["metadata.name not a DNS label", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT}").replace("name: p1", "name: P_1"), "metadata.name", /DNS label/],
    ["unknown spec field", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT}", "  workloadSelector: {}\n"), "spec.workloadSelector", /unknown field/],
    ["selector not an object", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT}", "  selector: app\n"), "spec.selector", /matchLabels/],
    ["unknown selector field", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT}", "  selector: {labels: {app: x}}\n"), "spec.selector.labels", /unknown field/],
    ["matchLabels not a map", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT}", "  selector: {matchLabels: [app]}\n"), "spec.selector.matchLabels", /map/],
    ["wildcard label value", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT}", "  selector: {matchLabels: {app: 'cart*'}}\n"), "spec.selector.matchLabels.app", /wildcards/],
    ["non-string label value", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT}", "  selector: {matchLabels: {tier: 3}}\n"), "spec.selector.matchLabels.tier", /string/],
    ["empty rules", withRules("    []"), "spec.rules", /non-empty list/],
    ["rule not an object", withRules("  - QUARANTINE"), "spec.rules[0]", /object/],
    ["unknown rule field", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT, when: []}"), "spec.rules[0].when", /unknown field/],
    ["bad rule name", withRules("  - {name: Rule1, trigger: {minSeverity: HIGH}, action: ALERT}"), "spec.rules[0].name", /DNS label/],
    ["duplicate rule name", withRules("  - {name: a, trigger: {minSeverity: HIGH}, action: ALERT}\n  - {name: a, trigger: {minSeverity: LOW}, action: ALERT}"), "spec.rules[1].name", /duplicate/],
    ["missing trigger", withRules("  - {action: ALERT}"), "spec.rules[0].trigger", /required/],
    ["empty trigger", withRules("  - {trigger: {}, action: ALERT}"), "spec.rules[0].trigger", /at least one of/],
    ["unknown trigger field", withRules("  - {trigger: {minSeverty: HIGH}, action: ALERT}"), "spec.rules[0].trigger.minSeverty", /unknown field/],
    ["empty detections", withRules("  - {trigger: {detections: []}, action: ALERT}"), "spec.rules[0].trigger.detections", /non-empty/],
    ["inner wildcard in detection", withRules("  - {trigger: {detections: [ok.id, 'esc*ape']}, action: ALERT}"), "spec.rules[0].trigger.detections[1]", /invalid detection id/],
    ["lower-case severity", withRules("  - {trigger: {minSeverity: high}, action: ALERT}"), "spec.rules[0].trigger.minSeverity", /LOW, MEDIUM, HIGH, CRITICAL/],
    ["unknown severity", withRules("  - {trigger: {minSeverity: SEVERE}, action: ALERT}"), "spec.rules[0].trigger.minSeverity", /LOW, MEDIUM/],
    ["risk score above 100", withRules("  - {trigger: {minRiskScore: 150}, action: ALERT}"), "spec.rules[0].trigger.minRiskScore", /\(0, 100\]/],
    ["risk score zero", withRules("  - {trigger: {minRiskScore: 0}, action: ALERT}"), "spec.rules[0].trigger.minRiskScore", /\(0, 100\]/],
    ["risk score as string", withRules("  - {trigger: {minRiskScore: '50'}, action: ALERT}"), "spec.rules[0].trigger.minRiskScore", /number/],
    ["missing action", withRules("  - {trigger: {minSeverity: HIGH}}"), "spec.rules[0].action", /ALERT, QUARANTINE, ISOLATE_EGRESS, REVOKE/],
    ["unknown action", withRules("  - {trigger: {minSeverity: HIGH}, action: KILL}"), "spec.rules[0].action", /got "KILL"/],
    ["lower-case action", withRules("  - {trigger: {minSeverity: HIGH}, action: quarantine}"), "spec.rules[0].action", /QUARANTINE/],
    ["unknown scope", withRules("  - {trigger: {minSeverity: HIGH}, action: QUARANTINE, scope: NODE}"), "spec.rules[0].scope", /POD, IDENTITY/],
    ["scope on ALERT", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT, scope: POD}"), "spec.rules[0].scope", /ALERT only records/],
    ["duration on ALERT", withRules("  - {trigger: {minSeverity: HIGH}, action: ALERT, duration: 1h}"), "spec.rules[0].duration", /ALERT only records/],
    ["bad duration", withRules("  - {trigger: {minSeverity: HIGH}, action: QUARANTINE, duration: 1 hour}"), "spec.rules[0].duration", /invalid duration/],
    ["numeric duration", withRules("  - {trigger: {minSeverity: HIGH}, action: QUARANTINE, duration: 3600}"), "spec.rules[0].duration", /duration string/],
    ["too-short duration", withRules("  - {trigger: {minSeverity: HIGH}, action: QUARANTINE, duration: 500ms}"), "spec.rules[0].duration", /at least 1s/],
    ["negative duration", withRules("  - {trigger: {minSeverity: HIGH}, action: QUARANTINE, duration: -5m}"), "spec.rules[0].duration", /at least 1s/],
  ];
  for (const [name, text, path, message] of cases) {
    it(`rejects ${name}, naming the file, object and ${path}`, () => {
      const r = validateRuntimePolicy(configObject(text, FILE));
      assert.equal(r.policy, undefined);
      const e = r.errors.find((x) => x.path === path);
      assert.ok(e, `no error at ${path}; got ${r.errors.map(formatConfigError).join("; ")}`);
      assert.match(e.message, message);
      assert.equal(e.file, FILE);
      assert.equal(e.object, "RuntimePolicy shop/p1".replace("p1", text.includes("P_1") ? "P_1" : "p1"));
      assert.equal(e.severity, "error");
    });
  }

  it("rejects a missing spec", () => {
    const r = validateRuntimePolicy(configObject("apiVersion: meshward.io/v1alpha1\nkind: RuntimePolicy\nmetadata: {name: p, namespace: shop}\n", FILE));
    assert.deepEqual(r.errors.map((e) => e.path), ["spec"]);
  });

  it("reports every problem of an object at once", () => {
    const r = validateRuntimePolicy(configObject(withRules("  - {trigger: {minSeverity: SEVERE}, action: KILL, duration: soon}"), FILE));
    assert.deepEqual(r.errors.map((e) => e.path).sort(), ["spec.rules[0].action", "spec.rules[0].duration", "spec.rules[0].trigger.minSeverity"]);
  });

  it("accepts a full rule and converts enums and durations", () => {
    const p = valid(withRules(
      "  - {name: esc, trigger: {detections: ['escape.*'], minSeverity: HIGH, minRiskScore: 60}, action: ISOLATE_EGRESS, scope: IDENTITY, duration: 1h30m}\n  - {trigger: {minSeverity: LOW}, action: ALERT}",
      "  selector: {matchLabels: {app: cart}}\n",
    ));
    assert.deepEqual(p.rules, [
      { name: "esc", index: 0, trigger: { detections: ["escape.*"], minSeverity: "high", minRiskScore: 60 }, action: "isolate-egress", scope: "identity", durationMs: 5_400_000 },
      { name: "rules[1]", index: 1, trigger: { minSeverity: "low" }, action: "alert", scope: "pod" },
    ]);
    assert.deepEqual(p.matchLabels, { app: "cart" });
    assert.equal(p.meshWide, false);
    assert.equal(p.ref, "RuntimePolicy shop/p1");
  });

  it("validates the documented example", () => {
    const text = readFileSync(new URL("../../../examples/runtime-policy/runtime-policy.yaml", import.meta.url), "utf8");
    const { policies, errors } = compileRuntimePolicies(configObjects(text, "examples/runtime-policy/runtime-policy.yaml"));
    assert.deepEqual(errors, []);
    assert.deepEqual(policies.map((p) => [p.ref, p.meshWide, p.rules.length]), [
      ["RuntimePolicy istio-system/contain-escapes", true, 4],
      ["RuntimePolicy payments/payments-egress", false, 2],
    ]);
  });
});

describe("RuntimePolicy CRD", () => {
  it("lists the same enums as the validator", () => {
    const text = readFileSync(new URL("../../../manifests/runtimepolicy-crd.yaml", import.meta.url), "utf8");
    const crd = parse(text) as { spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: unknown } }[] } };
    assert.equal(`${crd.spec.group}/${crd.spec.versions[0]?.name}`, RUNTIME_POLICY_API_VERSION);
    assert.equal(crd.spec.names.kind, "RuntimePolicy");
    const rule = (crd.spec.versions[0]?.schema.openAPIV3Schema as { properties: { spec: { properties: { rules: { items: { properties: Record<string, { enum?: string[]; properties?: Record<string, { enum?: string[] }> }> } } } } } }).properties.spec.properties.rules.items.properties;
    assert.deepEqual(rule["action"]?.enum, RUNTIME_POLICY_ACTIONS);
    assert.deepEqual(rule["scope"]?.enum, RUNTIME_POLICY_SCOPES);
    assert.deepEqual(rule["trigger"]?.properties?.["minSeverity"]?.enum, SEVERITIES.map((x) => x.toUpperCase()));
  });
});

describe("compileRuntimePolicies", () => {
  const good = withRules("  - {trigger: {minSeverity: HIGH}, action: QUARANTINE}");
  const bad = withRules("  - {trigger: {minSeverity: HIGH}, action: KILL}");
  const other = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: a, namespace: shop}
spec: {}`;

  it("rejects a bad object alone and ignores other kinds", () => {
    const second = good.replace("name: p1", "name: p2");
    const r = compileRuntimePolicies(configObjects([bad, second, other].join("\n---\n"), FILE));
    assert.deepEqual(r.policies.map((p) => p.name), ["p2"]);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]?.path, "spec.rules[0].action");
  });

  it("keeps serving the last good version of an object that became invalid", () => {
    const first = compileRuntimePolicies(configObjects(good, FILE));
    const second = compileRuntimePolicies(configObjects(bad, FILE), {}, first.policies);
    assert.equal(second.errors.length, 1);
    assert.equal(second.policies.length, 1);
    assert.equal(second.policies[0], first.policies[0]);
  });

  it("treats the root namespace as mesh-wide", () => {
    const r = compileRuntimePolicies(configObjects(good.replace("namespace: shop", "namespace: mesh-root"), FILE), { rootNamespace: "mesh-root" });
    assert.equal(r.policies[0]?.meshWide, true);
  });
});

describe("RuntimePolicy matching", () => {
  it("selects pods by namespace and every matchLabel", () => {
    const p = valid(withRules("  - {trigger: {minSeverity: LOW}, action: ALERT}", "  selector: {matchLabels: {app: cart, version: v1}}\n"));
    assert.equal(selectsPod(p, podA), true);
    assert.equal(selectsPod(p, { ...podA, labels: { app: "cart" } }), false);
    assert.equal(selectsPod(p, { ...podA, namespace: "other" }), false);
    const meshWide = valid(withRules("  - {trigger: {minSeverity: LOW}, action: ALERT}").replace("namespace: shop", "namespace: istio-system"));
    assert.equal(selectsPod(meshWide, { ...podA, namespace: "other" }), true);
  });

  it("matches detection ids exactly or by trailing-* prefix", () => {
    const s = signal({ detection: "escape.setns-host-mnt" });
    assert.equal(triggerMatches({ detections: ["escape.setns-host-mnt"] }, s, 0), true);
    assert.equal(triggerMatches({ detections: ["escape.*"] }, s, 0), true);
    assert.equal(triggerMatches({ detections: ["*"] }, s, 0), true);
    assert.equal(triggerMatches({ detections: ["escape.setns"] }, s, 0), false);
    assert.equal(triggerMatches({ detections: ["privesc.*", "escape.setns-host-mnt"] }, s, 0), true);
  });

  it("requires the minimum severity", () => {
    assert.equal(triggerMatches({ minSeverity: "high" }, signal({ severity: "high" }), 0), true);
    assert.equal(triggerMatches({ minSeverity: "high" }, signal({ severity: "critical" }), 0), true);
    assert.equal(triggerMatches({ minSeverity: "high" }, signal({ severity: "medium" }), 0), false);
  });

  it("requires the risk score threshold, and ANDs the trigger's fields", () => {
    const s = signal({ severity: "high" });
    assert.equal(triggerMatches({ minRiskScore: 50 }, s, 49.9), false);
    assert.equal(triggerMatches({ minRiskScore: 50 }, s, 50), true);
    assert.equal(triggerMatches({ detections: ["escape.*"], minRiskScore: 50 }, s, 80), true);
    assert.equal(triggerMatches({ detections: ["privesc.*"], minRiskScore: 50 }, s, 80), false);
    assert.equal(triggerMatches({ minSeverity: "critical", minRiskScore: 50 }, s, 80), false);
  });
});

describe("Go durations", () => {
  it("parses the forms Go accepts", () => {
    assert.deepEqual(parseGoDuration("30m"), { ms: 1_800_000 });
    assert.deepEqual(parseGoDuration("1h30m"), { ms: 5_400_000 });
    assert.deepEqual(parseGoDuration("1.5h"), { ms: 5_400_000 });
    assert.deepEqual(parseGoDuration("250ms"), { ms: 250 });
    assert.deepEqual(parseGoDuration("0"), { ms: 0 });
    assert.ok("error" in parseGoDuration("10"));
    assert.ok("error" in parseGoDuration("1d"));
    assert.ok("error" in parseGoDuration(""));
  });
});
