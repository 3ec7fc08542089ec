// Proxyless gRPC workloads with grpc-js-xds's RBAC enabled. grpc-js-xds reads
// GRPC_XDS_EXPERIMENTAL_RBAC when it loads, so the workloads live in a child process started with
// it (as a real deployment sets it per process); the test drives them over IPC.
import { fork, spawn, type ChildProcess } from "node:child_process";
import { status } from "@grpc/grpc-js";
import { fileURLToPath } from "node:url";
import type { NodeSpec } from "./proxyless.js";

export type WorkloadRequest =
  | { op: "server"; name: string; address: string; xds: string; node: NodeSpec; bootstrap?: string }
  | { op: "client"; name: string; target: string; xds: string; node: NodeSpec; bootstrap?: string }
  | { op: "call"; client: string; method?: string; headers?: Record<string, string>; timeoutMs?: number }
  | { op: "stop-server"; name: string };

/** A call's outcome: the answering backend, or the gRPC status code and details. */
export type CallResult = { ok: true; value: string } | { ok: false; code: number; details: string };

/** A call's outcome in one word to compare: `ok:<backend>`, `denied` (PERMISSION_DENIED) or `error:<code>:<details>`. */
export const callOutcome = (r: CallResult): string => (r.ok ? `ok:${r.value}` : r.code === status.PERMISSION_DENIED ? "denied" : `error:${r.code}:${r.details}`);

type Reply = { id: number; result?: CallResult; error?: string };

const childEntry = fileURLToPath(new URL("./rbac-workloads-child.js", import.meta.url));

export class RbacWorkloads {
  private readonly child: ChildProcess;
  private next = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void }>();

  /** @param launch argv that runs the child's command where it must run (a pod's cgroup and network namespace). */
  constructor(launch: readonly string[] = []) {
    const env = { ...process.env, GRPC_XDS_EXPERIMENTAL_RBAC: "true" };
    const stdio: ["ignore", "inherit", "inherit", "ipc"] = ["ignore", "inherit", "inherit", "ipc"];
    this.child = launch.length === 0
      ? fork(childEntry, [], { env, stdio })
      : spawn(launch[0]!, [...launch.slice(1), process.execPath, childEntry], { env, stdio });
    this.child.on("message", (m: Reply) => this.pending.get(m.id)?.resolve(m));
    this.child.on("exit", () => {
      for (const p of this.pending.values()) p.resolve({ id: 0, error: "workload process exited" });
      this.pending.clear();
    });
  }

  private request(req: WorkloadRequest): Promise<Reply> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve: (r) => (this.pending.delete(id), resolve(r)) });
      this.child.send({ id, ...req });
    });
  }

  /** `bootstrap`: a whole bootstrap JSON (certificate providers for mTLS) instead of one made from `node`. */
  async startServer(name: string, address: string, xds: string, node: NodeSpec, bootstrap?: string): Promise<void> {
    const r = await this.request({ op: "server", name, address, xds, node, ...(bootstrap ? { bootstrap } : {}) });
    if (r.error !== undefined) throw new Error(r.error);
  }

  async startClient(name: string, target: string, xds: string, node: NodeSpec, bootstrap?: string): Promise<void> {
    const r = await this.request({ op: "client", name, target, xds, node, ...(bootstrap ? { bootstrap } : {}) });
    if (r.error !== undefined) throw new Error(r.error);
  }

  /** Stops the server `name` (its port closes: peers see connections refused). */
  async stopServer(name: string): Promise<void> {
    const r = await this.request({ op: "stop-server", name });
    if (r.error !== undefined) throw new Error(r.error);
  }

  async call(client: string, opts: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<CallResult> {
    const r = await this.request({ op: "call", client, ...opts });
    if (r.error !== undefined || r.result === undefined) throw new Error(r.error ?? "no result");
    return r.result;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  stop(): void {
    this.child.kill();
  }
}
