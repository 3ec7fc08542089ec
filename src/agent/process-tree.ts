// The process tree of watched processes, keyed by exec id = "<node>:<start ns>:<tgid>" (as in
// Tetragon), which stays unique when the kernel reuses a pid. Exited processes are kept for a
// grace period so late events and children can still find their ancestors.
import type { KernelEvent, ProcessHeader } from "./native/event-layout.js";

export interface ProcessNode {
  readonly execId: string;
  readonly parentExecId: string;
  readonly tgid: number;
  readonly ptgid: number;
  binary: string;
  args: string[];
  uid: number;
  tty: number;
  comm: string;
  exitedAt?: number;
  /** Set when an interactive session (a shell with a terminal) starts at or above this process. */
  interactiveRoot?: string;
}

const GRACE_MS = 60_000;
const MAX_NODES = 65_536;

export class ProcessTree {
  private readonly nodes = new Map<string, ProcessNode>();

  constructor(private readonly node: string) {}

  execIdOf(tgid: number, startNs: bigint): string {
    return `${this.node}:${startNs}:${tgid}`;
  }

  ids(p: ProcessHeader): { execId: string; parentExecId: string } {
    return { execId: this.execIdOf(p.tgid, p.startNs), parentExecId: this.execIdOf(p.ptgid, p.parentStartNs) };
  }

  get(execId: string): ProcessNode | undefined {
    return this.nodes.get(execId);
  }

  /** Updates the tree from an event and returns the node of the acting process. */
  observe(ev: KernelEvent): ProcessNode {
    const { execId, parentExecId } = this.ids(ev.proc);
    let n = this.nodes.get(execId);
    if (n === undefined) {
      const parent = this.nodes.get(parentExecId);
      n = {
        execId, parentExecId, tgid: ev.proc.tgid, ptgid: ev.proc.ptgid,
        binary: parent?.binary ?? ev.proc.comm, args: parent?.args ?? [], uid: ev.proc.uid, tty: ev.proc.tty, comm: ev.proc.comm,
        ...(parent?.interactiveRoot ? { interactiveRoot: parent.interactiveRoot } : {}),
      };
      this.nodes.set(execId, n);
      if (this.nodes.size > MAX_NODES) this.prune(true);
    }
    n.uid = ev.proc.uid;
    n.tty = ev.proc.tty;
    n.comm = ev.proc.comm;
    if (ev.kind === "exec") {
      n.binary = ev.filename;
      n.args = ev.args;
    } else if (ev.kind === "exit") {
      n.exitedAt = Date.now();
    }
    return n;
  }

  /** Ancestors from the parent upwards, as far as the tree knows them. */
  ancestors(execId: string, max = 16): ProcessNode[] {
    const out: ProcessNode[] = [];
    let cur = this.nodes.get(execId);
    const seen = new Set<string>();
    while (cur !== undefined && out.length < max && !seen.has(cur.parentExecId)) {
      seen.add(cur.execId);
      const p = this.nodes.get(cur.parentExecId);
      if (p === undefined) break;
      out.push(p);
      cur = p;
    }
    return out;
  }

  prune(force = false): void {
    const cutoff = Date.now() - (force ? 0 : GRACE_MS);
    for (const [id, n] of this.nodes) if (n.exitedAt !== undefined && n.exitedAt <= cutoff) this.nodes.delete(id);
  }

  get size(): number {
    return this.nodes.size;
  }
}
