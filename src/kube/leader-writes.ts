// The write loop every status writer of the Lease holder shares: passes run one at a time while
// this replica leads, a change during a pass runs another, and a pass that could not write
// everything (the apiserver refused or was away) is tried again later, since the model may not
// change for a while. What a pass writes is the writer's (status.ts, gateway-status.ts); how one
// object's status is replaced (read, change, write, again on a conflict) is here too.
import { KubeApiError, type KubeClient } from "./client.js";

/** An object as its status subresource is written: the whole object back with a new status. */
export interface StatusObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string; observedGeneration?: number; lastTransitionTime?: string }[]; [k: string]: unknown };
  [k: string]: unknown;
}

/**
 * Replaces the status of the object at `path` with `next(object)` (undefined: it is already as
 * wanted), reading again when someone else wrote meanwhile. True when the object ends as wanted
 * (or is gone); false when the apiserver refused or was away (`log` says why).
 */
export async function replaceStatus(client: KubeClient, path: string, next: (o: StatusObject) => Record<string, unknown> | undefined, log: (why: string) => void): Promise<"written" | "unchanged" | "failed"> {
  for (let attempt = 0; attempt < 3; attempt++) {
    let o: StatusObject;
    try {
      o = await client.request<StatusObject>("GET", path);
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return "unchanged"; // deleted: nothing to say
      log((e as Error).message);
      return "failed";
    }
    const status = next(o);
    if (status === undefined) return "unchanged";
    try {
      await client.request("PUT", `${path}/status`, { ...o, status });
      return "written";
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 409) continue; // changed meanwhile: read again
      if (e instanceof KubeApiError && e.status === 404) return "unchanged";
      log((e as Error).message);
      return "failed";
    }
  }
  return "failed";
}
export class LeaderWrites {
  private active = false;
  private dirty = false;
  private running: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;

  /** `pass` writes what is wanted now and resolves false if some write failed. */
  constructor(
    private readonly pass: () => Promise<boolean>,
    private readonly retryMs = 2_000,
  ) {}

  get isActive(): boolean {
    return this.active;
  }

  setActive(active: boolean): void {
    this.active = active;
    if (!active && this.retry !== undefined) {
      clearTimeout(this.retry);
      this.retry = undefined;
    }
    this.kick();
  }

  /** Something to write changed: run a pass now (or after the current one) if leading. */
  kick(): void {
    this.dirty = true;
    if (!this.active) return;
    this.running ??= this.run().finally(() => (this.running = undefined));
  }

  /** Resolves when every wanted write is done. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async run(): Promise<void> {
    let failed = false;
    while (this.active && this.dirty) {
      this.dirty = false;
      if (!(await this.pass())) failed = true;
    }
    if (failed && this.active && this.retry === undefined) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.kick();
      }, this.retryMs);
      this.retry.unref();
    }
  }
}
