// End to end on the real kernel: a workload escapes (setns into the node's mount namespace), the
// real eBPF node agent reports it, meshward's risk stage quarantines the pod per a RuntimePolicy,
// and real grpc-js-xds workloads (RBAC on, mTLS: STRICT PeerAuthentication and ISTIO_MUTUAL, with
// certificates from serve's CA via `meshward workload-certs`) then refuse calls from and to that
// pod (UNAVAILABLE through the mesh: no endpoint; PERMISSION_DENIED when called directly) while a
// healthy replica with the same service account keeps working. The quarantine survives a
// control-plane restart; `meshward quarantine release` restores traffic; the audit trail holds the
// chain with its timestamps.
//
// The fixture (test/support/quarantine-mesh.ts) puts each pod in a kubelet-shaped cgroup and its own
// network namespace; IPv6 here, where grpc-js-xds matches the overlay's IPs (quarantine-ipv4.test.ts
// covers the IPv4 case, where only the routing-level enforcement holds).
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Client, credentials, Metadata, status } from "@grpc/grpc-js";
import { AuditQuery } from "../../src/risk/audit-query.js";
import { openAuditDatabase } from "../../src/risk/audit-schema.js";
import { TypeUrl } from "../../src/xds/types.js";
import { skipUnlessRoot } from "../agent/fixture.js";
import { PodNetwork } from "../support/pod-network.js";
import { eventually } from "../support/proxyless.js";
import { NS, PORT, QuarantineMesh, bin, directCall, type Pod } from "../support/quarantine-mesh.js";

