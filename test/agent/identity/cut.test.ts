// The identity cut at the node, for real: a real `nsenter` run in pod A's cgroup is detected by the
// eBPF agent on this kernel, and the agent closes A's identity streams and serves A nothing more
// while B's stream keeps working; the control plane's CA refuses A while it is quarantined, and a
// release restores A's identity from the agent again.
import { strict as assert } from "node:assert";
import { eventually } from "../../support/eventually.js";
import { runInPod } from "../kube-cgroup.js";
import { useIdentityFixture } from "./fixture.js";

describe("node identity: the cut at the node (real kernel, real detection)", function () {
  this.timeout(60_000);
  const fx = useIdentityFixture({ cutHoldMs: 300 });

  it("nsenter in pod A closes A's identity streams and A gets nothing more, while B's stream keeps working", async () => {
    const a = fx.agentFixture.newPod("victim");
    const b = fx.agentFixture.newPod("bystander");
    const wa = fx.client(a, ["watch-svid"]);
    const wb = fx.client(b, ["watch-svid"]);
    assert.equal((await wa.line(0)).spiffeId, fx.spiffeIdOf(a));
    assert.equal((await wb.line(0)).spiffeId, fx.spiffeIdOf(b));
    // The control plane quarantines A on this signal (as a RuntimePolicy would); the agent does not wait for it.
    fx.quarantine(a, "namespace-setns");
    await runInPod(a, ["nsenter", "--net=/proc/self/ns/net", "true"]);
    const closed = await wa.line(1);
    assert.equal(closed.error, "PERMISSION_DENIED");
    assert.match(closed.details ?? "", /is cut: runtime detection namespace-setns \(high\)/);
    const again = await fx.client(a, ["fetch-svid"]).line(0);
    assert.equal(again.error, "PERMISSION_DENIED");
    assert.match(again.details ?? "", /is cut/);
    // B: its stream is still open (nothing more printed) and a new call is served.
    assert.equal(wb.lines.length, 1);
    assert.equal(wb.child.exitCode, null);
    assert.equal((await fx.client(b, ["fetch-svid"]).line(0)).spiffeId, fx.spiffeIdOf(b));
    // The one-shot fetch's stream ends with its process; B's watch stays.
    await eventually("B's one-shot stream to end", () => (fx.identity?.socket.openStreams(b.uid) === 1 ? true : undefined));
    assert.equal(fx.identity?.socket.openStreams(a.uid), 0);

    // After the hold the agent asks the CA again: refused while quarantined.
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(fx.caServer?.decisions.some((d) => d.outcome === "denied" && /withheld: quarantine/.test(d.reason ?? "")), "the CA refused A while quarantined");
    assert.match(fx.identity?.certificates.cutReason(a.uid) ?? "", /runtime detection/);

    // Release at the control plane: the agent's next check gets a certificate and A is served again.
    assert.equal(fx.enforcement.release(`${a.namespace}/${a.name}`, "test").length, 1);
    await eventually("A's identity to be restored", () => (fx.identity?.certificates.cutReason(a.uid) === undefined ? true : undefined));
    assert.equal((await fx.client(a, ["fetch-svid"]).line(0)).spiffeId, fx.spiffeIdOf(a));
    wa.kill();
    wb.kill();
  });
});

describe("node identity: rotation and the control plane's quarantine at renewal", function () {
  this.timeout(60_000);
  const fx = useIdentityFixture({ ttlSeconds: 3, cutHoldMs: 60_000 });

  it("a watching workload gets the rotated SVID (new key and serial) on the same stream", async () => {
    const a = fx.agentFixture.newPod("rotating");
    const w = fx.client(a, ["watch-svid"]);
    const first = await w.line(0);
    const second = await w.line(1, 10_000);
    assert.equal(second.spiffeId, first.spiffeId);
    assert.notEqual(second.serial, first.serial);
    assert.equal(second.error, undefined);
    w.kill();
  });

  it("a pod quarantined by the control plane loses its streams when the CA refuses the renewal", async () => {
    const a = fx.agentFixture.newPod("cp-quarantined");
    const w = fx.client(a, ["watch-svid"]);
    assert.equal((await w.line(0)).spiffeId, fx.spiffeIdOf(a));
    fx.quarantine(a, "operator");
    const closed = await w.line(1, 10_000);
    assert.equal(closed.error, "PERMISSION_DENIED");
    assert.match(closed.details ?? "", /is cut: the CA refused: .*withheld: quarantine/);
    w.kill();
  });
});

describe("node identity: the control plane's quarantine and release reach the node at once (NodeIdentityService)", function () {
  this.timeout(60_000);
  const fx = useIdentityFixture({}, true);

  it("a quarantine closes the pod's streams long before renewal, leaves other pods alone, and a release restores the pod", async () => {
    const a = fx.agentFixture.newPod("cp-cut");
    const b = fx.agentFixture.newPod("cp-other");
    const wa = fx.client(a, ["watch-svid"]);
    const wb = fx.client(b, ["watch-svid"]);
    assert.equal((await wa.line(0)).spiffeId, fx.spiffeIdOf(a));
    assert.equal((await wb.line(0)).spiffeId, fx.spiffeIdOf(b));
    fx.quarantine(a, "operator");
    const closed = await wa.line(1);
    assert.equal(closed.error, "PERMISSION_DENIED");
    assert.match(closed.details ?? "", /is cut: the control plane withholds it: quarantine .*\(operator\)/);
    assert.equal(wb.lines.length, 1, "B's stream is untouched");
    assert.equal(fx.enforcement.release(`${a.namespace}/${a.name}`, "test").length, 1);
    await eventually("A's identity restored on release", () => (fx.identity?.certificates.cutReason(a.uid) === undefined ? true : undefined));
    assert.equal((await fx.client(a, ["fetch-svid"]).line(0)).spiffeId, fx.spiffeIdOf(a));
    wa.kill();
    wb.kill();
  });
});
