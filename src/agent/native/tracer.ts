// Runs native/build/meshward-tracer as a child process and turns its stdout frames into typed
// records. The tracer is restarted (with the watched cgroups replayed) if it dies; closing its
// stdin makes it exit and the kernel detach every program.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeRecord, FrameReader, type TracerRecord } from "./event-layout.js";

export interface TracerOptions {
  /** Path of the loader binary; default native/build/meshward-tracer of this checkout. */
  readonly binary?: string;
  /** Report every process on the node instead of container processes only. */
  readonly allProcesses?: boolean;
  /** Events per second per cgroup and event type (0 = unlimited). */
  readonly ratePerSec?: number;
  readonly ringbufKb?: number;
  /** Use this cgroup v1 controller's hierarchy (its row index in /proc/cgroups) instead of v2. */
  readonly cgroupV1Ssid?: number;
  /** Kubernetes API server addresses (IP literals): connects to them from containers are reported. */
  readonly kubeApi?: readonly WatchedAddress[];
  /** Cloud instance-metadata addresses; default DEFAULT_CLOUD_METADATA. */
  readonly cloudMetadata?: readonly WatchedAddress[];
  /** eBPF programs not to load, by name (the overhead bench compares program sets). */
  readonly skipPrograms?: readonly string[];
  readonly onRecord: (r: TracerRecord) => void;
  readonly onError?: (err: Error) => void;
}

export interface WatchedAddress {
  readonly ip: string;
  readonly port: number;
}

/** AWS, GCP, Azure, OpenStack (169.254.169.254), AWS over IPv6, Alibaba Cloud: port 80. */
export const DEFAULT_CLOUD_METADATA: readonly WatchedAddress[] = [
  { ip: "169.254.169.254", port: 80 }, { ip: "fd00:ec2::254", port: 80 }, { ip: "100.100.100.200", port: 80 },
];

export function defaultTracerBinary(): string {
  // dist/src/agent/native/tracer.js -> repository root is four levels up.
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, "..", "..", "..", "..", "native", "build", "meshward-tracer");
}

export class Tracer {
  private child: ChildProcess | undefined;
  private readonly watched = new Set<bigint>();
  private stopped = false;
  private restarts = 0;
  private readyWaiters: Array<() => void> = [];
  private ready = false;
  private startFailure: ((why: string) => void) | undefined;

  constructor(private readonly opts: TracerOptions) {}

  /** Pid of the running tracer process (for resource accounting). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get restartCount(): number {
    return this.restarts;
  }

  /** Starts the tracer and resolves once it has attached (its hello record arrived). */
  async start(): Promise<void> {
    const bin = this.opts.binary ?? defaultTracerBinary();
    if (!existsSync(bin)) throw new Error(`tracer binary ${bin} not found: run "make -C native" (part of npm run build)`);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.stopped = true;
        this.child?.kill("SIGKILL");
        reject(new Error("tracer did not report attachment within 30s"));
      }, 30000);
      this.readyWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
      // A tracer that cannot load at all fails the start instead of being retried forever.
      this.startFailure = (why) => {
        clearTimeout(t);
        this.stopped = true;
        reject(new Error(`tracer failed to start: ${why}`));
      };
      this.launch(bin);
    });
    this.startFailure = undefined;
  }

  private launch(bin: string): void {
    const args: string[] = [];
    if (this.opts.allProcesses) args.push("--all");
    if (this.opts.ratePerSec !== undefined) args.push("--rate", String(this.opts.ratePerSec));
    if (this.opts.ringbufKb !== undefined) args.push("--ringbuf-kb", String(this.opts.ringbufKb));
    // The scope goes in before the programs attach, so a restarted tracer has no blind window.
    if (this.opts.cgroupV1Ssid !== undefined) args.push("--v1", String(this.opts.cgroupV1Ssid));
    for (const id of this.watched) args.push("--watch", String(id));
    if (this.opts.skipPrograms?.length) args.push("--skip", this.opts.skipPrograms.join(","));
    const child = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    this.ready = false;
    const frames = new FrameReader();
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      for (const f of frames.push(chunk)) {
        let rec: TracerRecord;
        try {
          rec = decodeRecord(f);
        } catch (err) {
          this.opts.onError?.(err as Error);
          continue;
        }
        if (rec.kind === "hello") this.onHello();
        this.opts.onRecord(rec);
      }
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.stdin?.on("error", () => undefined);
    child.on("error", (err) => this.opts.onError?.(err));
    child.on("exit", (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.stopped) return;
      const why = `tracer exited (code ${code}, signal ${signal}): ${stderr.trim()}`;
      if (this.startFailure !== undefined) return this.startFailure(why);
      this.opts.onError?.(new Error(why));
      this.restarts++;
      // Back off so a tracer that cannot load does not spin.
      setTimeout(() => {
        if (!this.stopped) this.launch(bin);
      }, Math.min(30000, 500 * 2 ** Math.min(this.restarts, 6))).unref();
    });
  }

  private onHello(): void {
    this.ready = true;
    if (this.opts.cgroupV1Ssid !== undefined) this.command(`v1 ${this.opts.cgroupV1Ssid}`);
    for (const id of this.watched) this.command(`watch ${id}`);
    for (const a of this.opts.kubeApi ?? []) this.command(`kubeapi ${a.ip} ${a.port}`);
    for (const a of this.opts.cloudMetadata ?? DEFAULT_CLOUD_METADATA) this.command(`metadata ${a.ip} ${a.port}`);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }

  private command(line: string): void {
    if (this.child?.stdin?.writable) this.child.stdin.write(line + "\n");
  }

  /** Puts a cgroup (and every cgroup below it) in scope. */
  watch(cgroupId: bigint): void {
    this.watched.add(cgroupId);
    if (this.ready) this.command(`watch ${cgroupId}`);
  }

  unwatch(cgroupId: bigint): void {
    this.watched.delete(cgroupId);
    if (this.ready) this.command(`unwatch ${cgroupId}`);
  }

  /** Stops the tracer: closing stdin makes it detach and exit; SIGKILL after 5 s as a backstop. */
  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      child.stdin?.end();
    });
  }
}
