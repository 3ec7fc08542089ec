// The audit trail of several replicas in one shared PostgreSQL (a real server from Debian's
// postgresql package, a throwaway cluster): each replica's signals, verdicts and actions reach it
// once, a signal redelivered to another replica is one row, and `meshward events --audit-db` shows
// the one trail.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { runMeshward } from "../support/meshward-cli.js";
import { postgresOrSkip, type Postgres } from "../support/postgres.js";
import { ESCAPE_QUARANTINE_POLICY, podA, podB, signal } from "./fixtures.js";

interface Trail {
  signals: { id: string; podName: string }[];
  verdicts: { signalId: string }[];
  actions: { event: string; podName: string }[];
  chains: { signalId: string; translatedUs?: number }[];
}

describe("audit: one trail in a shared PostgreSQL for several replicas", function () {
  this.timeout(60_000);
  let pg: Postgres;
  let dir: string;
  const replicas: ControlPlane[] = [];

  before(async function () {
    pg = postgresOrSkip(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-audit-pg-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY);
    for (const id of ["replica-a", "replica-b"]) replicas.push(await startTestControlPlane(dir, { dataDir: join(dir, id), auditDb: pg.url, replicaId: id }));
  });
  after(async () => {
    for (const cp of replicas) await cp.stop();
    pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const events = async (...args: string[]): Promise<Trail> => {
    const r = await runMeshward("events", "--audit-db", pg.url, "--json", ...args);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Trail;
  };

  it("shows the signals, verdicts and actions of both replicas as one trail", async () => {
    const [a, b] = replicas as [ControlPlane, ControlPlane];
    a.risk.risk.handleSignal(signal({ id: "sig-on-a", pod: podA }));
    b.risk.risk.handleSignal(signal({ id: "sig-on-b", pod: podB }));
    // The agent of podA reconnects to replica-b and redelivers: one signal in the trail.
    b.risk.risk.handleSignal(signal({ id: "sig-on-a", pod: podA }));
    await a.auditShipper!.flush();
    await b.auditShipper!.flush();

    const trail = await events();
    assert.deepEqual(trail.signals.map((s) => s.id).sort(), ["sig-on-a", "sig-on-b"]);
    // Verdict ids derive from the signal and the rule: replica-b's verdict on the redelivery is the same verdict.
    assert.deepEqual(trail.verdicts.map((v) => v.signalId).sort(), ["sig-on-a", "sig-on-b"]);
    assert.deepEqual(trail.actions.filter((x) => x.event === "created").map((x) => x.podName).sort(), [podA.name, podA.name, podB.name].sort());

    assert.deepEqual(trail.chains.map((c) => c.signalId).sort(), ["sig-on-a", "sig-on-b"], "each signal's chain, with its stages");
    assert.ok(trail.chains.every((c) => typeof c.translatedUs === "number"));

    const onlyB = await events("--pod", `${podB.namespace}/${podB.name}`);
    assert.deepEqual(onlyB.signals.map((s) => s.id), ["sig-on-b"], "the same filters as on a local database");
  });

  it("ships each row once, also when asked again and after more rows", async () => {
    const [a] = replicas as [ControlPlane];
    const shippedBefore = a.auditShipper!.shipped;
    await a.auditShipper!.flush();
    assert.equal(a.auditShipper!.shipped, shippedBefore, "nothing new, nothing shipped");
    a.risk.risk.handleSignal(signal({ id: "sig-later", pod: { ...podA, uid: "later-uid", name: "later", ip: "10.1.0.40" } }));
    await a.auditShipper!.flush();
    assert.ok(a.auditShipper!.shipped > shippedBefore);
    const trail = await events();
    assert.deepEqual(trail.signals.map((s) => s.id).sort(), ["sig-later", "sig-on-a", "sig-on-b"]);
  });

  it("keeps enforcing while PostgreSQL is away, and ships what happened meanwhile when it is back", async () => {
    const [a] = replicas as [ControlPlane];
    pg.pause();
    try {
      const pod = { ...podA, uid: "away-uid", name: "while-away", ip: "10.1.0.41" };
      const outcome = a.risk.risk.handleSignal(signal({ id: "sig-while-away", pod }));
      assert.equal(outcome.changes[0]?.event, "created", "enforced without the shared database");
      await assert.rejects(a.auditShipper!.flush(), "shipping fails while it is away");
    } finally {
      pg.resume();
    }
    await a.auditShipper!.flush();
    const trail = await events("--signal", "sig-while-away");
    assert.deepEqual(trail.signals.map((s) => s.id), ["sig-while-away"]);
    assert.deepEqual(trail.actions.map((x) => x.event), ["created"]);
  });

  it("starts a replica whose PostgreSQL is away, which ships once it is there", async () => {
    pg.pause();
    let c: ControlPlane;
    const logs: string[] = [];
    try {
      c = await startTestControlPlane(dir, { dataDir: join(dir, "replica-c"), auditDb: pg.url, replicaId: "replica-c", log: (l) => logs.push(l) });
      replicas.push(c);
      c.risk.risk.handleSignal(signal({ id: "sig-on-c", pod: { ...podB, uid: "c-uid", name: "on-c", ip: "10.1.0.42" } }));
      assert.ok(logs.some((l) => l.startsWith("meshward audit: shipping to PostgreSQL failed")), "the missing database is reported");
    } finally {
      pg.resume();
    }
    await c.auditShipper!.flush();
    assert.deepEqual((await events("--signal", "sig-on-c")).signals.map((x) => x.id), ["sig-on-c"]);
  });

  it("refuses a URL that is not postgres:// and names the flag", async () => {
    const r = await runMeshward("events", "--audit-db", "mysql://x@y/z");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--audit-db "mysql:\/\/x@y\/z": want a postgres:\/\/ URL/);
  });
});
