// Leader election on a coordination.k8s.io/v1 Lease against a real kube-apiserver: one holder among
// candidates, takeover after a crashed holder's lease runs out, at once after a clean stop.
import { strict as assert } from "node:assert";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { eventually } from "../support/eventually.js";
import { kubeApiserverOrSkip, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";
import { privateKubeApiserverOrSkip, restartApiserverInBackground } from "../support/kube-outage.js";
import { leaseHolder } from "../support/kube-lease.js";
import { LeaderElector, microTime } from "../../src/kube/leader.js";

const LEASE_MS = 3000;

function kubeConfigOf(kas: KubeApiserver): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kas.kubeconfig);
  return kc;
}

describe("kube: leader election on a Lease", function () {
  this.timeout(60_000);
  let kas: KubeApiserver;
  const electors: LeaderElector[] = [];

  before(function () {
    kas = kubeApiserverOrSkip(this);
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
  });

  const candidate = (namespace: string, identity: string): LeaderElector => {
    const e = new LeaderElector({ kubeConfig: kubeConfigOf(kas), namespace, identity, leaseDurationMs: LEASE_MS, renewDeadlineMs: LEASE_MS / 2, retryPeriodMs: LEASE_MS / 6 });
    electors.push(e);
    return e;
  };

  async function namespace(): Promise<string> {
    const ns = uniqueName("lease");
    await kubeConfigOf(kas).makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
    return ns;
  }

  it("writes MicroTime as the apiserver parses it", () => {
    assert.equal(microTime(Date.UTC(2026, 11, 4, 6, 0, 0, 123)), "2026-12-04T06:00:00.123000Z");
  });

  it("lets exactly one of three candidates hold the Lease, and keeps it there while it renews", async () => {
    const ns = await namespace();
    const all = ["a", "b", "c"].map((id) => candidate(ns, id));
    all.forEach((e) => e.start());
    const holder = await eventually("a holder", async () => await leaseHolder(kubeConfigOf(kas), ns));
    await eventually("the holder to know it leads", () => (all.find((e) => e.identity === holder)?.isLeader ? true : undefined));
    // Several renewals later (two lease durations) the same one holds it and no one else thinks it leads.
    await new Promise((r) => setTimeout(r, 2 * LEASE_MS));
    assert.equal(await leaseHolder(kubeConfigOf(kas), ns), holder);
    assert.deepEqual(all.filter((e) => e.isLeader).map((e) => e.identity), [holder]);
  });

  it("hands over after a crashed holder's lease runs out, and not before it stopped renewing", async () => {
    const ns = await namespace();
    const a = candidate(ns, "a");
    a.start();
    await eventually("a to lead", () => (a.isLeader ? true : undefined));
    const b = candidate(ns, "b");
    let bLeadsAt = 0;
    b.on("leading", () => (bLeadsAt = Date.now()));
    b.start();
    await new Promise((r) => setTimeout(r, 2 * LEASE_MS));
    assert.equal(b.isLeader, false, "b does not take a Lease that is being renewed");
    const crashedAt = Date.now();
    await a.stop({ release: false });
    await eventually("b to lead", () => (b.isLeader ? true : undefined), 6 * LEASE_MS);
    assert.equal(await leaseHolder(kubeConfigOf(kas), ns), "b");
    console.log(`      takeover after the holder crashed: ${bLeadsAt - crashedAt} ms (lease ${LEASE_MS} ms)`);
  });

  it("hands over at once when the holder stops cleanly", async () => {
    const ns = await namespace();
    const a = candidate(ns, "a");
    a.start();
    await eventually("a to lead", () => (a.isLeader ? true : undefined));
    const b = candidate(ns, "b");
    b.start();
    await a.stop();
    assert.equal(await leaseHolder(kubeConfigOf(kas), ns), undefined, "a cleared holderIdentity");
    await eventually("b to lead", () => (b.isLeader ? true : undefined));
  });
});

describe("kube: leader election while the apiserver is away", function () {
  this.timeout(360_000);
  let kas: KubeApiserver | undefined;
  const electors: LeaderElector[] = [];

  before(function () {
    kas = privateKubeApiserverOrSkip(this);
  });
  after(async () => {
    await Promise.all(electors.map((e) => e.stop()));
    kas?.stop();
  });

  it("the holder stops leading once it cannot renew within the renew deadline, and two replicas never both lead", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kas!.kubeconfig);
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: "meshward" } } });
    const make = (identity: string): LeaderElector => {
      const e = new LeaderElector({ kubeConfig: kc, namespace: "meshward", identity, leaseDurationMs: LEASE_MS, renewDeadlineMs: LEASE_MS / 2, retryPeriodMs: LEASE_MS / 6 });
      electors.push(e);
      return e;
    };
    const a = make("a");
    a.start();
    await eventually("a to lead", () => (a.isLeader ? true : undefined));
    const b = make("b");
    b.start();
    let both = 0;
    const sampler = setInterval(() => (both += a.isLeader && b.isLeader ? 1 : 0), 20);
    try {
      // Down for two lease durations: longer than the renew deadline however fast the apiserver starts
      // again (a quick restart on a quiet machine used to finish before the holder's deadline).
      const restart = restartApiserverInBackground(kas!, (2 * LEASE_MS) / 1000);
      let steppedDown = false;
      a.once("stopped-leading", () => (steppedDown = true));
      await restart;
      assert.ok(steppedDown, "a stopped leading while it could not renew (the restart outlasts the renew deadline)");
      await eventually("a leader again", () => (a.isLeader || b.isLeader ? true : undefined), 6 * LEASE_MS);
      await new Promise((r) => setTimeout(r, LEASE_MS));
    } finally {
      clearInterval(sampler);
    }
    assert.equal(both, 0, "never two leaders at once");
    assert.equal([a, b].filter((e) => e.isLeader).length, 1);
  });
});
