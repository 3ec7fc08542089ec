// Who a kernel event belongs to: cgroup id -> cgroup path -> container id + pod UID -> pod metadata.
import { statSync } from "node:fs";
import { join } from "node:path";
import { CgroupIndex } from "./cgroup-index.js";
import { parseCgroupPath } from "./cgroup-path.js";
import type { PodDirectory, PodInfo } from "./pod-directory.js";

export interface Attribution {
  readonly cgroupId: bigint;
  readonly cgroupPath?: string;
  readonly containerId?: string;
  readonly containerName?: string;
  readonly podUid?: string;
  /** Present when the pod UID is known to the pod directory. */
  readonly pod?: PodInfo;
  /**
   * When the container started (wall clock, ns): its cgroup directory's change time, set when the
   * runtime created it, before the container's first process runs. Drift is measured from here.
   */
  readonly containerStartNs?: bigint;
}

function cgroupCreatedNs(dir: string): bigint | undefined {
  try {
    return statSync(dir, { bigint: true }).ctimeNs;
  } catch {
    return undefined;
  }
}

export class Attributor {
  private readonly cache = new Map<bigint, Attribution>();

  constructor(
    readonly cgroups: CgroupIndex,
    private readonly pods: PodDirectory,
  ) {}

  attribute(cgroupId: bigint, pid?: number): Attribution {
    const cached = this.cache.get(cgroupId);
    // Pod metadata may arrive after the first event of a container: refresh until it is known.
    if (cached !== undefined && (cached.pod !== undefined || cached.podUid === undefined)) return cached;
    const cgroupPath = cached?.cgroupPath ?? this.cgroups.resolve(cgroupId, pid);
    if (cgroupPath === undefined) return { cgroupId };
    const owner = parseCgroupPath(cgroupPath);
    const pod = owner.podUid !== undefined ? this.pods.get(owner.podUid) : undefined;
    const containerName = owner.containerId !== undefined ? pod?.containers[owner.containerId] : undefined;
    const containerStartNs = cached?.containerStartNs ?? (owner.containerId !== undefined ? cgroupCreatedNs(join(this.cgroups.root, cgroupPath)) : undefined);
    const a: Attribution = {
      cgroupId, cgroupPath,
      ...(owner.containerId ? { containerId: owner.containerId } : {}),
      ...(containerName ? { containerName } : {}),
      ...(owner.podUid ? { podUid: owner.podUid } : {}),
      ...(pod ? { pod } : {}),
      ...(containerStartNs !== undefined ? { containerStartNs } : {}),
    };
    this.cache.set(cgroupId, a);
    return a;
  }

  forget(cgroupId: bigint): void {
    this.cache.delete(cgroupId);
  }
}
