// Unit tests without the kernel: event layout vs the C compiler, cgroup path attribution, rule
// validation and reload, pod lists.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCgroupPath, cgroupPathFromProcFile } from "../../src/agent/attribution/cgroup-path.js";
import { podsFromMappingFile, podsFromPodList } from "../../src/agent/attribution/pod-directory.js";
import { matches, parseRuleFile, RuleEngine } from "../../src/agent/detections/engine.js";
import { decodeRecord, FrameReader, RECORD_SIZES, type ProcessHeader } from "../../src/agent/native/event-layout.js";
import type { ProcessNode } from "../../src/agent/process-tree.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

describe("event layout", () => {
  it("matches sizeof() of every struct in native/bpf/events.h", function () {
    this.timeout(20_000);
    const dir = mkdtempSync(join(tmpdir(), "meshward-layout-"));
    try {
      const names: Record<number, string> = {
        1: "mw_exec", 2: "mw_fork", 3: "mw_exit", 4: "mw_namespace_change", 5: "mw_namespace_change", 6: "mw_namespace_change",
        7: "mw_setuid", 8: "mw_capset", 9: "mw_mount", 10: "mw_open", 11: "mw_ptrace", 12: "mw_module", 13: "mw_bpf",
        14: "mw_dup_socket", 15: "mw_cred_change", 16: "mw_socket", 17: "mw_connect", 18: "mw_link", 19: "mw_chmod", 100: "mw_hello", 101: "mw_stats",
      };
      const lines = Object.entries(names).map(([t, n]) => `printf("%d %zu\\n", ${t}, sizeof(struct ${n}));`);
      writeFileSync(join(dir, "sizes.c"), `#include <linux/types.h>\n#include <stdio.h>\n#include "events.h"\nint main(void){${lines.join("")}return 0;}\n`);
      execFileSync("cc", ["-I", join(repo, "native", "bpf"), "-o", join(dir, "sizes"), join(dir, "sizes.c")]);
      const out = execFileSync(join(dir, "sizes"), { encoding: "utf8" });
      for (const line of out.trim().split("\n")) {
        const [t, size] = line.split(" ").map(Number);
        assert.equal(RECORD_SIZES[t], size, `type ${t} (${names[t]})`);
      }
      assert.equal(Object.keys(RECORD_SIZES).length, Object.keys(names).length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("decodes an open event and rejects a wrong size", () => {
    const b = Buffer.alloc(384);
    b.writeUInt16LE(10, 0);
    b.writeUInt16LE(384, 2);
    b.writeUInt32LE(4242, 4);
    b.writeBigUInt64LE(77n, 16);
    b.write("cat\0", 104);
    b.writeUInt32LE(1, 124);
    b.write("/etc/shadow\0", 128);
    const ev = decodeRecord(b);
    assert.equal(ev.kind, "open");
    if (ev.kind !== "open") return;
    assert.equal(ev.proc.tgid, 4242);
    assert.equal(ev.proc.cgroupId, 77n);
    assert.equal(ev.proc.comm, "cat");
    assert.equal(ev.path, "/etc/shadow");
    assert.throws(() => decodeRecord(b.subarray(0, 200)), /layout says 384/);
  });

  it("reassembles frames split across chunks", () => {
    const rec = Buffer.alloc(40);
    rec.writeUInt16LE(101, 0);
    rec.writeBigUInt64LE(5n, 16);
    const frame = Buffer.concat([Buffer.from([40, 0, 0, 0]), rec]);
    const both = Buffer.concat([frame, frame]);
    const r = new FrameReader();
    assert.equal(r.push(both.subarray(0, 10)).length, 0);
    const frames = r.push(both.subarray(10));
    assert.equal(frames.length, 2);
    const s = decodeRecord(frames[1]);
    assert.ok(s.kind === "stats" && s.ringbufDrops === 5n);
  });
});

describe("cgroup path attribution", () => {
  const uid = "2f0c5e8a-1b7d-4c1e-9d8e-0a1b2c3d4e5f";
  const id = "0123456789abcdef".repeat(4);
  const cases: Array<[string, string]> = [
    ["systemd + containerd (v2)", `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, "_")}.slice/cri-containerd-${id}.scope`],
    ["systemd + docker", `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, "_")}.slice/docker-${id}.scope`],
    ["systemd + CRI-O", `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, "_")}.slice/crio-${id}.scope`],
    ["cgroupfs (v1 and v2)", `/kubepods/burstable/pod${uid}/${id}`],
    ["cgroupfs guaranteed", `/kubepods/pod${uid}/${id}`],
    ["kind (docker in docker)", `/docker/${"f".repeat(64)}/kubepods/besteffort/pod${uid}/${id}`],
  ];
  for (const [name, path] of cases) {
    it(name, () => {
      const o = parseCgroupPath(path);
      assert.equal(o.podUid, uid);
      assert.equal(o.containerId, id);
    });
  }

  it("a pod-level cgroup has a pod and no container; a host cgroup has neither", () => {
    assert.deepEqual(parseCgroupPath(`/kubepods/besteffort/pod${uid}`), { podUid: uid, qosClass: "besteffort" });
    assert.deepEqual(parseCgroupPath("/system.slice/sshd.service"), {});
  });

  it("reads the v2 line of /proc/<pid>/cgroup, else a v1 line naming a pod", () => {
    assert.equal(cgroupPathFromProcFile("12:memory:/x\n0::/kubepods.slice/a\n"), "/kubepods.slice/a");
    assert.equal(cgroupPathFromProcFile(`4:memory:/kubepods/pod${uid}/${id}\n1:cpu:/\n`), `/kubepods/pod${uid}/${id}`);
  });
});

describe("pod metadata sources", () => {
  it("kubelet pod list: namespace, name, service account, labels, container ids without runtime prefix", () => {
    const pods = podsFromPodList({
      items: [{
        metadata: { uid: "u1", namespace: "shop", name: "cart-1", labels: { app: "cart" } },
        spec: { serviceAccountName: "cart", nodeName: "n1" },
        status: { containerStatuses: [{ name: "cart", containerID: `containerd://${"A".repeat(64)}` }] },
      }],
    });
    assert.deepEqual(pods[0], { uid: "u1", namespace: "shop", name: "cart-1", serviceAccount: "cart", node: "n1", labels: { app: "cart" }, containers: { ["a".repeat(64)]: "cart" } });
  });

  it("mapping file errors name the file and field", () => {
    assert.throws(() => podsFromMappingFile("pods.yaml", "pods:\n- uid: x\n  name: n\n"), /pods\.yaml: pods\[0\]\.namespace: required string/);
    assert.throws(() => podsFromMappingFile("pods.yaml", "pods: [unclosed\n"), /^Error: pods\.yaml: invalid YAML: /);
  });
});

describe("detection rules", () => {
  const proc = (over: Partial<ProcessHeader> = {}): ProcessHeader => ({
    tgid: 10, tid: 10, ptgid: 1, ktimeNs: 1n, cgroupId: 5n, startNs: 1n, parentStartNs: 0n, uid: 0, euid: 0, gid: 0, tty: 0,
    capEffective: 1n << 21n, ns: { mnt: 1, pid: 1, net: 1, user: 1, uts: 1, ipc: 1, cgroup: 1 }, comm: "curl", ...over,
  });
  const node = (binary: string, args: string[]): ProcessNode => ({ execId: "n:1:10", parentExecId: "n:0:1", tgid: 10, ptgid: 1, binary, args, uid: 0, tty: 0, comm: "curl" });
  const exec = { kind: "exec" as const, proc: proc(), flags: 0, exeMode: 0o755, exeUid: 0, exeNlink: 1, exeCtimeNs: 0n, filename: "/usr/bin/curl", args: ["curl", "x"] };
  const attribution = (labels: Record<string, string>) => ({
    cgroupId: 5n, podUid: "u", pod: { uid: "u", namespace: "pay", name: "p", serviceAccount: "sa", labels, containers: {} },
  });

  const good = `rules:
  - id: curl-in-payments
    severity: medium
    mitre: T1105
    match: {event: exec, binary: [curl], podLabels: {app: payments}, capabilities: [CAP_SYS_ADMIN]}
  - id: ptrace-attach
    enabled: false
`;

  it("custom rules match on binary, pod labels and capabilities, and can disable a preset", () => {
    const rules = parseRuleFile("rules.yaml", good);
    const engine = new RuleEngine();
    engine.setCustomRules(rules);
    assert.ok(!engine.rules.some((r) => r.id === "ptrace-attach"));
    const ctx = { event: exec, process: node("/usr/bin/curl", ["curl", "x"]), attribution: attribution({ app: "payments" }) };
    assert.deepEqual(engine.evaluate(ctx).map((r) => r.id), ["curl-in-payments"]);
    assert.deepEqual(engine.evaluate({ ...ctx, attribution: attribution({ app: "web" }) }).map((r) => r.id), []);
    assert.equal(matches(rules[0].match, { ...ctx, event: { ...exec, proc: proc({ capEffective: 0n }) } }), false);
  });

  it("presets leave the container runtime's own namespace setup alone (runc init joins the cgroup first)", () => {
    const engine = new RuleEngine();
    const setns = { kind: "setns" as const, proc: proc({ comm: "runc:[2:INIT]" }), nsFlags: 0x40000000n, fd: 3, syscall: 0 };
    const runcInit = { ...node("/proc/self/exe", ["runc", "init"]), comm: "runc:[2:INIT]" };
    assert.deepEqual(engine.evaluate({ event: setns, process: runcInit, attribution: attribution({}) }).map((r) => r.id), []);
    const nsenter = { ...node("/usr/bin/nsenter", ["nsenter", "-t", "1", "-n"]), comm: "nsenter" };
    assert.deepEqual(engine.evaluate({ event: { ...setns, proc: proc({ comm: "nsenter" }) }, process: nsenter, attribution: attribution({}) }).map((r) => r.id), ["namespace-setns"]);
  });

  it("rejects a bad rule with file, rule index and field", () => {
    assert.throws(() => parseRuleFile("r.yaml", "rules:\n  - id: a\n    severity: high\n    match: {event: exec}\n  - id: b\n    severity: high\n    match: {event: exce}\n"),
      /r\.yaml: rules\[1\]\.match\.event\[0\]: unknown value "exce"/);
    assert.throws(() => parseRuleFile("r.yaml", "rules:\n  - id: a\n    severity: urgent\n    match: {event: exec}\n"), /r\.yaml: rules\[0\]\.severity: required, one of/);
    assert.throws(() => parseRuleFile("r.yaml", "rules:\n  - id: a\n    severity: low\n    match: {event: exec, capabilities: [CAP_ROOT]}\n"), /rules\[0\]\.match\.capabilities\[0\]: unknown value "CAP_ROOT"/);
    assert.throws(() => parseRuleFile("r.yaml", "rules:\n  - id: a\n    severity: low\n    match: {event: exec, binray: [x]}\n"), /rules\[0\]\.match\.binray: unknown field/);
  });

  it("a bad file on reload keeps the previous rules", () => {
    const dir = mkdtempSync(join(tmpdir(), "meshward-rules-"));
    try {
      const file = join(dir, "rules.yaml");
      writeFileSync(file, good);
      const engine = new RuleEngine();
      assert.equal(engine.loadFile(file), undefined);
      const before = engine.rules.map((r) => r.id);
      writeFileSync(file, "rules:\n  - id: Bad Id\n");
      const err = engine.loadFile(file);
      assert.match(err?.message ?? "", /rules\.yaml: rules\[0\]\.id: required/);
      assert.deepEqual(engine.rules.map((r) => r.id), before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
