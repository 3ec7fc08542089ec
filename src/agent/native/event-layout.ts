// The one TypeScript mirror of native/bpf/events.h. Offsets and sizes are those of the C structs
// (naturally aligned, little-endian); a record whose size does not match its type is rejected,
// so a layout change on one side only fails loudly instead of decoding garbage.

export const ABI_VERSION = 2;

/** Who did it: the header that starts every kernel event. */
export interface ProcessHeader {
  readonly tgid: number;
  readonly tid: number;
  readonly ptgid: number;
  readonly ktimeNs: bigint;
  readonly cgroupId: bigint;
  readonly startNs: bigint;
  readonly parentStartNs: bigint;
  readonly uid: number;
  readonly euid: number;
  readonly gid: number;
  /** (major << 20) | minor of the controlling terminal; 0 = none. */
  readonly tty: number;
  readonly capEffective: bigint;
  readonly ns: NamespaceInodes;
  readonly comm: string;
}

export interface NamespaceInodes {
  readonly mnt: number;
  readonly pid: number;
  readonly net: number;
  readonly user: number;
  readonly uts: number;
  readonly ipc: number;
  readonly cgroup: number;
}

export const ExecFlag = { setuid: 1, setgid: 2, memfd: 4, deleted: 8, credElevated: 16, devShm: 32 } as const;
export const OpenReason = { sensitive: 1, cgroupEscape: 2, kernelKnob: 4, systemWrite: 8, logTruncate: 16, hostDevice: 32 } as const;
export const ConnectReason = { runtimeSocket: 1, kubeApi: 2, cloudMetadata: 3 } as const;

export type KernelEvent =
  | {
      readonly kind: "exec"; readonly proc: ProcessHeader; readonly flags: number; readonly exeMode: number; readonly exeUid: number; readonly exeNlink: number;
      /** The executable's inode change time (wall clock, ns): creation, write, chmod and link all set it. */
      readonly exeCtimeNs: bigint; readonly filename: string; readonly args: string[];
    }
  | { readonly kind: "fork"; readonly proc: ProcessHeader }
  | { readonly kind: "exit"; readonly proc: ProcessHeader; readonly exitCode: number }
  | { readonly kind: "setns" | "unshare" | "clone"; readonly proc: ProcessHeader; readonly nsFlags: bigint; readonly fd: number; readonly syscall: number }
  | { readonly kind: "setuid"; readonly proc: ProcessHeader; readonly syscall: number; readonly target: readonly number[] }
  | { readonly kind: "capset"; readonly proc: ProcessHeader; readonly effective: bigint; readonly permitted: bigint; readonly inheritable: bigint }
  | { readonly kind: "mount"; readonly proc: ProcessHeader; readonly mountFlags: bigint; readonly source: string; readonly target: string; readonly fsType: string }
  | { readonly kind: "open"; readonly proc: ProcessHeader; readonly openFlags: number; readonly reason: number; readonly path: string }
  | { readonly kind: "ptrace"; readonly proc: ProcessHeader; readonly request: bigint; readonly targetPid: number }
  | { readonly kind: "module"; readonly proc: ProcessHeader; readonly syscall: number; readonly fd: number }
  | { readonly kind: "bpf"; readonly proc: ProcessHeader; readonly cmd: number; readonly progType: number }
  | { readonly kind: "dup_socket"; readonly proc: ProcessHeader; readonly oldFd: number; readonly newFd: number; readonly family: number; readonly dport: number; readonly daddr: string }
  | { readonly kind: "cred_change"; readonly proc: ProcessHeader; readonly oldEuid: number; readonly newEuid: number; readonly oldCaps: bigint; readonly newCaps: bigint }
  | { readonly kind: "socket"; readonly proc: ProcessHeader; readonly family: number; readonly sockType: number; readonly protocol: number }
  | { readonly kind: "connect"; readonly proc: ProcessHeader; readonly reason: number; readonly family: number; readonly port: number; readonly address: string; readonly path: string }
  | { readonly kind: "link"; readonly proc: ProcessHeader; readonly hard: boolean; readonly target: string; readonly linkPath: string }
  | { readonly kind: "chmod"; readonly proc: ProcessHeader; readonly mode: number; readonly fd: number; readonly path: string };

