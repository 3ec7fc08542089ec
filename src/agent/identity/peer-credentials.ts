// Who is at the other end of a Unix socket, from the kernel: getsockopt(SO_PEERCRED) gives the
// pid, uid and gid the connecting process had when it called connect(2), which the caller cannot
// choose or forge (SPIRE's unix workload attestor starts from the same call).
//
// Node has no API for it. The choices were a single-purpose addon (`sockopt`: little used, a
// native build at install), parsing /proc/net/unix (it does not name the peer's socket, so the
// caller would be guessed from which process holds which inode, racy and ambiguous after fork),
// or a maintained FFI: koffi ships prebuilt binaries inside its npm packages and calls libc's
// getsockopt directly, one microsecond-scale call per connection. We use koffi.
import koffi from "koffi";
import type { Socket } from "node:net";

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const UCRED_SIZE = 12; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }

let getsockopt: ((fd: number, level: number, name: number, value: Buffer, length: Buffer) => number) | undefined;

function libcGetsockopt(): NonNullable<typeof getsockopt> {
  if (getsockopt === undefined) {
    const fn = koffi.load("libc.so.6").func("int getsockopt(int fd, int level, int optname, _Inout_ void *optval, _Inout_ uint32_t *optlen)");
    getsockopt = (fd, level, name, value, length) => fn(fd, level, name, value, length) as number;
  }
  return getsockopt;
}

/** The file descriptor behind a connected net.Socket (libuv's pipe handle exposes it on Unix). */
export function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new Error("the connection has no file descriptor (closed, or not a Unix socket)");
  return fd;
}

/** SO_PEERCRED of a Unix socket's file descriptor. */
export function peerCredentials(fd: number): PeerCredentials {
  const value = Buffer.alloc(UCRED_SIZE);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(UCRED_SIZE);
  const rc = libcGetsockopt()(fd, SOL_SOCKET, SO_PEERCRED, value, length);
  if (rc !== 0) throw new Error(`getsockopt(SO_PEERCRED) failed: errno ${koffi.errno()}`);
  const pid = value.readInt32LE(0);
  if (pid <= 0) throw new Error("the peer has no pid in this pid namespace");
  return { pid, uid: value.readUInt32LE(4), gid: value.readUInt32LE(8) };
}
