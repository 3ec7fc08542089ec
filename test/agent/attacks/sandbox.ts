// A container-shaped place to run an attack that writes where it would damage the host (/etc,
// /usr/local/bin, /var/log, /proc/sys/kernel, /sys/kernel): a private mount namespace, made on the
// host side before the process joins the pod's cgroup (so the setup itself is out of the agent's
// scope, as the runtime's is), with an overlay over each such directory (writes land in a scratch
// upper directory) or a tmpfs over kernel-setting directories, and optionally a network namespace
// of its own (connects to outside addresses fail there, after the hook has seen them). The paths the attack uses are the
// real ones, so the kernel hooks see exactly what they would see in a container.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { RunResult, TestPod } from "../kube-cgroup.js";

export class Sandbox {
  private readonly overlays: Array<{ dir: string; upper: string; work: string }> = [];

  /** @param scratch a directory for the overlays' upper and work directories */
  /** @param network also a new network namespace (loopback only, down): nothing leaves the host */
  constructor(
    private readonly scratch: string,
    overlayDirs: readonly string[] = [],
    private readonly tmpfsDirs: readonly string[] = [],
    private readonly network = false,
  ) {
    overlayDirs.forEach((dir, i) => {
      const upper = join(scratch, `overlay-${i}`, "upper");
      const work = join(scratch, `overlay-${i}`, "work");
      mkdirSync(upper, { recursive: true });
      mkdirSync(work, { recursive: true });
      this.overlays.push({ dir, upper, work });
    });
  }

  /** The upper directory of `dir`'s overlay: what is put there before the pod starts is "the image". */
  upper(dir: string): string {
    const o = this.overlays.find((x) => x.dir === dir);
    if (o === undefined) throw new Error(`${dir} is not an overlay of this sandbox (scratch ${this.scratch})`);
    return o.upper;
  }

  /** Runs argv in the sandbox, inside the pod's container cgroup. */
  run(pod: TestPod, argv: string[]): Promise<RunResult> {
    const setup = [
      ...this.overlays.map((o) => `mount -t overlay meshward-sandbox -o lowerdir=${o.dir},upperdir=${o.upper},workdir=${o.work} ${o.dir}`),
      ...this.tmpfsDirs.map((d) => `mount -t tmpfs meshward-sandbox ${d}`),
      `echo $$ > "${pod.cgroupDir}/cgroup.procs"`,
      `exec "$@"`,
    ].join(" && ");
    return new Promise((resolve, reject) => {
      const ns = this.network ? ["-m", "-n"] : ["-m"];
      const child = spawn("unshare", [...ns, "--propagation", "private", "sh", "-c", setup, "sh", ...argv], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", reject);
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }
}
