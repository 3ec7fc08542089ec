// Kernel attestation of a caller of the node identity socket: pid (SO_PEERCRED) -> the process's
// cgroup -> pod (the agent's attribution: kubelet cgroup layout + pod directory) -> service account
// -> SPIFFE ID. Nothing the caller says is used. A pid can be reused, so, as SPIRE does, the
// process start time is read before and after everything else and must not change, and must be
// the start time seen when the connection was made: a new process with a recycled pid is refused.
import { createHash } from "node:crypto";
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { cgroupPathFromProcFile, parseCgroupPath } from "../attribution/cgroup-path.js";
import type { PodDirectory, PodInfo } from "../attribution/pod-directory.js";
import type { WorkloadIdentity } from "../../security/identity.js";

/** The process as the kernel describes it. */
export interface ProcessFacts {
  readonly pid: number;
  /** Clock ticks since boot (field 22 of /proc/<pid>/stat): with the pid, names one process. */
  readonly startTime: bigint;
  readonly cgroupPath: string;
}

export interface WorkloadAttestation {
  readonly process: ProcessFacts;
  /** The executable, when selectors were configured for the identity (read only then). */
  readonly executable?: Executable;
  readonly pod: PodInfo;
  readonly containerId?: string;
  readonly identity: WorkloadIdentity;
}

export type AttestationResult = { readonly ok: true; readonly attestation: WorkloadAttestation } | { readonly ok: false; readonly reason: string };

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
export function processStartTime(pid: number): bigint | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return BigInt(fields[19]); // fields[0] is field 3 (state)
  } catch {
    return undefined;
  }
}

/**
 * The process's start time and cgroup, read between two start-time reads that must agree (and
 * agree with `expectedStartTime`, the one seen at connect, when given).
 */
export function readProcess(pid: number, v1Controller?: string, expectedStartTime?: bigint): ProcessFacts | { readonly error: string } {
  const before = processStartTime(pid);
  if (before === undefined) return { error: `process ${pid} has exited` };
  if (expectedStartTime !== undefined && before !== expectedStartTime) return { error: `pid ${pid} now belongs to another process (pid reuse)` };
  let cgroupText: string;
  try {
    cgroupText = readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return { error: `process ${pid} has exited` };
  }
  const after = processStartTime(pid);
  if (after !== before) return { error: `pid ${pid} changed process during attestation (pid reuse)` };
  const cgroupPath = cgroupPathFromProcFile(cgroupText, v1Controller);
  if (cgroupPath === undefined) return { error: `process ${pid} has no cgroup on the attributed hierarchy` };
  return { pid, startTime: before, cgroupPath };
}

export interface AttestorOptions {
  readonly node: string;
  readonly trustDomain: string;
  readonly pods: PodDirectory;
  readonly cgroupV1Controller?: string;
  /** Optional selectors by `namespace/serviceAccount`: only these executables get that identity. */
  readonly executableSelectors?: ReadonlyMap<string, readonly ExecutableSelector[]>;
}

/** SPIRE's unix attestor's path and sha256 selectors. */
export type ExecutableSelector = { readonly path: string } | { readonly sha256: string };

export interface Executable {
  readonly path: string;
  readonly sha256: string;
}

