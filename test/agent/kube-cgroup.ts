// Kubelet-shaped cgroup v2 hierarchies for kernel tests (systemd driver, containerd):
// <v2>/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope
// Names are unique per test so helpers running concurrently never share a pod.
import { spawn, type SpawnOptions } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { findCgroup2Mount } from "../../src/agent/attribution/cgroup-index.js";

export interface TestPod {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly containerId: string;
  readonly containerName: string;
  /** Absolute container cgroup directory. */
  readonly cgroupDir: string;
  readonly podDir: string;
}

export function cgroupRoot(): string {
  const r = findCgroup2Mount();
  if (r === undefined) throw new Error("no cgroup v2 mount");
  return r;
}

export function createTestPod(name: string, labels: Record<string, string> = {}): TestPod & { labels: Record<string, string> } {
  const uid = randomUUID();
  const containerId = randomBytes(32).toString("hex");
  const root = cgroupRoot();
  const podDir = join(root, "kubepods.slice", "kubepods-besteffort.slice", `kubepods-besteffort-pod${uid.replace(/-/g, "_")}.slice`);
  const cgroupDir = join(podDir, `cri-containerd-${containerId}.scope`);
  mkdirSync(cgroupDir, { recursive: true });
  return { uid, namespace: "meshward-test", name: `${name}-${uid.slice(0, 8)}`, containerId, containerName: name, cgroupDir, podDir, labels };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Kills what is left in the pod's container cgroup and removes the pod's directories. */
export async function removeTestPod(pod: TestPod): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const procs = existsSync(join(pod.cgroupDir, "cgroup.procs")) ? readFileSync(join(pod.cgroupDir, "cgroup.procs"), "utf8").split("\n").filter((x) => x) : [];
    for (const p of procs) {
      try {
        process.kill(Number(p), "SIGKILL");
      } catch {
        // already gone
      }
    }
    try {
      rmdirSync(pod.cgroupDir);
      rmdirSync(pod.podDir);
      return;
    } catch {
      await sleep(50);
    }
  }
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command inside the pod's container cgroup (the shell moves itself in, then execs). */
export function runInPod(pod: TestPod, argv: string[], opts: SpawnOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", `echo $$ > "${pod.cgroupDir}/cgroup.procs" && exec "$@"`, "sh", ...argv], { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
