// The one place the risk engine reads the wall clock. Everything else takes a Clock so scoring,
// expiry and latency are deterministic under test.

export interface Clock {
  /** Milliseconds since the Unix epoch, with a sub-millisecond fraction where the clock has one. */
  nowMs(): number;
}

/** Wall time with microsecond resolution: the latency chain compares stages a few ms apart. */
export const systemClock: Clock = {
  nowMs: () => performance.timeOrigin + performance.now(),
};

/** A clock a test moves by hand. */
export class ManualClock implements Clock {
  constructor(private ms: number) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
}

/** RFC 3339 in UTC, the form Kubernetes uses for timestamps. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}
