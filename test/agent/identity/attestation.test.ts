// Kernel attestation on the node identity socket, for real: processes placed in kubelet-shaped pod
// cgroups on this kernel call the SPIFFE Workload API over the Unix socket and get exactly their
// own pod's identity; a host process gets nothing; a process that moves to another pod's cgroup
// loses its stream and is attested again as that pod; executable selectors narrow who in a pod
// gets its identity.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { parseExecutableSelector, processStartTime, readProcess, WorkloadAttestor } from "../../../src/agent/identity/attestation.js";
import { PodDirectory } from "../../../src/agent/attribution/pod-directory.js";
import { join } from "node:path";
import { useIdentityFixture } from "./fixture.js";

describe("node identity socket: kernel attestation (real kernel, kubelet-shaped cgroups)", function () {
  this.timeout(60_000);
  const fx = useIdentityFixture();

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

describe("node identity socket: executable selectors (path and sha256 of /proc/<pid>/exe)", function () {
  this.timeout(60_000);
  const node = realpathSync(process.execPath);
  const nodeHash = createHash("sha256").update(readFileSync(node)).digest("hex");
  const trueHash = createHash("sha256").update(readFileSync(realpathSync("/bin/true"))).digest("hex");
  const fx = useIdentityFixture({
    executableSelectors: new Map([
      ["meshward-test/exe-path-sa", [{ path: node }]],
      ["meshward-test/exe-hash-sa", [{ sha256: "0".repeat(64) }, { sha256: nodeHash }]],
      ["meshward-test/exe-other-sa", [{ sha256: trueHash }]],
    ]),
  });

  it("a process whose executable matches the identity's path or sha256 selector gets the SVID", async () => {
    const byPath = fx.agentFixture.newPod("exe-path");
    const byHash = fx.agentFixture.newPod("exe-hash");
    assert.equal((await fx.client(byPath, ["fetch-svid"]).line(0)).spiffeId, fx.spiffeIdOf(byPath));
    assert.equal((await fx.client(byHash, ["fetch-svid"]).line(0)).spiffeId, fx.spiffeIdOf(byHash));
  });

  it("a process of the right pod running another executable gets nothing, with the reason", async () => {
    const pod = fx.agentFixture.newPod("exe-other");
    const r = await fx.client(pod, ["fetch-svid"]).line(0);
    assert.equal(r.error, "PERMISSION_DENIED");
    assert.match(r.details ?? "", new RegExp(`executable ${node} \\(sha256 ${nodeHash}\\) of process \\d+ matches no selector of meshward-test/exe-other-sa`));
  });

  it("rejects a malformed selector naming the flag", () => {
    assert.throws(() => parseExecutableSelector("shop/cart=md5:abc", "--identity-exe"), /--identity-exe "shop\/cart=md5:abc": want <namespace>\/<service-account>=path:/);
    assert.deepEqual(parseExecutableSelector(`shop/cart=sha256:${nodeHash}`, "x"), { key: "shop/cart", selector: { sha256: nodeHash } });
  });
});

describe("node identity: pid-reuse guard (process start time)", function () {
  it("a pid whose start time differs from the one seen at connect is refused as reused", () => {
    const start = processStartTime(process.pid);
    assert.equal(typeof start, "bigint");
    const same = readProcess(process.pid, undefined, start);
    assert.ok(!("error" in same), JSON.stringify(same, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)));
    const reused = readProcess(process.pid, undefined, (start ?? 0n) + 1n);
    assert.deepEqual(reused, { error: `pid ${process.pid} now belongs to another process (pid reuse)` });
  });

  it("startTimeOf gives a live process's start time and nothing for a pid that does not exist", () => {
    const pods = new PodDirectory();
    const attestor = new WorkloadAttestor({ node: "n", trustDomain: "cluster.local", pods });
    assert.equal(attestor.startTimeOf(process.pid), processStartTime(process.pid));
    assert.equal(attestor.startTimeOf(2 ** 22 + 1), undefined, "no such pid");
  });
});

describe("node identity socket: per-pod bound on connections", function () {
  this.timeout(60_000);
  const fx = useIdentityFixture({ maxConnectionsPerPod: 2 });

  it("a pod past its connection bound is refused while another pod is still served", async () => {
    const greedy = fx.agentFixture.newPod("greedy");
    const other = fx.agentFixture.newPod("other");
    const held = [fx.client(greedy, ["watch-svid"]), fx.client(greedy, ["watch-svid"])];
    for (const w of held) assert.equal((await w.line(0)).spiffeId, fx.spiffeIdOf(greedy));
    const third = await fx.client(greedy, ["fetch-svid"]).line(0);
    assert.equal(third.error, "UNAVAILABLE", JSON.stringify(third));
    assert.equal((await fx.client(other, ["fetch-svid"]).line(0)).spiffeId, fx.spiffeIdOf(other));
    for (const w of held) w.kill();
  });
});
