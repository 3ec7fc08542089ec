// The risk commands run as a user runs them: bin/meshward in a child process, on a data dir that
// a control plane (here, the same modules in the test process) has written.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditStore } from "../../src/risk/audit.js";
import { ManualClock, systemClock } from "../../src/risk/clock.js";
import { RiskEngine } from "../../src/risk/engine.js";
import { EnforcementSet } from "../../src/risk/quarantine.js";
import { compileRuntimePolicies } from "../../src/risk/runtime-policy.js";
import { ESCAPE_QUARANTINE_POLICY, configObjects, podA, podB, signal } from "./fixtures.js";
import { runMeshward } from "../support/meshward-cli.js";

describe("meshward quarantine / risk / events", function () {
  this.timeout(30_000);
  let dir: string;
  let server: { store: AuditStore; set: EnforcementSet };
  let now = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "meshward-cli-"));
    now = systemClock.nowMs();
    // The control plane's clock, kept in step with the signals' receive times below.
    const clock = new ManualClock(now - 2000);
    const store = AuditStore.open(dir, { clock });
    const engine = new RiskEngine({ clock });
    engine.setPolicies(compileRuntimePolicies(configObjects(ESCAPE_QUARANTINE_POLICY)).policies);
    engine.setStaticRisk(podA.uid, { score: 25, factors: ["privileged"] });
    const set = new EnforcementSet(store.enforcementStore(), clock);
    const signals = [
      signal({ id: "e1", pod: podA, detection: "escape.setns-host-mnt", severity: "high", receivedAtMs: now - 2000 }),
      signal({ id: "e2", pod: podB, detection: "exec.interactive-shell", severity: "low", receivedAtMs: now - 1000 }),
    ];
    for (const s of signals) {
      clock.set(s.receivedAtMs + 1);
      store.recordSignal(s);
      const ev = engine.evaluate(s);
      store.recordEvaluation(ev);
      for (const v of ev.verdicts) set.apply(v);
    }
    store.recordTranslation(["e1"], ["sidecar~10.1.0.12~b.shop~shop.svc.cluster.local"], now - 1990);
    store.recordPush({ signalIds: ["e1"], proxyId: "sidecar~10.1.0.12~b.shop~shop.svc.cluster.local", typeUrl: "LDS", version: "2", nonce: "n", atMs: now - 1985 });
    store.recordAck({ proxyId: "sidecar~10.1.0.12~b.shop~shop.svc.cluster.local", typeUrl: "LDS", nonce: "n", atMs: now - 1980 });
    server = { store, set: new EnforcementSet(store.enforcementStore(), systemClock) };
  });
  after(() => {
    server.store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists active quarantines", async () => {
    const r = await runMeshward("quarantine", "list", "--data-dir", dir);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0] ?? "", /^ID\s+ACTION\s+SCOPE\s+POD\s+IP/);
    assert.equal(lines.length, 2);
    assert.match(lines[1] ?? "", new RegExp(`^q-[0-9a-f]{10}\\s+quarantine\\s+pod\\s+shop/${podA.name}\\s+${podA.ip.replace(/\./g, "\\.")}\\s+cart\\s.*\\s(59m\\d+s|1h0m0s)\\s`));
    const json = JSON.parse((await runMeshward("quarantine", "list", "--data-dir", dir, "--json")).stdout) as { pod: { uid: string } }[];
    assert.deepEqual(json.map((e) => e.pod.uid), [podA.uid]);
  });

  it("shows decayed risk scores, highest first", async () => {
    const r = await runMeshward("risk", "--data-dir", dir);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[1] ?? "", new RegExp(`^shop/${podA.name}\\s+cart\\s+6[45]\\.\\d\\s+25\\s+privileged\\s+1\\s+escape.setns-host-mnt`));
    assert.match(lines[2] ?? "", new RegExp(`^shop/${podB.name}\\s+cart\\s+[45]\\.\\d\\s+0\\s+-\\s+1\\s+exec.interactive-shell`));
  });

  it("shows the audit trail with the latency chain, filtered", async () => {
    const all = await runMeshward("events", "--data-dir", dir);
    assert.equal(all.code, 0, all.stderr);
    const kinds = all.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[1]);
    assert.deepEqual(kinds, ["signal", "verdict", "created", "chain", "signal"]);
    assert.match(all.stdout, /signal=e1 syscall->last ACK \d+\.\dms over 1 proxies \(1 ACK, 0 NACK\)/);

    const byDetection = await runMeshward("events", "--data-dir", dir, "--detection", "exec.*");
    assert.deepEqual(byDetection.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[1]), ["signal"]);
    const byPod = JSON.parse((await runMeshward("events", "--data-dir", dir, "--pod", `shop/${podA.name}`, "--json")).stdout) as { signals: { id: string }[]; chains: { latencyUs: number }[] };
    assert.deepEqual(byPod.signals.map((s) => s.id), ["e1"]);
    assert.ok((byPod.chains[0]?.latencyUs ?? 0) > 0);
    const one = await runMeshward("events", "--data-dir", dir, "--signal", "e1");
    const oneLines = one.stdout.trim().split("\n").slice(1);
    assert.deepEqual(oneLines.map((l) => l.split(/\s+/)[1]), ["signal", "verdict", "created", "push", "chain"]);
    assert.match(oneLines[3] ?? "", /push\s+sidecar~10\.1\.0\.12~b\.shop~shop\.svc\.cluster\.local\s+LDS version=2 nonce=n: ACK after 5\.0ms/);
    const none = await runMeshward("events", "--data-dir", dir, "--namespace", "nowhere");
    assert.equal(none.stdout.trim(), "no events match");
    const recent = await runMeshward("events", "--data-dir", dir, "--since", new Date(now - 1500).toISOString(), "--json");
    assert.deepEqual((JSON.parse(recent.stdout) as { signals: { id: string }[] }).signals.map((s) => s.id), ["e2"]);
  });

  it("rejects bad flags with a clear error", async () => {
    // A duration is "that long ago": nothing recorded in the last millisecond.
    assert.equal((await runMeshward("events", "--data-dir", dir, "--since", "1ms")).stdout.trim(), "no events match");
    const r = await runMeshward("events", "--data-dir", dir, "--since", "yesterday");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--since "yesterday": want an RFC 3339 time or a duration/);
    const missing = await runMeshward("events", "--data-dir", join(dir, "nope"));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no audit database at/);
    assert.equal((await runMeshward("quarantine", "frobnicate", "--data-dir", dir)).code, 2);
    const wrongDir = await runMeshward("quarantine", "release", "x", "--data-dir", join(dir, "typo"));
    assert.equal(wrongDir.code, 1);
    assert.match(wrongDir.stderr, /no audit database at/);
    assert.equal(existsSync(join(dir, "typo")), false, "a wrong --data-dir must not create a database");
  });

  it("releases by pod name, and a running control plane sees it", async () => {
    const miss = await runMeshward("quarantine", "release", "no-such-pod", "--data-dir", dir);
    assert.equal(miss.code, 1);
    const r = await runMeshward("quarantine", "release", podA.name, "--data-dir", dir, "--by", "oncall");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^released q-[0-9a-f]{10} \(quarantine pod shop\/cart-7d9f-abcde 10\.1\.0\.11\)/);
    assert.equal(server.set.reload(), true);
    assert.deepEqual(server.set.active(), []);
    const trail = server.store.query.actions({ pod: podA.name });
    assert.deepEqual(trail.map((a) => [a.event, a.by]), [["created", "RuntimePolicy istio-system/escapes"], ["released", "oncall"]]);
    assert.equal((await runMeshward("quarantine", "list", "--data-dir", dir)).stdout.trim(), "no active enforcement");
  });
});
