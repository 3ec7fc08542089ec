// Turns a rule match on a kernel event into a Signal for the control plane. The id is derived
// from the kernel event itself, so re-reporting the same event (after an agent restart replays
// its buffer) de-duplicates on the control plane.
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Severity as SeverityEnum, SignalSchema, type Signal } from "../gen/meshward/agent/v1/signals_pb.js";
import type { EventContext } from "./detections/engine.js";
import { namespacesOf } from "./detections/engine.js";
import type { Rule, Severity } from "./detections/rule.js";
import type { KernelEvent } from "./native/event-layout.js";
import type { ProcessNode } from "./process-tree.js";

const SEVERITY: Record<Severity, SeverityEnum> = {
  info: SeverityEnum.INFO, low: SeverityEnum.LOW, medium: SeverityEnum.MEDIUM, high: SeverityEnum.HIGH, critical: SeverityEnum.CRITICAL,
};

export function ttyName(tty: number): string {
  return tty === 0 ? "" : `${tty >>> 20}:${tty & 0xfffff}`;
}

/** Event-specific facts that explain the detection. */
export function evidenceOf(ev: KernelEvent): Record<string, string> {
  const e: Record<string, string> = { event: ev.kind, comm: ev.proc.comm };
  switch (ev.kind) {
    case "exec":
      e.filename = ev.filename;
      e.exe_mode = ev.exeMode.toString(8);
      e.exe_uid = String(ev.exeUid);
      e.exe_nlink = String(ev.exeNlink);
      e.flags = String(ev.flags);
      e.exe_changed = new Date(Number(ev.exeCtimeNs / 1_000_000n)).toISOString();
      break;
    case "setns": case "unshare": case "clone":
      e.namespaces = namespacesOf(ev).join(",");
      e.flags = `0x${ev.nsFlags.toString(16)}`;
      if (ev.kind === "setns") e.fd = String(ev.fd);
      break;
    case "setuid":
      e.syscall = ["setuid", "setreuid", "setresuid"][ev.syscall] ?? String(ev.syscall);
      e.target = ev.target.map((t) => (t === 0xffffffff ? "-1" : String(t))).join(",");
      break;
    case "capset":
      e.requested_effective = `0x${ev.effective.toString(16)}`;
      e.current_effective = `0x${ev.proc.capEffective.toString(16)}`;
      break;
    case "mount":
      Object.assign(e, { source: ev.source, target: ev.target, fstype: ev.fsType, flags: `0x${ev.mountFlags.toString(16)}` });
      break;
    case "open":
      Object.assign(e, { path: ev.path, open_flags: `0x${ev.openFlags.toString(16)}` });
      break;
    case "ptrace":
      Object.assign(e, { request: String(ev.request), target_pid: String(ev.targetPid) });
      break;
    case "module":
      e.syscall = ev.syscall === 0 ? "init_module" : "finit_module";
      break;
    case "bpf":
      e.prog_type = String(ev.progType);
      break;
    case "dup_socket":
      Object.assign(e, { oldfd: String(ev.oldFd), newfd: String(ev.newFd), family: String(ev.family), remote: `${ev.daddr}:${ev.dport}` });
      break;
    case "cred_change":
      Object.assign(e, { old_euid: String(ev.oldEuid), new_euid: String(ev.newEuid) });
      break;
    case "socket":
      Object.assign(e, { family: String(ev.family), type: String(ev.sockType), protocol: String(ev.protocol) });
      break;
    case "connect":
      Object.assign(e, ev.path !== "" ? { path: ev.path } : { remote: ev.family === 10 ? `[${ev.address}]:${ev.port}` : `${ev.address}:${ev.port}` });
      break;
    case "link":
      Object.assign(e, { link: ev.hard ? "hardlink" : "symlink", target: ev.target, linkpath: ev.linkPath });
      break;
    case "chmod":
      Object.assign(e, { mode: ev.mode.toString(8), ...(ev.path !== "" ? { path: ev.path } : { fd: String(ev.fd) }) });
      break;
    case "fork": case "exit":
      break;
  }
  return e;
}

export function buildSignal(node: string, rule: Rule, ctx: EventContext, ancestors: readonly ProcessNode[], bootToRealtimeNs: bigint): Signal {
  const { event: ev, process: p, attribution: a } = ctx;
  const id = createHash("sha256").update(`${node}|${ev.proc.ktimeNs}|${ev.proc.tid}|${ev.kind}|${rule.id}`).digest("base64url").slice(0, 32);
  const pod = a.pod;
  return create(SignalSchema, {
    id, node,
    pod: a.podUid ? { uid: a.podUid, namespace: pod?.namespace ?? "", name: pod?.name ?? "", serviceAccount: pod?.serviceAccount ?? "", labels: { ...(pod?.labels ?? {}) } } : undefined,
    container: { id: a.containerId ?? "", name: a.containerName ?? "", cgroupId: a.cgroupId, cgroupPath: a.cgroupPath ?? "" },
    process: {
      execId: p.execId, parentExecId: p.parentExecId, pid: ev.proc.tgid, uid: ev.proc.uid, euid: ev.proc.euid,
      binary: p.binary, args: p.args, tty: ttyName(ev.proc.tty), ancestors: ancestors.map((x) => x.binary), capEffective: ev.proc.capEffective,
    },
    detection: { id: rule.id, description: rule.description, mitreTechnique: rule.mitre, ruleSource: rule.source },
    severity: SEVERITY[rule.severity],
    evidence: {
      ...evidenceOf(ev),
      ...(rule.match.drift && a.containerStartNs !== undefined ? { container_started: new Date(Number(a.containerStartNs / 1_000_000n)).toISOString() } : {}),
    },
    eventTime: timestampFromMs(Number((ev.proc.ktimeNs + bootToRealtimeNs) / 1_000_000n)),
  });
}
