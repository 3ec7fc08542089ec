// The node identity socket: a Unix socket every process on the node may connect to, whose callers
// are identified from the kernel only. Each accepted connection's SO_PEERCRED pid (and that
// process's start time) is recorded, then the connection is handed to a grpc-js server through its
// connection injector; every call re-attests the pid (cgroup -> pod -> identity) and every open
// identity stream is re-attested periodically, so a process that moves to another cgroup loses the
// streams it opened as its old pod. grpc-js tells a handler only its call's peer string, so each
// connection gets a unique synthetic `remoteAddress` (UDS peers have none) that maps back to it.
import * as grpc from "@grpc/grpc-js";
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { AttestationResult, WorkloadAttestor } from "./attestation.js";
import { peerCredentials, socketFd } from "./peer-credentials.js";

/** Where the agent serves identity by default (a hostPath every pod on the node can mount). */
export const DEFAULT_IDENTITY_SOCKET = "/var/run/meshward/identity.sock";
/** Everyone on the node may connect (the caller is identified by the kernel, never by file access), as SPIRE's agent socket. */
export const DEFAULT_SOCKET_MODE = 0o666;
export const DEFAULT_REATTEST_INTERVAL_MS = 1000;
/** Bounds per pod and overall, so no caller can exhaust the agent. */
export const DEFAULT_MAX_STREAMS_PER_POD = 32;
export const DEFAULT_MAX_CONNECTIONS_PER_POD = 64;
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** Connections whose caller is in no pod the agent knows share one bucket of this many. */
const UNPLACED = "(not in a known pod)";

const PEER_PREFIX = "meshward-identity-conn-";

export interface IdentitySocketOptions {
  readonly path: string;
  readonly attestor: WorkloadAttestor;
  readonly mode?: number;
  readonly reattestIntervalMs?: number;
  readonly maxStreamsPerPod?: number;
  readonly maxConnectionsPerPod?: number;
  readonly maxConnections?: number;
  readonly log?: (msg: string) => void;
}

interface Connection {
  readonly socket: Socket;
  /** The pod uid the caller attested to at accept (or UNPLACED), for the per-pod bound. */
  readonly bucket: string;
  readonly pid?: number;
  readonly startTime?: bigint;
  /** Why the connection's caller could not be identified at connect. */
  readonly error?: string;
}

/** An open identity stream, closed by the socket when its caller no longer attests to its pod. */
export interface IdentityStream {
  readonly podUid: string;
  readonly pid: number;
  readonly startTime: bigint;
  close(code: grpc.status, details: string): void;
}

export class IdentitySocket {
  readonly grpc = new grpc.Server();
  private readonly listener: Server;
  private readonly connections = new Map<string, Connection>();
  private readonly streams = new Set<IdentityStream>();
  private injector: ReturnType<grpc.Server["createConnectionInjector"]> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private next = 0;

  constructor(private readonly opts: IdentitySocketOptions) {
    this.listener = createServer((socket) => this.accept(socket));
    this.listener.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  }

  /** Creates the socket (replacing a stale one), sets its mode and starts serving the registered services. */
  async start(): Promise<void> {
    mkdirSync(dirname(this.opts.path), { recursive: true, mode: 0o755 });
    try {
      if (lstatSync(this.opts.path).isSocket()) unlinkSync(this.opts.path);
      else throw new Error(`${this.opts.path} exists and is not a socket`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    this.injector = this.grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    await new Promise<void>((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen(this.opts.path, () => {
        this.listener.off("error", reject);
        resolve();
      });
    });
    chmodSync(this.opts.path, this.opts.mode ?? DEFAULT_SOCKET_MODE);
    this.timer = setInterval(() => this.reattestStreams(), this.opts.reattestIntervalMs ?? DEFAULT_REATTEST_INTERVAL_MS);
    this.timer.unref();
  }

  /** Identifies a call's process from the kernel now. */
  attestCall(call: { getPeer(): string }): AttestationResult {
    const conn = this.connections.get(call.getPeer());
    if (conn === undefined) return { ok: false, reason: "the connection is not from the node identity socket" };
    if (conn.pid === undefined || conn.startTime === undefined) return { ok: false, reason: conn.error ?? "the caller could not be identified" };
    return this.opts.attestor.attest(conn.pid, conn.startTime);
  }

  /** Tracks a stream for re-attestation; refuses past the per-pod bound. Returns the untrack function. */
  track(stream: IdentityStream): { ok: true; untrack: () => void } | { ok: false; reason: string } {
    const max = this.opts.maxStreamsPerPod ?? DEFAULT_MAX_STREAMS_PER_POD;
    let open = 0;
    for (const s of this.streams) if (s.podUid === stream.podUid) open++;
    if (open >= max) return { ok: false, reason: `pod has ${open} identity streams open, the most the agent serves one pod (${max})` };
    this.streams.add(stream);
    return { ok: true, untrack: () => this.streams.delete(stream) };
  }

  /** Open streams per pod uid (for tests and stats). */
  openStreams(podUid?: string): number {
    let n = 0;
    for (const s of this.streams) if (podUid === undefined || s.podUid === podUid) n++;
    return n;
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const s of [...this.streams]) s.close(grpc.status.UNAVAILABLE, "the node agent is stopping");
    this.injector?.destroy();
    for (const c of this.connections.values()) c.socket.destroy();
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
    this.grpc.forceShutdown();
  }

  private accept(socket: Socket): void {
    const peer = `${PEER_PREFIX}${++this.next}`;
    let identified: { pid: number; startTime: bigint } | { error: string };
    try {
      const cred = peerCredentials(socketFd(socket));
      const startTime = this.opts.attestor.startTimeOf(cred.pid);
      identified = startTime === undefined ? { error: `process ${cred.pid} exited before it could be identified` } : { pid: cred.pid, startTime };
    } catch (e) {
      identified = { error: `the caller could not be identified: ${(e as Error).message}` };
    }
    const attested = "pid" in identified ? this.opts.attestor.attest(identified.pid, identified.startTime) : undefined;
    const bucket = attested?.ok ? attested.attestation.pod.uid : UNPLACED;
    const max = this.opts.maxConnectionsPerPod ?? DEFAULT_MAX_CONNECTIONS_PER_POD;
    let open = 0;
    for (const c of this.connections.values()) if (c.bucket === bucket) open++;
    if (open >= max) {
      this.opts.log?.(`identity socket: refusing a connection from ${bucket === UNPLACED ? "a caller in no known pod" : `pod ${bucket}`}: ${open} open, the most one pod may hold (${max})`);
      return void socket.destroy();
    }
    const conn: Connection = "pid" in identified ? { socket, bucket, ...identified } : { socket, bucket, error: identified.error };
    // The caller learns why it gets nothing through its calls' status, so the connection is served either way.
    Object.defineProperty(socket, "remoteAddress", { value: peer });
    this.connections.set(peer, conn);
    socket.once("close", () => this.connections.delete(peer));
    if (this.injector === undefined) return void socket.destroy();
    this.injector.injectConnection(socket);
  }

  private reattestStreams(): void {
    for (const s of [...this.streams]) {
      const r = this.opts.attestor.attest(s.pid, s.startTime);
      if (!r.ok) s.close(grpc.status.PERMISSION_DENIED, `re-attestation failed: ${r.reason}`);
      else if (r.attestation.pod.uid !== s.podUid) {
        s.close(grpc.status.PERMISSION_DENIED, `re-attestation: the caller is now in pod ${r.attestation.pod.namespace}/${r.attestation.pod.name}`);
      }
    }
  }
}
