// Container id and pod UID from a cgroup path, for cgroupfs and systemd drivers, cgroup v1 and v2
// (the patterns SPIRE's containerinfo uses): walk the segments from the leaf, the first 64-hex id
// is the container, the pod UID is found in a segment above it ("_" in systemd slices maps to "-").

export interface CgroupOwner {
  readonly containerId?: string;
  readonly podUid?: string;
  /** "guaranteed" | "burstable" | "besteffort" when the path says. */
  readonly qosClass?: string;
}

const POD_UID = /(?:^|[^0-9a-f])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:$|[^0-9a-f])/i;
const CONTAINER_ID = /(?:^|[^0-9a-f])([0-9a-f]{64})(?:$|[^0-9a-f])/i;
const QOS = /kubepods[-/.]?(burstable|besteffort|guaranteed)?/i;

export function parseCgroupPath(path: string): CgroupOwner {
  const segments = path.split("/").filter((s) => s !== "");
  let containerId: string | undefined;
  let podUid: string | undefined;
  let i = segments.length - 1;
  for (; i >= 0 && containerId === undefined; i--) {
    // A pod segment below any container id would mean this is not a container cgroup.
    if (POD_UID.test(segments[i])) break;
    const m = CONTAINER_ID.exec(segments[i]);
    if (m) containerId = m[1].toLowerCase();
  }
  for (let j = containerId === undefined ? segments.length - 1 : i; j >= 0; j--) {
    const m = POD_UID.exec(segments[j]);
    if (m) {
      podUid = m[1].replace(/_/g, "-").toLowerCase();
      break;
    }
  }
  const q = QOS.exec(path);
  const qosClass = q === null ? undefined : (q[1]?.toLowerCase() ?? (podUid !== undefined ? "guaranteed" : undefined));
  return { ...(containerId ? { containerId } : {}), ...(podUid ? { podUid } : {}), ...(qosClass ? { qosClass } : {}) };
}

/**
 * A process's cgroup path from /proc/<pid>/cgroup text: the line of the given v1 controller, or
 * the v2 (`0::`) line, else the first v1 line naming a pod.
 */
export function cgroupPathFromProcFile(text: string, v1Controller?: string): string | undefined {
  let v1: string | undefined;
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const hierarchy = line.slice(0, first);
    const path = line.slice(second + 1);
    if (v1Controller !== undefined) {
      if (line.slice(first + 1, second).split(",").includes(v1Controller)) return path;
      continue;
    }
    if (hierarchy === "0" && line.slice(first + 1, second) === "") return path;
    if (v1 === undefined && POD_UID.test(path)) v1 = path;
  }
  return v1;
}
