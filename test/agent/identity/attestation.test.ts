// Kernel attestation on the node identity socket, for real: processes placed in kubelet-shaped pod
// cgroups on this kernel call the SPIFFE Workload API over the Unix socket and get exactly their
// own pod's identity; a host process gets nothing; a process that moves to another pod's cgroup
// loses its stream and is attested again as that pod.
import { strict as assert } from "node:assert";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { skipUnlessRoot } from "../fixture.js";
import { IdentityFixture } from "./fixture.js";

describe("node identity socket: kernel attestation (real kernel, kubelet-shaped cgroups)", function () {
  this.timeout(60_000);
  const fx = new IdentityFixture();

  before(async function () {
    skipUnlessRoot(this);
    await fx.start();
  });

  after(async () => {
    await fx.stop();
  });

  it("serves the socket with the stated mode", () => {
    const st = statSync(fx.socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o666);
  });

  it("a process in pod A's cgroup gets A's SVID and never B's", async () => {
    const a = fx.agentFixture.newPod("alpha");
    const b = fx.agentFixture.newPod("beta");
    const inA = await fx.client(a, ["fetch-svid"]).line(0);
    const inB = await fx.client(b, ["fetch-svid"]).line(0);
    assert.equal(inA.spiffeId, fx.spiffeIdOf(a));
    assert.equal(inA.san, `URI:${fx.spiffeIdOf(a)}`);
    assert.ok((inA.keyBytes ?? 0) > 0, "the SVID carries its private key");
    assert.equal(inB.spiffeId, fx.spiffeIdOf(b));
    assert.notEqual(inA.spiffeId, inB.spiffeId);
  });

  it("a host process (no pod cgroup) gets nothing, with the reason", async () => {
    const r = await fx.client(undefined, ["fetch-svid"]).line(0);
    assert.equal(r.error, "PERMISSION_DENIED");
    assert.match(r.details ?? "", /no identity issued: process \d+ is not in a pod/);
  });

  it("a process in a pod the agent cannot place gets nothing", async () => {
    const { createTestPod, removeTestPod } = await import("../kube-cgroup.js");
    const unknown = createTestPod("unlisted");
    try {
      const r = await fx.client(unknown, ["fetch-svid"]).line(0);
      assert.equal(r.error, "PERMISSION_DENIED");
      assert.match(r.details ?? "", new RegExp(`in pod ${unknown.uid}, which the agent cannot place`));
    } finally {
      await removeTestPod(unknown);
    }
  });

  it("a call without the workload.spiffe.io header is refused", async () => {
    const a = fx.agentFixture.newPod("header");
    const r = await fx.client(a, ["fetch-svid", "--no-header"]).line(0);
    assert.equal(r.error, "INVALID_ARGUMENT");
    assert.match(r.details ?? "", /security header missing/);
  });

  it("a process that moves to pod B's cgroup loses A's stream and is attested again as B", async () => {
    const a = fx.agentFixture.newPod("mover-a");
    const b = fx.agentFixture.newPod("mover-b");
    const w = fx.client(a, ["watch-svid", "--reopen"]);
    assert.equal((await w.line(0)).spiffeId, fx.spiffeIdOf(a));
    writeFileSync(join(b.cgroupDir, "cgroup.procs"), `${w.pid}\n`);
    const closed = await w.line(1);
    assert.equal(closed.error, "PERMISSION_DENIED");
    assert.match(closed.details ?? "", new RegExp(`re-attestation: the caller is now in pod ${b.namespace}/${b.name}`));
    assert.equal((await w.line(2)).spiffeId, fx.spiffeIdOf(b));
    w.kill();
  });

  it("FetchX509Bundles gives the trust domain's bundle", async () => {
    const a = fx.agentFixture.newPod("bundles");
    const w = fx.client(a, ["watch-bundles"]);
    assert.deepEqual((await w.line(0)).bundles, ["spiffe://cluster.local"]);
    w.kill();
  });

  it("the CA refuses the agent a pod it places on another node, and the pod gets nothing", async () => {
    const a = fx.agentFixture.newPod("moved");
    fx.elsewhere.add(a.uid);
    const r = await fx.client(a, ["fetch-svid"]).line(0);
    assert.equal(r.error, "PERMISSION_DENIED");
    assert.match(r.details ?? "", /is scheduled on node/);
    const refusal = fx.caServer?.decisions.find((d) => d.outcome === "denied" && /scheduled on node/.test(d.reason ?? ""));
    assert.ok(refusal, "the CA recorded the refusal");
  });
});
