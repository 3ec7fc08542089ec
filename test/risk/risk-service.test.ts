import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditDatabase } from "../../src/risk/audit-schema.js";
import { ManualClock } from "../../src/risk/clock.js";
import { SqliteEnforcementStore } from "../../src/risk/enforcement-store.js";
import { EnforcementSet } from "../../src/risk/quarantine.js";
import { InvalidSignalError, RiskService, type EnforcementUpdate } from "../../src/risk/risk-service.js";
import { ESCAPE_QUARANTINE_POLICY, configObjects, podA, podB, signal } from "./fixtures.js";

const T0 = Date.UTC(2027, 0, 15, 12, 0, 0);
const identity = { trustDomain: "cluster.local", namespace: "shop", serviceAccount: "cart" };

describe("RiskService", () => {
  let dir: string;
  let clock: ManualClock;
  let updates: EnforcementUpdate[];
  let svc: RiskService;

  function open(): RiskService {
    return new RiskService({ dataDir: dir, clock, onEnforcementChange: (u) => updates.push(u) });
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "meshward-risksvc-"));
    clock = new ManualClock(T0);
    updates = [];
    svc = open();
    assert.deepEqual(svc.setPolicies(configObjects(ESCAPE_QUARANTINE_POLICY)), []);
  });
  afterEach(() => {
    svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("turns an escape signal into a quarantine overlay, refuses the pod certificates, and records the chain", () => {
    const out = svc.handleSignal(signal({ id: "s1", receivedAtMs: T0 }));
    assert.equal(out.duplicate, false);
    assert.deepEqual(out.changes.map((c) => [c.event, c.enforcement.action]), [["created", "quarantine"]]);
    assert.deepEqual(updates.map((u) => [u.causes, u.applied.length, u.ended.length, u.reloaded, u.proxies]), [[["s1"], 1, 0, false, { all: true }]]);
    assert.deepEqual(svc.overlay().map((p) => [p.metadata.namespace, p.spec.action]), [["istio-system", "DENY"], ["shop", "DENY"]]);
    assert.equal(svc.isIssuanceAllowed(identity, podA.ip), false);
    assert.equal(svc.isIssuanceAllowed(identity, podB.ip), true);
    assert.equal(svc.audit.query.chain("s1")?.verdictUs, T0 * 1000);
    // Redelivery by the agent: acknowledged, not evaluated or enforced again.
    const again = svc.handleSignal(signal({ id: "s1", receivedAtMs: T0 + 10 }));
    assert.deepEqual(again, { duplicate: true, changes: [] });
    assert.equal(updates.length, 1);
    assert.equal(svc.engine.risk(podA.uid)?.signals, 1);
  });

  it("rejects a malformed signal without recording it", () => {
    assert.throws(() => svc.handleSignal({ ...signal({ id: "bad" }), pod: { ...podA, uid: "" } }), InvalidSignalError);
    assert.deepEqual(svc.audit.query.signals(), []);
  });

  it("does not notify for signals that enforce nothing", () => {
    svc.handleSignal(signal({ id: "x", detection: "exec.interactive-shell", severity: "low" }));
    assert.deepEqual(updates, []);
    assert.deepEqual(svc.overlay(), []);
  });

  it("keeps quarantines and scores across a control-plane restart", () => {
    svc.handleSignal(signal({ id: "s1", receivedAtMs: T0 }));
    const before = svc.overlay();
    svc.close();
    svc = open();
    assert.deepEqual(svc.overlay(), before);
    assert.equal(svc.engine.risk(podA.uid)?.score, 40);
    assert.equal(svc.isIssuanceAllowed(identity, podA.ip), false);
  });

  it("ends quarantines at expiry on tick", () => {
    svc.handleSignal(signal({ id: "s1", receivedAtMs: T0 }));
    clock.advance(3_600_000 - 1);
    svc.tick();
    assert.equal(svc.overlay().length, 2);
    clock.advance(1);
    svc.tick();
    assert.deepEqual(svc.overlay(), []);
    assert.deepEqual(updates.at(-1)?.ended.map((e) => e.pod.uid), [podA.uid]);
    assert.equal(svc.isIssuanceAllowed(identity, podA.ip), true);
  });

  it("picks up a release made by `meshward quarantine release` on tick", () => {
    svc.handleSignal(signal({ id: "s1", receivedAtMs: T0 }));
    const cliDb = openAuditDatabase(dir);
    new EnforcementSet(new SqliteEnforcementStore(cliDb), clock).release(`shop/${podA.name}`, "cli:test");
    cliDb.close();
    svc.tick();
    assert.equal(updates.at(-1)?.reloaded, true);
    assert.deepEqual(svc.overlay(), []);
  });

  it("ends a deleted pod's quarantine so a pod reusing its IP is not denied", () => {
    svc.handleSignal(signal({ id: "s1", receivedAtMs: T0 }));
    svc.podDeleted(podA.uid);
    assert.deepEqual(svc.overlay(), []);
    assert.equal(svc.engine.risk(podA.uid), undefined);
    assert.deepEqual(svc.audit.query.actions().map((a) => [a.event, a.by]), [["created", "RuntimePolicy istio-system/escapes"], ["released", "pod-deleted"]]);
  });

  it("adds static pod-spec risk to the score that triggers", () => {
    const text = ESCAPE_QUARANTINE_POLICY.replace("{detections: ['escape.*']}", "{minRiskScore: 60}");
    assert.deepEqual(svc.setPolicies(configObjects(text)), []);
    svc.setPodSpec(podA.uid, { hostPID: true, containers: [{ securityContext: { privileged: true } }] });
    assert.deepEqual(svc.handleSignal(signal({ pod: podA, severity: "medium" })).changes.map((c) => c.enforcement.pod.uid), [podA.uid]);
    assert.deepEqual(svc.handleSignal(signal({ pod: podB, severity: "medium" })).changes, []);
  });

  it("keeps the last good policy when an update is invalid", () => {
    const errors = svc.setPolicies(configObjects(ESCAPE_QUARANTINE_POLICY.replace("QUARANTINE", "QUARANTEEN")));
    assert.equal(errors[0]?.path, "spec.rules[0].action");
    assert.equal(svc.handleSignal(signal({ id: "s1" })).changes.length, 1);
  });
});
