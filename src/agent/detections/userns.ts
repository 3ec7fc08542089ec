// User-namespace creation followed by capability use. A process that creates a user namespace is
// root with every capability inside it, and the kernel's namespaced-capability checks then let it
// mount, create namespaces and open packet sockets: the first step of most unprivileged escapes
// (CVE-2022-0185, CVE-2022-0492, CVE-2023-32233). There is no tracepoint on capability checks
// (cap_capable is a kprobe), so the agent remembers which user namespaces each container had when
// one of its processes asked for CLONE_NEWUSER, and flags privileged operations from any other.
import type { KernelEvent } from "../native/event-layout.js";
import type { ProcessNode } from "../process-tree.js";
import { binaryMatches } from "./engine.js";
import { CONTAINER_RUNTIME } from "./presets.js";

const CLONE_NEWUSER = 0x10000000n;
/** Containers remembered at once; the oldest is forgotten first (bounded per node). */
const MAX_CONTAINERS = 10_000;

export class UserNamespaceTracker {
  /** cgroup id -> user namespaces its processes were in when they created a user namespace. */
  private readonly origins = new Map<bigint, Set<number>>();

  /** Records `ev`; true when it comes from a user namespace its container created. */
  observe(ev: KernelEvent, p: ProcessNode): boolean {
    const cg = ev.proc.cgroupId;
    const known = this.origins.get(cg);
    if ((ev.kind === "unshare" || ev.kind === "clone") && (ev.nsFlags & CLONE_NEWUSER) !== 0n && !binaryMatches(CONTAINER_RUNTIME, p)) {
      if (known === undefined) {
        if (this.origins.size >= MAX_CONTAINERS) this.origins.delete(this.origins.keys().next().value as bigint);
        this.origins.set(cg, new Set([ev.proc.ns.user]));
        return false;
      }
      // unshare(CLONE_NEWUSER) runs in the namespace it leaves: nested creation from a created
      // namespace is itself a privileged step from that namespace.
      const nested = !known.has(ev.proc.ns.user);
      if (!nested) known.add(ev.proc.ns.user);
      return nested;
    }
    return known !== undefined && !known.has(ev.proc.ns.user);
  }

  forget(cgroupId: bigint): void {
    this.origins.delete(cgroupId);
  }
}
