// The one place the risk engine reads the wall clock. Everything else takes a Clock so scoring,
// expiry and latency are deterministic under test.

export interface Clock {
  /** Milliseconds since the Unix epoch, with a sub-millisecond fraction where the clock has one. */
  nowMs(): number;
}

let anchorPerf = Number.NEGATIVE_INFINITY;
let wallMinusPerf = 0;

/**
 * Wall time with sub-millisecond resolution: the latency chain compares stages a few ms apart,
 * and against the agents' wall-clock event times. `performance.now()` gives the resolution but
 * runs on the monotonic clock, which drifts from wall time over a long uptime (NTP steps), so the
 * offset to Date.now() is re-taken every second.
 */
export const systemClock: Clock = {
  nowMs: () => {
    const perf = performance.now();
    if (perf - anchorPerf > 1000) {
      anchorPerf = perf;
      wallMinusPerf = Date.now() - perf;
    }
    return perf + wallMinusPerf;
  },
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