/** Parses `namespace/serviceAccount=path:/usr/bin/envoy` or `...=sha256:<64 hex>`; throws naming `from`. */
export function parseExecutableSelector(text: string, from: string): { key: string; selector: ExecutableSelector } {
  const m = /^([a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*)=(path:(\/.+)|sha256:([0-9a-f]{64}))$/.exec(text);
  if (m === null) throw new Error(`${from} "${text}": want <namespace>/<service-account>=path:/abs/path or =sha256:<64 hex>`);
  return { key: m[1], selector: m[3] !== undefined ? { path: m[3] } : { sha256: m[4] } };
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux ABI). */
const USER_HZ = 100n;

function uptimeTicks(): bigint {
  const seconds = readFileSync("/proc/uptime", "utf8").split(" ")[0];
  const [whole, frac = "0"] = seconds.split(".");
  return BigInt(whole) * USER_HZ + BigInt(frac.padEnd(2, "0").slice(0, 2));
}

/** Attests processes on this node. */
export class WorkloadAttestor {
  private readonly executables = new ExecutableSelectors();

  constructor(private readonly opts: AttestorOptions) {}

  /**
   * The start time of the process that holds `pid` now, taken right after SO_PEERCRED: undefined
   * if it has exited, or if it started after the connection was accepted (so it cannot be the
   * process that connected: its pid was reused).
   */
  startTimeOf(pid: number): bigint | undefined {
    const now = uptimeTicks();
    const start = processStartTime(pid);
    return start === undefined || start > now ? undefined : start;
  }

  attest(pid: number, expectedStartTime?: bigint): AttestationResult {
    const facts = readProcess(pid, this.opts.cgroupV1Controller, expectedStartTime);
    if ("error" in facts) return { ok: false, reason: facts.error };
    const owner = parseCgroupPath(facts.cgroupPath);
    if (owner.podUid === undefined) return { ok: false, reason: `process ${pid} is not in a pod (cgroup ${facts.cgroupPath})` };
    const pod = this.opts.pods.get(owner.podUid);
    if (pod === undefined) return { ok: false, reason: `process ${pid} is in pod ${owner.podUid}, which the agent cannot place (not in its pod list)` };
    if (pod.node !== undefined && pod.node !== this.opts.node) {
      return { ok: false, reason: `pod ${pod.namespace}/${pod.name} is listed on node "${pod.node}", not this node "${this.opts.node}"` };
    }
    const selectors = this.opts.executableSelectors?.get(`${pod.namespace}/${pod.serviceAccount}`);
    let executable: Executable | undefined;
    if (selectors !== undefined && selectors.length > 0) {
      executable = this.executables.of(pid);
      if (executable === undefined) return { ok: false, reason: `the executable of process ${pid} cannot be read` };
      const exe = executable;
      if (!selectors.some((sel) => ("path" in sel ? sel.path === exe.path : sel.sha256 === exe.sha256))) {
        return { ok: false, reason: `executable ${exe.path} (sha256 ${exe.sha256}) of process ${pid} matches no selector of ${pod.namespace}/${pod.serviceAccount}` };
      }
      if (processStartTime(pid) !== facts.startTime) return { ok: false, reason: `pid ${pid} changed process during attestation (pid reuse)` };
    }
    return {
      ok: true,
      attestation: {
        process: facts,
        ...(executable !== undefined ? { executable } : {}),
        pod,
        ...(owner.containerId !== undefined ? { containerId: owner.containerId } : {}),
        identity: { trustDomain: this.opts.trustDomain, namespace: pod.namespace, serviceAccount: pod.serviceAccount },
      },
    };
  }
}

/**
 * The executable's path and SHA-256, as SPIRE's unix attestor selects on them, read through
 * /proc/<pid>/exe: the file the process runs now, even if its path was replaced or unlinked (the
 * exec event's filename is only what was asked for at exec). Hashes are cached by device, inode,
 * size and mtime.
 */
class ExecutableSelectors {
  private readonly hashes = new Map<string, string>();

  of(pid: number): Executable | undefined {
    try {
      const path = readlinkSync(`/proc/${pid}/exe`);
      const st = statSync(`/proc/${pid}/exe`, { bigint: true });
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
      let sha256 = this.hashes.get(key);
      if (sha256 === undefined) {
        sha256 = createHash("sha256").update(readFileSync(`/proc/${pid}/exe`)).digest("hex");
        if (this.hashes.size > 1000) this.hashes.clear();
        this.hashes.set(key, sha256);
      }
      return { path, sha256 };
    } catch {
      return undefined;
    }
  }
}
