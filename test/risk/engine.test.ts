import assert from "node:assert/strict";
import { ManualClock } from "../../src/risk/clock.js";
import { RiskEngine } from "../../src/risk/engine.js";
import { compileRuntimePolicies } from "../../src/risk/runtime-policy.js";
import { DEFAULT_RISK_HALF_LIFE_MS, podSecurityFacts, staticPodRisk } from "../../src/risk/scoring.js";
import { signalProblem } from "../../src/risk/signal.js";
import { configObjects, podA, podB, signal } from "./fixtures.js";

const T0 = 1_800_000_000_000;

const POLICIES = `apiVersion: meshward.io/v1alpha1
kind: RuntimePolicy
metadata: {name: escapes, namespace: istio-system}
spec:
  rules:
  - {name: escape, trigger: {detections: ['escape.*'], minSeverity: HIGH}, action: QUARANTINE, duration: 1h}
  - {name: score, trigger: {minRiskScore: 75}, action: ISOLATE_EGRESS}
---
apiVersion: meshward.io/v1alpha1
kind: RuntimePolicy
metadata: {name: cart-shells, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  rules:
  - {name: shell, trigger: {detections: [exec.interactive-shell]}, action: ALERT}
`;

function engine(clock = new ManualClock(T0)): { e: RiskEngine; clock: ManualClock } {
  const e = new RiskEngine({ clock });
  const { policies, errors } = compileRuntimePolicies(configObjects(POLICIES));
  assert.deepEqual(errors, []);
  e.setPolicies(policies);
  return { e, clock };
}

describe("static pod risk", () => {
  it("reads privileged, hostPath, host namespaces, capabilities and root from a pod spec", () => {
    const facts = podSecurityFacts({
      hostPID: true,
      hostNetwork: true,
      volumes: [{ hostPath: { path: "/" } }, {}],
      containers: [
        { securityContext: { privileged: true, capabilities: { add: ["CAP_SYS_ADMIN", "net_raw"] }, runAsUser: 0 } },
        { securityContext: { runAsNonRoot: true, runAsUser: 1000 } },
      ],
    });
    assert.deepEqual(facts, {
      privileged: true, hostPath: true, hostPID: true, hostNetwork: true, hostIPC: false,
      addedCapabilities: ["SYS_ADMIN", "NET_RAW"], runAsRoot: true, allowPrivilegeEscalation: false,
    });
    const risk = staticPodRisk(facts);
    assert.deepEqual(risk.factors, ["privileged", "hostPID", "hostNetwork", "hostPath", "runAsRoot", "cap:NET_RAW", "cap:SYS_ADMIN"]);
    assert.equal(risk.score, 60, "capped at MAX_STATIC_RISK");
  });

  it("scores a hardened pod zero and treats an unset user as root unless runAsNonRoot", () => {
    const hardened = podSecurityFacts({ securityContext: { runAsNonRoot: true }, containers: [{}] });
    assert.deepEqual(staticPodRisk(hardened), { score: 0, factors: [] });
    assert.deepEqual(staticPodRisk(podSecurityFacts({ containers: [{}] })), { score: 10, factors: ["runAsRoot"] });
    assert.deepEqual(staticPodRisk(podSecurityFacts({ containers: [{ securityContext: { capabilities: { add: ["SYS_PTRACE"] } } }], securityContext: { runAsUser: 1000 } })), { score: 15, factors: ["cap:SYS_PTRACE"] });
  });

  it("scores a container that explicitly allows privilege escalation", () => {
    const facts = podSecurityFacts({ securityContext: { runAsUser: 1000 }, containers: [{}, { securityContext: { allowPrivilegeEscalation: true } }] });
    assert.equal(facts.allowPrivilegeEscalation, true);
    assert.deepEqual(staticPodRisk(facts), { score: 5, factors: ["allowPrivilegeEscalation"] });
    assert.equal(podSecurityFacts({ containers: [{ securityContext: { allowPrivilegeEscalation: false } }] }).allowPrivilegeEscalation, false);
  });
});