export type EventKind = KernelEvent["kind"];

export interface TracerHello {
  readonly kind: "hello";
  readonly abi: number;
  readonly bootToRealtimeNs: bigint;
  readonly features: { kprobe: boolean; fentry: boolean; lsm: boolean };
  readonly attached: string[];
  readonly failed: string[];
}

export interface TracerStats {
  readonly kind: "stats";
  readonly emitted: bigint;
  readonly ringbufDrops: bigint;
  readonly throttled: bigint;
  readonly pipeBytes: bigint;
}

export type TracerRecord = KernelEvent | TracerHello | TracerStats;

const HEADER_SIZE = 120;
/** Record sizes by type, as sizeof() of the C structs (checked against the compiler by a test). */
export const RECORD_SIZES: Readonly<Record<number, number>> = {
  1: 1432, 2: 120, 3: 128, 4: 136, 5: 136, 6: 136, 7: 136, 8: 144, 9: 416, 10: 384, 11: 136, 12: 128, 13: 128, 14: 136, 15: 144,
  16: 136, 17: 256, 18: 640, 19: 384,
  100: 2080, 101: 40,
};

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString("utf8", off, end < 0 || end > off + len ? off + len : end);
}

function header(b: Buffer): ProcessHeader {
  return {
    tgid: b.readUInt32LE(4),
    ktimeNs: b.readBigUInt64LE(8),
    cgroupId: b.readBigUInt64LE(16),
    startNs: b.readBigUInt64LE(24),
    parentStartNs: b.readBigUInt64LE(32),
    tid: b.readUInt32LE(40),
    ptgid: b.readUInt32LE(44),
    uid: b.readUInt32LE(48),
    euid: b.readUInt32LE(52),
    gid: b.readUInt32LE(56),
    tty: b.readUInt32LE(60),
    capEffective: b.readBigUInt64LE(64),
    ns: {
      mnt: b.readUInt32LE(72), pid: b.readUInt32LE(76), net: b.readUInt32LE(80), user: b.readUInt32LE(84),
      uts: b.readUInt32LE(88), ipc: b.readUInt32LE(92), cgroup: b.readUInt32LE(96),
    },
    comm: cstr(b, 104, 16),
  };
}

function argv(b: Buffer, off: number, len: number): string[] {
  const raw = b.toString("utf8", off, off + len);
  const parts = raw.split("\0");
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** An address from the kernel (network byte order): dotted IPv4, or IPv6 in full hex groups. */
function ipString(family: number, a: Buffer): string {
  if (family === 2) return [a[0], a[1], a[2], a[3]].join(".");
  if (family === 10) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(a.readUInt16BE(i).toString(16));
    return groups.join(":");
  }
  return "";
}

const NS_KIND: Record<number, "setns" | "unshare" | "clone"> = { 4: "setns", 5: "unshare", 6: "clone" };

