// go-spiffe v2's Workload API client (workloadapi, built from the Go module proxy as
// test/interop/go-spiffe/spiffepeer) against the node agent's identity socket, running inside
// kubelet-shaped pod cgroups on this kernel: it fetches its pod's X.509-SVID and bundle, watches
// rotations on one stream, and sees PermissionDenied when the pod's identity is cut.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { buildGoBinary } from "../support/go-build.js";
import { repoRoot } from "../support/grpc-go-peer.js";
import { skipUnlessRoot } from "../agent/fixture.js";
import { IdentityFixture } from "../agent/identity/fixture.js";

describe("interop: go-spiffe workloadapi against the node identity socket", function () {
  this.timeout(120_000);
  const fx = new IdentityFixture({ ttlSeconds: 3 });
  let peer = "";

  before(async function () {
    skipUnlessRoot(this);
    this.timeout(600_000); // the first build fetches go-spiffe from the Go module proxy
    const built = await buildGoBinary({ what: "go-spiffe peer", dir: join(repoRoot(), "test", "interop", "go-spiffe"), pkg: "./spiffepeer", cacheName: "meshward-go-spiffe", binary: "spiffepeer" });
    if ("skip" in built) {
      console.log(`      skipping go-spiffe interop: ${built.skip}`);
      return this.skip();
    }
    peer = built.path;
    await fx.start();
  });

  after(async () => {
    await fx.stop();
  });

  it("FetchX509SVID and FetchX509Bundles give go-spiffe its pod's SVID and the trust domain's bundle", async () => {
    const pod = fx.agentFixture.newPod("gospiffe");
    const w = fx.run(pod, [peer, fx.socketPath, "fetch"]);
    const svid = await w.line(0);
    assert.equal(svid.event, "svid", JSON.stringify(svid));
    assert.equal(svid.id, fx.spiffeIdOf(pod));
    const bundles = await w.line(1);
    assert.deepEqual(bundles.trustDomains, ["spiffe://cluster.local:1"]);
  });

  it("WatchX509Context receives rotated SVIDs on its stream and a PermissionDenied when the pod's identity is cut", async () => {
    const pod = fx.agentFixture.newPod("gowatch");
    const w = fx.run(pod, [peer, fx.socketPath, "watch"]);
    const first = await w.line(0);
    const second = await w.line(1, 10_000);
    assert.equal(first.event, "update");
    assert.equal(second.event, "update");
    assert.equal(second.id, fx.spiffeIdOf(pod));
    assert.notEqual(second.serial, first.serial, "a rotated certificate");
    fx.identity?.certificates.cut(pod.uid, "test cut");
    const deadline = Date.now() + 10_000;
    let cut: Record<string, unknown> | undefined;
    for (let i = 2; cut === undefined && Date.now() < deadline; i++) {
      const l = await w.line(i, 10_000);
      if (l.event === "error") cut = l;
    }
    assert.match(String(cut?.error), /PermissionDenied.*is cut: test cut/);
    w.kill();
  });
});
