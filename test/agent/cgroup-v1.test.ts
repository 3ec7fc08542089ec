// Nodes whose kubelet runs on cgroup v1 (cgroupfs driver): the agent filters and attributes on
// the v1 memory controller's hierarchy. The kubepods tree is built inside this process's own
// memory cgroup so the test never moves anything out of the limits it runs under.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { findCgroup2Mount } from "../../src/agent/attribution/cgroup-index.js";
import { cgroupPathFromProcFile } from "../../src/agent/attribution/cgroup-path.js";
import { AgentFixture, skipUnlessRoot } from "./fixture.js";
import { runInPod, type TestPod } from "./kube-cgroup.js";

describe("cgroup v1 (cgroupfs driver, memory controller)", function () {
  this.timeout(60_000);
  const memory = findCgroup2Mount(undefined, "memory");
  const own = cgroupPathFromProcFile(readFileSync("/proc/self/cgroup", "utf8"), "memory");
  const base = memory !== undefined && own !== undefined ? join(memory, own, `kubepods-test-${randomBytes(4).toString("hex")}`, "kubepods") : "";
  const fx = new AgentFixture({ cgroupV1Controller: "memory", extraWatchRoots: [base] });
  let pod: (TestPod & { labels: Record<string, string> }) | undefined;

  before(async function () {
    skipUnlessRoot(this);
    if (memory === undefined || own === undefined) {
      console.log("    skipped: no cgroup v1 memory hierarchy on this machine");
      this.skip();
    }
    const uid = randomUUID();
    const containerId = randomBytes(32).toString("hex");
    const podDir = join(base, "besteffort", `pod${uid}`);
    const cgroupDir = join(podDir, containerId);
    mkdirSync(cgroupDir, { recursive: true });
    pod = { uid, namespace: "meshward-test", name: `v1-${uid.slice(0, 8)}`, containerId, containerName: "legacy", cgroupDir, podDir, labels: {} };
    await fx.start();
    fx.addPod(pod);
  });

  after(async () => {
    await fx.stop();
    // fx.stop() removed the container and pod directories; the rest of the test tree goes here.
    for (const d of [join(base, "besteffort"), base, join(base, "..")]) if (existsSync(d)) rmdirSync(d);
  });

  it("detects and attributes a container process on the v1 hierarchy", async () => {
    const p = pod!;
    await runInPod(p, ["unshare", "-n", "true"]);
    const s = await fx.waitForSignal((x) => x.detection?.id === "namespace-unshare" && x.pod?.uid === p.uid);
    assert.equal(s.container?.id, p.containerId);
    assert.equal(s.container?.name, "legacy");
    assert.equal(s.pod?.name, p.name);
    assert.ok(s.container?.cgroupPath.endsWith(`/kubepods/besteffort/pod${p.uid}/${p.containerId}`), s.container?.cgroupPath);
  });

  it("ignores processes outside the watched v1 tree", async () => {
    const before = fx.agent!.counters.events;
    // a host process (this test's own memory cgroup) doing the same thing
    await new Promise<void>((resolve) => execFile("unshare", ["-n", "true"], () => resolve()));
    await runInPod(pod!, ["cat", "/etc/shadow"]); // sentinel from inside
    await fx.waitForSignal((x) => x.detection?.id === "sensitive-file-read" && x.pod?.uid === pod!.uid);
    assert.ok(!fx.controlPlane.received.some((x) => x.detection?.id === "namespace-unshare" && x.pod === undefined));
    assert.ok(fx.agent!.counters.events > before);
  });
});
