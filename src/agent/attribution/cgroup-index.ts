// cgroup id -> cgroup path on the unified (v2) hierarchy. The id BPF reports is the inode number
// of the cgroup directory, so a lookup is a stat of candidate directories: first the path the
// process itself reports in /proc/<pid>/cgroup (cheap, usually right), then a walk of the
// kubepods subtrees (for processes already gone).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { cgroupPathFromProcFile } from "./cgroup-path.js";

/**
 * Mount point of the cgroup v2 hierarchy (/sys/fs/cgroup on pure v2, e.g. /sys/fs/cgroup/unified
 * on hybrid hosts), or with `v1Controller` of that controller's v1 hierarchy.
 */
export function findCgroup2Mount(mountinfo = readFileSync("/proc/self/mountinfo", "utf8"), v1Controller?: string): string | undefined {
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const [fstype, , superOptions] = line.slice(sep + 3).split(" ");
    if (v1Controller === undefined ? fstype === "cgroup2" : fstype === "cgroup" && (superOptions ?? "").split(",").includes(v1Controller)) {
      return line.split(" ")[4];
    }
  }
  return undefined;
}

/** The subsystem id of a v1 controller: its row in /proc/cgroups (rows are in id order). */
export function cgroupV1Ssid(controller: string, procCgroups = readFileSync("/proc/cgroups", "utf8")): number | undefined {
  const rows = procCgroups.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  const i = rows.findIndex((l) => l.split(/\s+/)[0] === controller);
  return i < 0 ? undefined : i;
}

export function cgroupIdOf(dir: string): bigint | undefined {
  try {
    return statSync(dir, { bigint: true }).ino;
  } catch {
    return undefined;
  }
}

export class CgroupIndex {
  private readonly paths = new Map<bigint, string>();
  private readonly misses = new Map<bigint, number>();

  /**
   * @param v1Controller set when ids and paths are those of a v1 controller's hierarchy
   * @param extraRoots absolute cgroup directories holding pods somewhere else than the root
   */
  constructor(readonly root: string, readonly v1Controller?: string, private readonly extraRoots: readonly string[] = []) {}

  /** Kubepods roots under the mount (kubelet's systemd and cgroupfs drivers) and the extra roots. */
  kubepodsRoots(): string[] {
    return [...["kubepods.slice", "kubepods"].map((d) => join(this.root, d)), ...this.extraRoots].filter((d) => cgroupIdOf(d) !== undefined);
  }

  remember(id: bigint, path: string): void {
    this.paths.set(id, path);
  }

  /** The path relative to the v2 root ("/kubepods.slice/..."), or undefined if unknown. */
  resolve(id: bigint, pid?: number): string | undefined {
    const known = this.paths.get(id);
    if (known !== undefined) return known;
    if (pid !== undefined) {
      try {
        const rel = cgroupPathFromProcFile(readFileSync(`/proc/${pid}/cgroup`, "utf8"), this.v1Controller);
        if (rel !== undefined && cgroupIdOf(join(this.root, rel)) === id) {
          this.paths.set(id, rel);
          return rel;
        }
      } catch {
        // the process is gone; fall through to a scan
      }
    }
    // Unknown id: walk the kubepods trees (the process may be gone already). An id that is
    // still unknown afterwards (a host cgroup, a removed one) is not walked for again for a second.
    const now = Date.now();
    const missedAt = this.misses.get(id);
    if (missedAt !== undefined && now - missedAt < 1000) return undefined;
    for (const r of this.kubepodsRoots()) this.scan(r, 0);
    const found = this.paths.get(id);
    if (found === undefined) {
      if (this.misses.size > 10_000) this.misses.clear();
      this.misses.set(id, now);
    }
    return found;
  }

  private scan(dir: string, depth: number): void {
    const id = cgroupIdOf(dir);
    if (id === undefined) return;
    this.paths.set(id, dir.slice(this.root.length) || "/");
    if (depth > 6) return;
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) this.scan(join(dir, e), depth + 1);
  }
}