/** Decodes one record (a frame's payload). Throws on a size that does not match its type. */
export function decodeRecord(b: Buffer): TracerRecord {
  if (b.length < 4) throw new Error(`tracer record too short (${b.length} bytes)`);
  const type = b.readUInt16LE(0);
  const want = RECORD_SIZES[type];
  if (want === undefined) throw new Error(`tracer record: unknown type ${type}`);
  if (b.length !== want) throw new Error(`tracer record type ${type}: ${b.length} bytes, layout says ${want} (native/ and event-layout.ts disagree)`);
  if (type === 100) {
    const features = b.readUInt32LE(16);
    const detail = cstr(b, 32, 2048);
    const m = /attached: ([^;]*); failed: (.*)$/.exec(detail);
    const list = (s: string | undefined): string[] => (s ? s.split(",").filter((x) => x !== "") : []);
    return {
      kind: "hello", abi: b.readUInt32LE(4), bootToRealtimeNs: b.readBigUInt64LE(8),
      features: { kprobe: (features & 1) !== 0, fentry: (features & 2) !== 0, lsm: (features & 4) !== 0 },
      attached: list(m?.[1]), failed: list(m?.[2]),
    };
  }
  if (type === 101) {
    return { kind: "stats", emitted: b.readBigUInt64LE(8), ringbufDrops: b.readBigUInt64LE(16), throttled: b.readBigUInt64LE(24), pipeBytes: b.readBigUInt64LE(32) };
  }
  const proc = header(b);
  const o = HEADER_SIZE;
  switch (type) {
    case 1:
      return {
        kind: "exec", proc, flags: b.readUInt32LE(o), exeMode: b.readUInt32LE(o + 8), exeUid: b.readUInt32LE(o + 12),
        exeNlink: b.readUInt32LE(o + 16), exeCtimeNs: b.readBigUInt64LE(o + 24), filename: cstr(b, 152, 256),
        args: argv(b, 408, Math.min(b.readUInt32LE(o + 4), 1024)),
      };
    case 2:
      return { kind: "fork", proc };
    case 3:
      return { kind: "exit", proc, exitCode: b.readUInt32LE(o) };
    case 4: case 5: case 6:
      return { kind: NS_KIND[type], proc, nsFlags: b.readBigUInt64LE(o), fd: b.readInt32LE(o + 8), syscall: b.readUInt32LE(o + 12) };
    case 7:
      return { kind: "setuid", proc, syscall: b.readUInt32LE(o), target: [b.readUInt32LE(o + 4), b.readUInt32LE(o + 8), b.readUInt32LE(o + 12)] };
    case 8:
      return { kind: "capset", proc, effective: b.readBigUInt64LE(o), permitted: b.readBigUInt64LE(o + 8), inheritable: b.readBigUInt64LE(o + 16) };
    case 9:
      return { kind: "mount", proc, mountFlags: b.readBigUInt64LE(o), source: cstr(b, 128, 128), target: cstr(b, 256, 128), fsType: cstr(b, 384, 32) };
    case 10:
      return { kind: "open", proc, openFlags: b.readUInt32LE(o), reason: b.readUInt32LE(o + 4), path: cstr(b, 128, 256) };
    case 11:
      return { kind: "ptrace", proc, request: b.readBigInt64LE(o), targetPid: b.readInt32LE(o + 8) };
    case 12:
      return { kind: "module", proc, syscall: b.readUInt32LE(o), fd: b.readInt32LE(o + 4) };
    case 13:
      return { kind: "bpf", proc, cmd: b.readUInt32LE(o), progType: b.readUInt32LE(o + 4) };
    case 14: {
      const a = b.readUInt32LE(o + 12);
      const daddr = [a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24].join(".");
      return { kind: "dup_socket", proc, oldFd: b.readInt32LE(o), newFd: b.readInt32LE(o + 4), family: b.readUInt16LE(o + 8), dport: b.readUInt16LE(o + 10), daddr };
    }
    case 15:
      return { kind: "cred_change", proc, oldEuid: b.readUInt32LE(o), newEuid: b.readUInt32LE(o + 4), oldCaps: b.readBigUInt64LE(o + 8), newCaps: b.readBigUInt64LE(o + 16) };
    case 16:
      return { kind: "socket", proc, family: b.readUInt32LE(o), sockType: b.readUInt32LE(o + 4), protocol: b.readUInt32LE(o + 8) };
    case 17: {
      const family = b.readUInt16LE(o + 4);
      return { kind: "connect", proc, reason: b.readUInt32LE(o), family, port: b.readUInt16LE(o + 6), address: ipString(family, b.subarray(o + 8, o + 24)), path: cstr(b, 144, 112) };
    }
    case 18:
      return { kind: "link", proc, hard: b.readUInt32LE(o) === 1, target: cstr(b, 128, 256), linkPath: cstr(b, 384, 256) };
    case 19:
      return { kind: "chmod", proc, mode: b.readUInt32LE(o), fd: b.readInt32LE(o + 4), path: cstr(b, 128, 256) };
    default:
      throw new Error(`tracer record: unhandled type ${type}`);
  }
}

/** Splits a byte stream into frames (u32 LE length + payload), keeping a partial tail. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Buffer[] = [];
    let off = 0;
    while (this.pending.length - off >= 4) {
      const len = this.pending.readUInt32LE(off);
      if (this.pending.length - off - 4 < len) break;
      frames.push(this.pending.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    this.pending = this.pending.subarray(off);
    return frames;
  }
}
