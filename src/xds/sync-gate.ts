// How many streams the server brings up at once (issue 15 item 11). A new stream's first
// responses are its whole config (about 1 MB for a sidecar of a 100-service mesh); when thousands
// of proxies reconnect together (a control plane restart, a network blip) and every one is
// answered at once, the responses pile up in HTTP/2's buffers faster than the proxies read them:
// the server's memory grows by gigabytes, garbage collection and writes hold the event loop for
// seconds, new connections time out in the accept queue, keepalive pings go unanswered, and each
// dropped proxy starts its resync over. So a stream, once admitted, waits for one of
// `maxConcurrentSyncs` slots before its requests are answered, and holds the slot until it has
// answered every response sent to it, HTTP/2 has taken every byte written to it, and it has asked
// for nothing new for SYNC_QUIET_MS (its initial sync is done), or for `syncSlotMs` at most (a
// proxy that never reads cannot keep a slot).
// Waiting streams cost a connection and their first requests (at most 16), nothing else.
// istiod bounds the same storm by rate (PILOT_MAX_REQUESTS_PER_SECOND new streams a second); a
// bound on concurrency follows the proxies' own pace instead of a guessed rate.

export interface SyncLimits {
  /** Streams in their initial sync at once, per server (per stream worker with --xds-workers). */
  readonly maxConcurrentSyncs: number;
  /** The longest one stream holds a slot. */
  readonly syncSlotMs: number;
}

/**
 * 64 slots of ~1 MB each bound what initial syncs queue to ~64 MB; at 1,000 proxies a normal start
 * never waits (the bench's sidecars bring up 100 streams at a time). 10 s is long enough for a
 * proxy on a slow link to take 1 MB and answer, short enough that proxies that never read delay
 * the others by 10 s, not forever.
 */
export const DEFAULT_SYNC_LIMITS: SyncLimits = {
  maxConcurrentSyncs: 64,
  syncSlotMs: 10_000,
};

/**
 * How long a stream that has answered everything must stay so before its sync counts as done. A
 * proxy ACKs one type and asks for the next in two messages written together (Envoy: the CDS ACK,
 * then the EDS request), which the server may read apart; 20 ms is ample for the second to
 * arrive, and adds 20 ms to each slot, not to any proxy's sync.
 */
export const SYNC_QUIET_MS = 20;

/** One stream's place in the gate: waiting, then holding a slot, then done. */
export interface SyncTicket {
  /** The stream's initial sync may be over: released if `synced()` still holds SYNC_QUIET_MS from now. */
  check(): void;
  /** The stream ended (or its sync is over): frees its slot, or its place in the queue. */
  release(): void;
}

/** What the gate reports to metrics: streams holding a slot, and streams waiting for one. */
export interface SyncGateObserver {
  (active: number, waiting: number): void;
}

export class SyncGate {
  private active = 0;
  /** Waiting streams, oldest first (`head` is the next to start: a queue without shift's copying). */
  private readonly queue: Array<Waiting | undefined> = [];
  private head = 0;
  private waiting = 0;

  constructor(
    private readonly limits: SyncLimits,
    private readonly observe: SyncGateObserver = () => {},
  ) {}

  /**
   * Queues a stream: `start` runs once it holds a slot (at once if one is free). The slot is given
   * back when `synced()` holds at a check, on release(), or after syncSlotMs.
   */
  enter(start: () => void, synced: () => boolean): SyncTicket {
    const w: Waiting = { start, synced, state: "waiting", timer: undefined, checking: false };
    const ticket: SyncTicket = {
      check: () => this.check(w),
      release: () => this.release(w),
    };
    if (this.active < this.limits.maxConcurrentSyncs && this.waiting === 0) this.begin(w);
    else {
      this.queue.push(w);
      this.waiting++;
      this.observe(this.active, this.waiting);
    }
    return ticket;
  }

  private begin(w: Waiting): void {
    w.state = "active";
    this.active++;
    w.timer = setTimeout(() => this.release(w), this.limits.syncSlotMs);
    w.timer.unref();
    this.observe(this.active, this.waiting);
    w.start();
  }

  private check(w: Waiting): void {
    if (w.state !== "active" || w.checking) return;
    w.checking = true;
    if (!w.synced()) {
      w.checking = false;
      return;
    }
    setTimeout(() => {
      w.checking = false;
      if (w.state === "active" && w.synced()) this.release(w);
    }, SYNC_QUIET_MS).unref();
  }

  private release(w: Waiting): void {
    if (w.state === "done") return;
    const wasActive = w.state === "active";
    if (w.state === "waiting") this.waiting--;
    w.state = "done";
    if (w.timer) clearTimeout(w.timer);
    if (wasActive) this.active--;
    this.next();
    this.observe(this.active, this.waiting);
  }

  private next(): void {
    while (this.active < this.limits.maxConcurrentSyncs && this.head < this.queue.length) {
      const w = this.queue[this.head];
      this.queue[this.head++] = undefined;
      if (w === undefined || w.state !== "waiting") continue;
      this.waiting--;
      this.begin(w);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}

interface Waiting {
  readonly start: () => void;
  readonly synced: () => boolean;
  state: "waiting" | "active" | "done";
  timer: NodeJS.Timeout | undefined;
  checking: boolean;
}