describe("e2e: a container escape quarantines the pod in the mesh (real kernel, agent, grpc-js-xds)", function () {
  this.timeout(180_000);
  const mesh = new QuarantineMesh(6);
  const { pods, events } = mesh;
  let bad: Pod, good: Pod, peer: Pod;
  let signalId = "";
  const call = (from: Pod, to: Pod): Promise<string> => mesh.call(from, to);
  const until = (from: Pod, to: Pod, want: string): Promise<true> => mesh.until(from, to, want);

  before(async function () {
    skipUnlessRoot(this);
    await mesh.start();
    ({ bad, good, peer } = mesh);
  });

  after(() => mesh.stop());

  it("before anything happens every pod calls every other, over mTLS only", async () => {
    for (const [from, to] of [[peer, bad], [peer, good], [bad, peer], [good, peer], [bad, good]] as const) await until(from, to, `ok:${to.short}`);
    // A plaintext caller (no xDS, no certificate) is refused by the STRICT server.
    const plain = new Client(PodNetwork.hostPort(peer.net.ip, PORT), credentials.createInsecure());
    try {
      const code = await new Promise<number>((resolve) =>
        plain.makeUnaryRequest("/meshward.test.Echo/Echo", (b: Buffer) => b, (b: Buffer) => b, Buffer.from("ping"), new Metadata(), { deadline: Date.now() + 3000 }, (err) => resolve(err?.code ?? status.OK)),
      );
      assert.notEqual(code, status.OK, "plaintext is not served under STRICT");
    } finally {
      plain.close();
    }
  });

  it("the escape is detected, and calls from and to the pod fail while its replica keeps working", async () => {
    // The node's mount namespace is the test runner's (PID 1's may be out of reach in a CI sandbox).
    const r = await mesh.escape(bad);
    assert.equal(r.code, 0, `nsenter into the host mount namespace: ${r.stderr}`);
    // Through the mesh, calls fail with UNAVAILABLE: the pod's endpoint left every peer's EDS and
    // its own EDS is empty, so no connection is even attempted (routing-level enforcement).
    await until(peer, bad, "unavailable");
    await until(bad, peer, "unavailable");
    assert.equal(await call(good, peer), "ok:peer", "the healthy replica (same service account) still calls");
    assert.equal(await call(peer, good), "ok:web-b", "the healthy replica is still called");
    assert.equal(await call(bad, good), "unavailable");
    // A caller that knows the pod's address and bypasses EDS is refused by the pod's own proxy:
    // PERMISSION_DENIED (the overlay's deny-all on its proxy and, on IPv6, its destination.ip DENY).
    assert.equal(await directCall(mesh, bad.net.ip, "peer"), status.PERMISSION_DENIED);
    assert.equal(await directCall(mesh, good.net.ip, "peer"), status.OK);
    const q = new AuditQuery(mesh.cp!.risk.risk.audit.db);
    const sig = q.signals({ pod: bad.uid, detection: "namespace-setns" });
    assert.equal(sig.length >= 1, true, "the signal is in the audit trail");
    signalId = sig[0]!.id;
  });

  it("the audit trail times the chain syscall -> agent -> control plane -> translation -> push -> last ACK", async () => {
    const q = new AuditQuery(mesh.cp!.risk.risk.audit.db);
    const chain = await eventually("the chain to complete", () => {
      const c = q.chain(signalId);
      return c?.latencyUs !== undefined ? c : undefined;
    });
    const stages = [chain.eventUs, chain.agentSentUs, chain.receivedUs, chain.verdictUs, chain.translatedUs, chain.firstPushUs, chain.lastAckUs];
    for (const s of stages) assert.equal(typeof s, "number");
    for (let i = 1; i < stages.length; i++) assert.ok(stages[i]! >= stages[i - 1]!, `stage ${i} after stage ${i - 1}: ${stages.join(", ")}`);
    assert.equal(chain.latencyUs, chain.lastAckUs! - chain.eventUs);
    assert.equal(chain.proxies, pods.length, "every workload's proxy had to take the enforcement");
    assert.equal(chain.acked, pods.length);
    const deliveries = q.deliveries(signalId);
    assert.ok(deliveries.some((d) => d.typeUrl === TypeUrl.Listener && d.answeredMs !== undefined && !d.nack));
    const metrics = await (await fetch(`http://${mesh.cp!.monitoringAddress}/metrics`)).text();
    assert.match(metrics, /^meshward_enforcement_chain_seconds_count [1-9]/m);
    console.log(`      syscall -> last ACK: ${(chain.latencyUs! / 1000).toFixed(1)} ms over ${chain.proxies} proxies`);
    // The same, as an operator sees it next to the running serve.
    const { stdout: trail } = await promisify(execFile)(bin, ["events", `--signal=${signalId}`, "--data-dir", mesh.dataDir]);
    assert.match(trail, new RegExp(`chain .*signal=${signalId} syscall->last ACK [0-9.]+ms over ${pods.length} proxies \\(${pods.length} ACK, 0 NACK\\): agent \\+[0-9.]+ms received \\+[0-9.]+ms verdict \\+[0-9.]+ms translated \\+[0-9.]+ms first push \\+[0-9.]+ms last ACK \\+[0-9.]+ms`));
    assert.match(trail, /\bquarantine pod q-/);
    const { stdout: list } = await promisify(execFile)(bin, ["quarantine", "list", "--data-dir", mesh.dataDir]);
    assert.match(list, new RegExp(`quarantine +pod +${NS}/${bad.name} +${bad.net.ip.replace(/[.]/g, "\\.")}`));
  });

  it("a restarted control plane keeps the quarantine in force", async () => {
    const restartedAt = await mesh.restart();
    assert.ok(
      (mesh.cp!.provider.snapshot.others.get("AuthorizationPolicy") ?? []).some((a) => a.object.metadata.name.startsWith("meshward-quarantine-")),
      "the first snapshot after the restart carries the quarantine",
    );
    // Every workload took its listeners from the new control plane ...
    for (const p of pods) {
      const id = `sidecar~${p.net.ip}~${p.name}.${NS}~${NS}.svc.cluster.local`;
      await eventually(`${p.short} to ACK listeners from the restarted control plane`, () =>
        events.slice(restartedAt).some((e) => e.kind === "ack" && e.proxyId === id && e.typeUrl === TypeUrl.Listener) ? true : undefined, 30_000);
    }
    // ... and they still enforce it.
    assert.equal(await call(peer, bad), "unavailable");
    assert.equal(await call(bad, peer), "unavailable");
    assert.equal(await directCall(mesh, bad.net.ip, "peer"), status.PERMISSION_DENIED);
    assert.equal(await call(good, peer), "ok:peer");
  });

  it("meshward quarantine release restores traffic", async () => {
    const { stdout } = await promisify(execFile)(bin, ["quarantine", "release", `${NS}/${bad.name}`, "--data-dir", mesh.dataDir]);
    assert.match(stdout, /^released q-/m);
    await until(peer, bad, "ok:web-a");
    await until(bad, peer, "ok:peer");
    const db = openAuditDatabase(mesh.dataDir, { readonly: true, mustExist: true });
    try {
      const actions = new AuditQuery(db).actions({ pod: bad.uid });
      assert.deepEqual(actions.map((a) => a.event), ["created", "released"]);
    } finally {
      db.close();
    }
  });

  it("nothing meshward sent was NACKed", () => {
    assert.deepEqual(events.filter((e) => e.kind === "nack"), []);
  });
});