describe("RiskEngine", () => {
  it("adds severity points on top of static risk", () => {
    const { e } = engine();
    e.setStaticRisk(podA.uid, { score: 25, factors: ["privileged"] });
    const ev = e.evaluate(signal({ severity: "medium", detection: "exec.interactive-shell" }));
    assert.equal(ev.scoreBefore, 25);
    assert.equal(ev.scoreAfter, 40);
    assert.equal(e.risk(podA.uid)?.score, 40);
  });

  it("halves detection points every half-life and keeps static risk", () => {
    const { e, clock } = engine();
    e.setStaticRisk(podA.uid, { score: 10, factors: ["runAsRoot"] });
    e.evaluate(signal({ severity: "high", detection: "privesc.setuid" }));
    assert.equal(e.risk(podA.uid)?.score, 50);
    clock.advance(DEFAULT_RISK_HALF_LIFE_MS);
    assert.equal(e.risk(podA.uid)?.score, 30);
    clock.advance(DEFAULT_RISK_HALF_LIFE_MS);
    assert.equal(e.risk(podA.uid)?.score, 20);
    // A new signal stacks on the decayed points, not the original ones.
    const ev = e.evaluate(signal({ severity: "medium", detection: "privesc.setuid" }));
    assert.equal(ev.scoreBefore, 20);
    assert.equal(ev.scoreAfter, 35);
  });

  it("uses the configured half-life", () => {
    const clock = new ManualClock(T0);
    const e = new RiskEngine({ clock, halfLifeMs: 60_000 });
    e.evaluate(signal({ severity: "critical" }));
    clock.advance(120_000);
    assert.equal(e.risk(podA.uid)?.score, 70 / 4);
  });

  it("caps the score at 100", () => {
    const { e } = engine();
    for (let i = 0; i < 3; i++) e.evaluate(signal({ severity: "critical", detection: "kernel.module-load" }));
    assert.equal(e.risk(podA.uid)?.score, 100);
  });

  it("yields one verdict per matching rule, with deterministic ids and the rule's action and duration", () => {
    const { e } = engine();
    e.setStaticRisk(podA.uid, { score: 40, factors: ["privileged"] });
    const ev = e.evaluate(signal({ id: "s-1", detection: "escape.setns-host-mnt", severity: "high" }));
    assert.deepEqual(ev.verdicts.map((v) => [v.id, v.policy, v.rule, v.action, v.scope, v.durationMs, v.riskScore]), [
      ["s-1#0", "RuntimePolicy istio-system/escapes", "escape", "quarantine", "pod", 3_600_000, 80],
      ["s-1#1", "RuntimePolicy istio-system/escapes", "score", "isolate-egress", "pod", undefined, 80],
    ]);
    const v = ev.verdicts[0];
    assert.deepEqual(v?.identity, { trustDomain: "cluster.local", namespace: "shop", serviceAccount: "cart" });
    assert.equal(v?.decidedAtMs, T0);
    assert.match(v?.reason ?? "", /escape.setns-host-mnt \(high, T1611\) in shop\/cart-7d9f-abcde, risk 80/);
  });

  it("applies namespace policies only to selected pods", () => {
    const { e } = engine();
    assert.deepEqual(e.evaluate(signal({ detection: "exec.interactive-shell", severity: "low" })).verdicts.map((v) => v.rule), ["shell"]);
    const otherApp = { ...podB, labels: { app: "web" } };
    assert.deepEqual(e.evaluate(signal({ pod: otherApp, detection: "exec.interactive-shell", severity: "low" })).verdicts, []);
  });

  it("keeps scores per pod: a replica's signals do not raise another replica's score", () => {
    const { e } = engine();
    e.evaluate(signal({ pod: podA, severity: "critical" }));
    assert.equal(e.risk(podB.uid), undefined);
    e.evaluate(signal({ pod: podB, severity: "low" }));
    assert.deepEqual(e.risks().map((r) => [r.podName, r.score]), [[podA.name, 70], [podB.name, 5]]);
  });

  it("restores persisted states and forgets deleted pods", () => {
    const { e, clock } = engine();
    e.evaluate(signal({ severity: "high" }));
    const saved = e.states();
    const { e: e2 } = engine(clock);
    e2.restore(saved);
    clock.advance(DEFAULT_RISK_HALF_LIFE_MS);
    assert.equal(e2.risk(podA.uid)?.score, 20);
    e2.forgetPod(podA.uid);
    assert.equal(e2.risk(podA.uid), undefined);
  });
});

describe("signalProblem", () => {
  it("accepts a well-formed signal and names the first bad field otherwise", () => {
    const s = signal({ id: "ok" });
    assert.equal(signalProblem(s), undefined);
    assert.equal(signalProblem({ ...s, pod: { ...s.pod, uid: "" } }), "signal ok: pod.uid is empty");
    assert.equal(signalProblem({ ...s, id: "" }), "signal (no id): id is empty");
    assert.match(signalProblem({ ...s, pod: { ...s.pod, ip: "10.1.0" } }) ?? "", /pod.ip "10.1.0" is not an IP address/);
    assert.match(signalProblem({ ...s, detection: { ...s.detection, severity: "severe" as "high" } }) ?? "", /severity "severe" is not one of low, medium, high, critical/);
    assert.match(signalProblem({ ...s, eventTimeNs: 0n }) ?? "", /eventTimeNs must be positive/);
    assert.equal(signalProblem({ ...s, pod: { ...s.pod, ip: "" } }), undefined, "a pod without an IP yet is still attributable");
  });
});
