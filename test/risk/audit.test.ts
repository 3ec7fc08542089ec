import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditStore, DEFAULT_AUDIT_RETENTION_MS } from "../../src/risk/audit.js";
import { AuditQuery } from "../../src/risk/audit-query.js";
import { AUDIT_DB_FILE, openAuditDatabase } from "../../src/risk/audit-schema.js";
import { ManualClock } from "../../src/risk/clock.js";
import { RiskEngine } from "../../src/risk/engine.js";
import { SqliteEnforcementStore } from "../../src/risk/enforcement-store.js";
import { EnforcementSet } from "../../src/risk/quarantine.js";
import { compileRuntimePolicies } from "../../src/risk/runtime-policy.js";
import { ESCAPE_QUARANTINE_POLICY, configObjects, podA, podB, signal } from "./fixtures.js";

const T0 = Date.UTC(2027, 0, 15, 12, 0, 0);
const LDS = "type.googleapis.com/envoy.config.listener.v3.Listener";

describe("AuditStore (SQLite)", () => {
  let dir: string;
  let clock: ManualClock;
  let store: AuditStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "meshward-audit-"));
    clock = new ManualClock(T0);
    store = AuditStore.open(dir, { clock });
  });
  afterEach(() => {
    if (store.db.open) store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates a private database in WAL mode with synchronous=FULL", () => {
    assert.equal(store.db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(store.db.pragma("synchronous", { simple: true }), 2);
    assert.equal(statSync(join(dir, AUDIT_DB_FILE)).mode & 0o777, 0o600);
  });

  it("records a signal once and reports redeliveries as duplicates", () => {
    const s = signal({ id: "dup-1", receivedAtMs: T0 });
    assert.deepEqual(store.recordSignal(s), { duplicate: false });
    assert.deepEqual(store.recordSignal(s), { duplicate: true });
    const rows = store.query.signals();
    assert.equal(rows.length, 1);
    assert.deepEqual(
      { ...rows[0], eventMs: undefined },
      {
        id: "dup-1", node: "node-1", podUid: podA.uid, namespace: "shop", podName: podA.name, serviceAccount: "cart",
        podIp: podA.ip, container: "app", pid: 4242, binary: "/usr/bin/nsenter", args: ["nsenter", "-t", "1", "-m", "sh"],
        procUid: 0, detection: "escape.setns-host-mnt", severity: "high", technique: "T1611", eventMs: undefined, receivedMs: T0,
      },
    );
    assert.equal(rows[0]?.eventMs, T0 - 20);
  });

  it("queries by pod, namespace, detection and time range", () => {
    const other = { ...podB, namespace: "blue", name: "web-1", uid: "uid-web" };
    store.recordSignal(signal({ id: "a1", pod: podA, detection: "escape.setns-host-mnt", receivedAtMs: T0 }));
    store.recordSignal(signal({ id: "a2", pod: podA, detection: "privesc.setuid", receivedAtMs: T0 + 1000 }));
    store.recordSignal(signal({ id: "b1", pod: podB, detection: "escape.unshare", receivedAtMs: T0 + 2000 }));
    store.recordSignal(signal({ id: "w1", pod: other, detection: "exec.reverse-shell", receivedAtMs: T0 + 3000 }));
    const ids = (f: Parameters<AuditQuery["signals"]>[0]) => store.query.signals(f).map((s) => s.id);
    assert.deepEqual(ids({}), ["a1", "a2", "b1", "w1"]);
    assert.deepEqual(ids({ pod: podA.name }), ["a1", "a2"]);
    assert.deepEqual(ids({ pod: `shop/${podB.name}` }), ["b1"]);
    assert.deepEqual(ids({ pod: "uid-web" }), ["w1"]);
    assert.deepEqual(ids({ namespace: "shop" }), ["a1", "a2", "b1"]);
    assert.deepEqual(ids({ detection: "escape.*" }), ["a1", "b1"]);
    assert.deepEqual(ids({ detection: "escape.unshare" }), ["b1"]);
    assert.deepEqual(ids({ detection: "escape_*" }), [], "LIKE wildcards in the prefix are literal");
    assert.deepEqual(ids({ sinceMs: T0 + 1000, untilMs: T0 + 2000 }), ["a2", "b1"]);
    assert.deepEqual(ids({ namespace: "shop", detection: "escape.*", sinceMs: T0 + 1 }), ["b1"]);
    assert.deepEqual(ids({ limit: 2 }), ["b1", "w1"], "the newest rows, oldest first");
  });

  it("records verdicts, actions and risk states, queryable by detection through their signal", () => {
    const engine = new RiskEngine({ clock });
    engine.setPolicies(compileRuntimePolicies(configObjects(ESCAPE_QUARANTINE_POLICY)).policies);
    const set = new EnforcementSet(store.enforcementStore(), clock);
    const s = signal({ id: "s1", receivedAtMs: T0 });
    store.recordSignal(s);
    const ev = engine.evaluate(s);
    store.recordEvaluation(ev);
    for (const v of ev.verdicts) set.apply(v);
    clock.advance(5000);
    set.release(podA.name, "alice");
    assert.deepEqual(store.query.verdicts({ detection: "escape.*" }).map((v) => [v.id, v.action, v.rule]), [["s1#0", "quarantine", "escape"]]);
    assert.deepEqual(store.query.verdicts({ detection: "privesc.*" }), []);
    const actions = store.query.actions({ pod: podA.name });
    assert.deepEqual(actions.map((a) => [a.event, a.action, a.by, a.atMs, a.identity]), [
      ["created", "quarantine", "RuntimePolicy istio-system/escapes", T0, "spiffe://cluster.local/ns/shop/sa/cart"],
      ["released", "quarantine", "alice", T0 + 5000, "spiffe://cluster.local/ns/shop/sa/cart"],
    ]);
    assert.equal(actions[0]?.expiresMs, T0 + 3_600_000);
    assert.deepEqual(store.query.riskStates().map((r) => [r.podUid, r.dynamicPoints, r.signals]), [[podA.uid, 40, 1]]);
  });

  it("keeps enforcement across a restart and sees a release made by another process's connection", () => {
    const engine = new RiskEngine({ clock });
    engine.setPolicies(compileRuntimePolicies(configObjects(ESCAPE_QUARANTINE_POLICY)).policies);
    const set = new EnforcementSet(store.enforcementStore(), clock);
    const ev = engine.evaluate(signal({ id: "s1" }));
    for (const v of ev.verdicts) set.apply(v);
    store.close();

    store = AuditStore.open(dir, { clock });
    const restarted = new EnforcementSet(store.enforcementStore(), clock);
    assert.deepEqual(restarted.active().map((e) => [e.action, e.pod.uid, e.expiresAtMs]), [["quarantine", podA.uid, T0 + 3_600_000]]);
    assert.equal(restarted.reload(), false, "nothing changed elsewhere");

    // `meshward quarantine release` opens its own connection.
    const cliDb = openAuditDatabase(dir);
    const cli = new EnforcementSet(new SqliteEnforcementStore(cliDb), clock);
    assert.equal(cli.release(podA.ip, "cli").length, 1);
    cliDb.close();
    assert.equal(restarted.reload(), true);
    assert.deepEqual(restarted.active(), []);
  });

  it("measures syscall -> last ACK across translation, pushes and every affected proxy's ACK", () => {
    const completed: { signalId: string; latencyMs?: number }[] = [];
    store.close();
    store = AuditStore.open(dir, { clock, onChainComplete: (c) => completed.push(c) });
    // syscall at T0, agent sends at +2ms, control plane receives at +5ms.
    const s = { ...signal({ id: "c1", receivedAtMs: T0 + 5 }), eventTimeNs: BigInt(T0) * 1_000_000n, agentSentAtMs: T0 + 2 };
    store.recordSignal(s);
    store.recordEvaluation({ signal: s, scoreBefore: 0, scoreAfter: 40, risk: { podUid: podA.uid, namespace: "shop", podName: podA.name, serviceAccount: "cart", staticScore: 0, staticFactors: [], dynamicPoints: 40, asOfMs: T0 + 6, signals: 1 }, verdicts: [], evaluatedAtMs: T0 + 6 });
    store.recordTranslation(["c1"], ["p1", "p2"], T0 + 8);
    store.recordPush({ signalIds: ["c1"], proxyId: "p1", typeUrl: LDS, version: "v2", nonce: "n1", atMs: T0 + 10 });
    store.recordPush({ signalIds: ["c1"], proxyId: "p2", typeUrl: LDS, version: "v2", nonce: "n1", atMs: T0 + 11 });
    store.recordPush({ signalIds: ["c1"], proxyId: "p2", typeUrl: LDS, version: "v3", nonce: "n2", atMs: T0 + 12 });
    assert.deepEqual(store.recordAck({ proxyId: "p1", typeUrl: LDS, nonce: "n1", atMs: T0 + 20 }), []);
    assert.deepEqual(store.recordAck({ proxyId: "p1", typeUrl: LDS, nonce: "unknown", atMs: T0 + 21 }), []);
    // p2 answers only the later push; that confirms both.
    const done = store.recordAck({ proxyId: "p2", typeUrl: LDS, nonce: "n2", atMs: T0 + 30.5 });
    assert.deepEqual(done.map((c) => [c.signalId, c.proxies, c.acked, c.nacked, c.timedOut]), [["c1", 2, 2, 0, false]]);
    assert.deepEqual(store.query.chain("c1"), {
      signalId: "c1",
      eventUs: T0 * 1000,
      agentSentUs: (T0 + 2) * 1000,
      receivedUs: (T0 + 5) * 1000,
      verdictUs: (T0 + 6) * 1000,
      translatedUs: (T0 + 8) * 1000,
      firstPushUs: (T0 + 10) * 1000,
      lastAckUs: (T0 + 30.5) * 1000,
      // An unphased round cuts the pod off with its last ACK.
      cutOffUs: (T0 + 30.5) * 1000,
      proxies: 2,
      acked: 2,
      nacked: 0,
      latencyUs: 30_500,
    });
    assert.deepEqual(completed, [{ signalId: "c1", proxies: 2, acked: 2, nacked: 0, firstPushUs: (T0 + 10) * 1000, lastAckUs: (T0 + 30.5) * 1000, timedOut: false, latencyMs: 30.5 }]);
    assert.deepEqual(store.query.pushCounts("c1"), { pushes: 3, acks: 3, nacks: 0 });
    const h = store.chainLatency.snapshot();
    assert.equal(h.count, 1);
    assert.equal(h.sum, 0.0305);
    assert.deepEqual(h.buckets.filter((b) => b.count > 0).map((b) => b.le)[0], 0.05);
    assert.match(store.chainLatency.exposition(), /meshward_enforcement_chain_seconds_bucket\{le="0.025"\} 0\nmeshward_enforcement_chain_seconds_bucket\{le="0.05"\} 1/);
  });

  it("holds a chain's pushes and ACKs off the database while it is in flight, and writes them all when it completes", () => {
    const EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
    // Two types to 1,500 proxies: 6,000 rows, three times a batch.
    const proxies = Array.from({ length: 1500 }, (_, i) => `p${i}`);
    store.recordSignal(signal({ id: "big", receivedAtMs: T0 }));
    store.recordTranslation(["big"], proxies, T0 + 1);
    const rows = (): number => store.query.pushCounts("big").pushes + store.query.pushCounts("big").acks;
    for (const p of proxies) for (const t of [EDS, LDS]) store.recordPush({ signalIds: ["big"], proxyId: p, typeUrl: t, version: "v2", nonce: `${t}-n`, atMs: T0 + 2 });
    for (const p of proxies.slice(1)) for (const t of [EDS, LDS]) store.recordAck({ proxyId: p, typeUrl: t, nonce: `${t}-n`, atMs: T0 + 3 });
    store.recordAck({ proxyId: "p0", typeUrl: EDS, nonce: `${EDS}-n`, atMs: T0 + 4 });
    assert.equal(rows(), 0, "no batch written while the chain waits for p0's LDS ACK");
    assert.equal(store.query.chain("big")?.latencyUs, undefined, "the EDS ACK alone does not complete p0");
    const done = store.recordAck({ proxyId: "p0", typeUrl: LDS, nonce: `${LDS}-n`, atMs: T0 + 5 });
    assert.deepEqual(done.map((c) => [c.signalId, c.proxies, c.acked]), [["big", 1500, 1500]]);
    assert.deepEqual(store.query.pushCounts("big"), { pushes: 3000, acks: 3000, nacks: 0 });
  });

  it("counts NACKs and closes chains whose proxies never answer", () => {
    store.recordSignal(signal({ id: "n1", receivedAtMs: T0 }));
    store.recordTranslation(["n1"], ["p1", "p2"], T0 + 1);
    store.recordPush({ signalIds: ["n1"], proxyId: "p1", typeUrl: LDS, version: "v2", nonce: "x", atMs: T0 + 2 });
    store.recordPush({ signalIds: ["n1"], proxyId: "p2", typeUrl: LDS, version: "v2", nonce: "x", atMs: T0 + 2 });
    assert.deepEqual(store.recordAck({ proxyId: "p1", typeUrl: LDS, nonce: "x", atMs: T0 + 3, nack: true }), []);
    clock.advance(61_000);
    const swept = store.sweepChains();
    assert.deepEqual(swept.map((c) => [c.signalId, c.proxies, c.acked, c.nacked, c.timedOut]), [["n1", 2, 0, 1, true]]);
    const chain = store.query.chain("n1");
    assert.equal(chain?.latencyUs, undefined, "no latency for an unconfirmed chain");
    assert.equal(chain?.nacked, 1);
    assert.equal(store.chainLatency.snapshot().count, 0);
  });

  it("completes a chain with no affected proxy at translation", () => {
    store.recordSignal(signal({ id: "r1", receivedAtMs: T0 }));
    store.recordTranslation(["r1"], [], T0 + 1);
    assert.equal(store.query.chain("r1")?.proxies, 0);
  });

  it("prunes records older than the retention but never active enforcements", () => {
    const engine = new RiskEngine({ clock });
    engine.setPolicies(compileRuntimePolicies(configObjects(ESCAPE_QUARANTINE_POLICY)).policies);
    const set = new EnforcementSet(store.enforcementStore(), clock);
    const old = signal({ id: "old", receivedAtMs: T0 });
    store.recordSignal(old);
    const ev = engine.evaluate(old);
    store.recordEvaluation(ev);
    for (const v of ev.verdicts) set.apply(v);
    clock.advance(DEFAULT_AUDIT_RETENTION_MS + 1);
    store.recordSignal(signal({ id: "new", receivedAtMs: clock.nowMs() }));
    const deleted = store.prune();
    assert.equal(deleted["signals"], 1);
    assert.equal(deleted["verdicts"], 1);
    assert.equal(deleted["actions"], 1);
    assert.equal(deleted["chains"], 1);
    assert.deepEqual(store.query.signals().map((s) => s.id), ["new"]);
    assert.equal(new EnforcementSet(store.enforcementStore(), clock).active().length, 1);
  });

  it("honours a configured retention", () => {
    store.close();
    store = AuditStore.open(dir, { clock, retentionMs: 60_000 });
    store.recordSignal(signal({ id: "s", receivedAtMs: T0 }));
    assert.equal(store.prune(T0 + 60_000)["signals"], 0);
    assert.equal(store.prune(T0 + 60_001)["signals"], 1);
  });

  it("adds the cut-off column to a chains table created by an earlier meshward, keeping its rows", () => {
    const old = mkdtempSync(join(tmpdir(), "meshward-audit-old-"));
    try {
      const db = openAuditDatabase(old);
      // The chains table as the first schema made it (before cut_off_us).
      db.exec("DROP TABLE chains");
      db.exec(`CREATE TABLE chains (signal_id TEXT PRIMARY KEY, event_us INTEGER NOT NULL, agent_sent_us INTEGER, received_us INTEGER NOT NULL,
        verdict_us INTEGER, translated_us INTEGER, first_push_us INTEGER, last_ack_us INTEGER, proxies INTEGER, acked INTEGER, nacked INTEGER, latency_us INTEGER)`);
      db.exec("INSERT INTO chains (signal_id, event_us, received_us, last_ack_us) VALUES ('old', 1, 2, 3)");
      db.close();
      const reopened = openAuditDatabase(old);
      try {
        const columns = (reopened.prepare("PRAGMA table_info(chains)").all() as { name: string }[]).map((c) => c.name);
        assert.ok(columns.includes("cut_off_us"), columns.join(","));
        assert.deepEqual(new AuditQuery(reopened).chain("old"), { signalId: "old", eventUs: 1, receivedUs: 2, lastAckUs: 3 });
      } finally {
        reopened.close();
      }
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });

  it("opens read-only for the CLI while the control plane holds the file", () => {
    store.recordSignal(signal({ id: "ro", receivedAtMs: T0 }));
    const ro = openAuditDatabase(dir, { readonly: true });
    try {
      assert.deepEqual(new AuditQuery(ro).signals().map((s) => s.id), ["ro"]);
      assert.throws(() => ro.prepare("DELETE FROM signals").run(), /readonly/);
    } finally {
      ro.close();
    }
    assert.throws(() => openAuditDatabase(join(dir, "missing"), { readonly: true }), /no audit database at .*missing/);
  });
});
