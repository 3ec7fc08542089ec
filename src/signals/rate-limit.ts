// How much one node agent may write: a token bucket per authenticated node, and a cap on one
// signal's encoded size. A compromised node must not be able to grow the audit store without bound
// or keep the control plane busy with SQLite work; an honest agent keeps what was not accepted and
// sends it again after its backoff, so a limit delays signals and never loses them.

export interface SignalLimits {
  /** Sustained signals per second per node. */
  readonly signalsPerSecond: number;
  /** Signals a node may send at once after being quiet. */
  readonly burst: number;
  /** Largest encoded signal accepted; a larger one is rejected for good. */
  readonly maxSignalBytes: number;
}

export const DEFAULT_SIGNAL_LIMITS: SignalLimits = { signalsPerSecond: 50, burst: 500, maxSignalBytes: 16 * 1024 };

export class NodeSignalBuckets {
  /** One entry per authenticated node that has sent a batch (nodes are a bounded, known set). */
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    readonly limits: SignalLimits = DEFAULT_SIGNAL_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes up to `wanted` tokens for `node`; returns how many it got. */
  take(node: string, wanted: number): number {
    const now = this.now();
    const b = this.buckets.get(node) ?? { tokens: this.limits.burst, atMs: now };
    b.tokens = Math.min(this.limits.burst, b.tokens + ((now - b.atMs) / 1000) * this.limits.signalsPerSecond);
    b.atMs = now;
    const granted = Math.max(0, Math.min(wanted, Math.floor(b.tokens)));
    b.tokens -= granted;
    this.buckets.set(node, b);
    return granted;
  }
}
