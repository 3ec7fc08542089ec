// The quarantine on an IPv4 pod network, where the AuthorizationPolicy overlay cannot hold for
// proxyless gRPC: grpc-js-xds 1.14's dual-stack XdsServer sees IPv4 peers (and its own local
// address) as `::ffff:a.b.c.d`, which never matches the overlay's IPv4 `ipBlocks` / `destination.ip`,
// so that overlay alone failed open here. The routing-level enforcement (WorkloadEnforcement) needs
// no data-plane IP matching, and these are the codes it gives, each for a reason:
//  - peer -> quarantined pod: UNAVAILABLE. The pod's endpoint left peer's EDS; its only service has
//    no endpoint left, and grpc-js-xds fails a call to a cluster without endpoints with UNAVAILABLE
//    (the call never reaches the pod, so its own RBAC is not what answers).
//  - quarantined pod -> anyone: UNAVAILABLE. Its own EDS is empty: it has nowhere to connect.
//  - a direct mTLS call to the quarantined pod's address (bypassing EDS, as an attacker who knows the
//    IP would): PERMISSION_DENIED, from the unconditional deny-all on its own proxy, which matches
//    no IP at all.
// The healthy replica (same service account) keeps calling and being called; release restores.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { status } from "@grpc/grpc-js";
import { skipUnlessRoot } from "../agent/fixture.js";
import { eventually } from "../support/proxyless.js";
import { NS, QuarantineMesh, bin, directCall, type Pod } from "../support/quarantine-mesh.js";

describe("e2e: quarantine on an IPv4 pod network holds without data-plane IP matching (grpc-js-xds)", function () {
  this.timeout(180_000);
  const mesh = new QuarantineMesh(4);
  let bad: Pod, good: Pod, peer: Pod;

  before(async function () {
    skipUnlessRoot(this);
    await mesh.start();
    ({ bad, good, peer } = mesh);
  });

  after(() => mesh.stop());

  it("before the escape every pod calls every other, and a direct mTLS call reaches the pod", async () => {
    for (const [from, to] of [[peer, bad], [peer, good], [bad, peer], [good, peer], [bad, good]] as const) await mesh.until(from, to, `ok:${to.short}`);
    assert.equal(await directCall(mesh, bad.net.ip, "peer"), status.OK);
  });

  it("after the escape: calls to and from the pod fail (UNAVAILABLE: no endpoint), a direct call is PERMISSION_DENIED, the replica works", async () => {
    const r = await mesh.escape(bad);
    assert.equal(r.code, 0, `nsenter into the host mount namespace: ${r.stderr}`);
    await mesh.until(peer, bad, "unavailable");
    await mesh.until(bad, peer, "unavailable");
    assert.equal(await mesh.call(bad, good), "unavailable");
    await eventually("a direct call to the quarantined pod to be denied by its own proxy", async () => ((await directCall(mesh, bad.net.ip, "peer")) === status.PERMISSION_DENIED ? true : undefined), 30_000);
    assert.equal(await mesh.call(good, peer), "ok:peer", "the healthy replica (same service account) still calls");
    assert.equal(await mesh.call(peer, good), "ok:web-b", "the healthy replica is still called");
    assert.equal(await directCall(mesh, good.net.ip, "peer"), status.OK, "and still served directly");
  });

  it("release restores traffic both ways", async () => {
    const { stdout } = await promisify(execFile)(bin, ["quarantine", "release", `${NS}/${bad.name}`, "--data-dir", mesh.dataDir]);
    assert.match(stdout, /^released q-/m);
    await mesh.until(peer, bad, "ok:web-a");
    await mesh.until(bad, peer, "ok:peer");
    assert.equal(await directCall(mesh, bad.net.ip, "peer"), status.OK);
  });

  it("nothing meshward sent was NACKed", () => {
    assert.deepEqual(mesh.events.filter((e) => e.kind === "nack"), []);
  });
});
