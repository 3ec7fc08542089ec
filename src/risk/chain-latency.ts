// Following one signal from the syscall to the last affected proxy's ACK. The tracker knows
// which proxies a signal's enforcement must reach (from the translation step), which pushes carry
// it, and which ACKs confirm them; the histogram is what the metrics endpoint exports.

/** Where one signal's enforcement stands on one xDS stream (proxy + type). */
interface PendingPush {
  readonly nonce: string;
  readonly version: string;
  readonly signalIds: readonly string[];
  /** Pushed in a phased round's first phase: one of the resources that cut the pod off. */
  readonly first: boolean;
}

interface Chain {
  /** Proxies the enforcement must reach; an open chain adds every proxy pushed until it is sealed. */
  readonly expected: Set<string>;
  open: boolean;
  readonly startedUs: number;
  /** Unconfirmed pushes per proxy. */
  readonly pending: Map<string, number>;
  /** Proxies whose every push for this chain is ACKed or NACKed. */
  readonly confirmed: Set<string>;
  /** Expected proxies not yet confirmed; a counter so each ACK costs O(1), not O(proxies). */
  remaining: number;
  firstPushUs?: number;
  lastAckUs?: number;
  nacked: number;
  /** First-phase pushes not yet confirmed, and the latest confirmation of one so far. */
  firstOpen: number;
  firstAckUs?: number;
}

export interface CompletedChain {
  readonly signalId: string;
  /** Proxies the enforcement had to reach. */
  readonly proxies: number;
  /** Of those, how many confirmed with an ACK (the rest NACKed, or never answered if `timedOut`). */
  readonly acked: number;
  readonly nacked: number;
  readonly firstPushUs?: number;
  readonly lastAckUs?: number;
  /**
   * When the last first-phase push (the resources that cut the pod off) was confirmed; present
   * only when the round was phased and every such push was confirmed. Without phases the whole
   * round cuts off, and the cut-off time is lastAckUs.
   */
  readonly cutOffUs?: number;
  readonly timedOut: boolean;
}

/** One confirmation of one push for one signal, as the audit store records it. */
export interface ResolvedPush {
  readonly signalId: string;
  readonly proxyId: string;
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
}

export class ChainTracker {
  private readonly chains = new Map<string, Chain>();
  private readonly streams = new Map<string, PendingPush[]>();

  /** The enforcement for these signals was translated; these proxies must receive it. */
  expect(signalIds: readonly string[], proxyIds: readonly string[], atUs: number): CompletedChain[] {
    const done: CompletedChain[] = [];
    for (const id of signalIds) {
      const expected = new Set(proxyIds);
      const chain: Chain = { expected, open: false, startedUs: atUs, pending: new Map(), confirmed: new Set(), remaining: expected.size, nacked: 0, firstOpen: 0 };
      this.chains.set(id, chain);
      // No proxy affected (for example `revoke`, which only the CA enforces): done at translation.
      if (chain.expected.size === 0) done.push(this.complete(id, chain, false));
    }
    return done;
  }

  /**
   * The enforcement for these signals was translated; the proxies it must reach are the ones
   * pushed from now until seal() (the server's next round may start later, or the round in
   * progress may already carry it: only the pushes tell).
   */
  open(signalIds: readonly string[], atUs: number): void {
    for (const id of signalIds) {
      this.chains.set(id, { expected: new Set(), open: true, startedUs: atUs, pending: new Map(), confirmed: new Set(), remaining: 0, nacked: 0, firstOpen: 0 });
    }
  }

  /** No more proxies join these chains; returns the ones already complete (or reaching no proxy). */
  seal(signalIds: readonly string[]): CompletedChain[] {
    const done: CompletedChain[] = [];
    for (const id of signalIds) {
      const c = this.chains.get(id);
      if (c === undefined || !c.open) continue;
      c.open = false;
      if (c.remaining === 0) done.push(this.complete(id, c, false));
    }
    return done;
  }

  /**
   * A push to one stream carries the enforcement of `signalIds` (`first`: in the round's first
   * phase, see CompletedChain.cutOffUs); returns the ones being tracked.
   */
  pushed(signalIds: readonly string[], proxyId: string, typeUrl: string, version: string, nonce: string, atUs: number, first = false): string[] {
    const tracked = signalIds.filter((id) => this.chains.has(id));
    if (tracked.length === 0) return tracked;
    const key = `${proxyId}\0${typeUrl}`;
    const list = this.streams.get(key) ?? [];
    list.push({ nonce, version, signalIds: tracked, first });
    this.streams.set(key, list);
    for (const id of tracked) {
      const c = this.chains.get(id) as Chain;
      if (c.open && !c.expected.has(proxyId)) {
        c.expected.add(proxyId);
        c.remaining++;
      }
      c.firstPushUs ??= atUs;
      if (first) c.firstOpen++;
      c.pending.set(proxyId, (c.pending.get(proxyId) ?? 0) + 1);
      if (c.confirmed.delete(proxyId) && c.expected.has(proxyId)) c.remaining++;
    }
    return tracked;
  }

  /**
   * An ACK (or NACK) of `nonce` on one stream. It also confirms earlier unconfirmed pushes on that
   * stream: a later version still carries the enforcement, and a client may answer only the last.
   */
  acked(proxyId: string, typeUrl: string, nonce: string, atUs: number, nack: boolean): { resolved: ResolvedPush[]; completed: CompletedChain[] } {
    const key = `${proxyId}\0${typeUrl}`;
    const list = this.streams.get(key);
    const at = list?.findIndex((p) => p.nonce === nonce) ?? -1;
    if (list === undefined || at < 0) return { resolved: [], completed: [] };
    const confirmed = list.splice(0, at + 1);
    if (list.length === 0) this.streams.delete(key);
    const resolved: ResolvedPush[] = [];
    const touched = new Set<string>();
    for (const push of confirmed) {
      for (const id of push.signalIds) {
        resolved.push({ signalId: id, proxyId, typeUrl, version: push.version, nonce: push.nonce });
        const c = this.chains.get(id);
        if (!c) continue;
        if (push.first) {
          c.firstOpen--;
          c.firstAckUs = Math.max(c.firstAckUs ?? atUs, atUs);
        }
        const left = (c.pending.get(proxyId) ?? 1) - 1;
        c.pending.set(proxyId, left);
        if (left === 0 && !c.confirmed.has(proxyId)) {
          c.confirmed.add(proxyId);
          if (c.expected.has(proxyId)) {
            c.remaining--;
            if (nack) c.nacked++;
            c.lastAckUs = Math.max(c.lastAckUs ?? atUs, atUs);
          }
        }
        touched.add(id);
      }
    }
    const completed: CompletedChain[] = [];
    for (const id of touched) {
      const c = this.chains.get(id) as Chain;
      if (c.remaining === 0 && !c.open) completed.push(this.complete(id, c, false));
    }
    return { resolved, completed };
  }

  /** Gives up on chains started before `beforeUs` (a proxy went away without answering). */
  sweep(beforeUs: number): CompletedChain[] {
    const out: CompletedChain[] = [];
    for (const [id, c] of this.chains) if (c.startedUs < beforeUs) out.push(this.complete(id, c, true));
    return out;
  }

  inFlight(): number {
    return this.chains.size;
  }

  private complete(id: string, c: Chain, timedOut: boolean): CompletedChain {
    this.chains.delete(id);
    const acked = [...c.expected].filter((p) => c.confirmed.has(p)).length - c.nacked;
    return {
      signalId: id,
      proxies: c.expected.size,
      acked,
      nacked: c.nacked,
      ...(c.firstPushUs !== undefined ? { firstPushUs: c.firstPushUs } : {}),
      ...(c.lastAckUs !== undefined ? { lastAckUs: c.lastAckUs } : {}),
      ...(c.firstAckUs !== undefined && c.firstOpen === 0 ? { cutOffUs: c.firstAckUs } : {}),
      timedOut,
    };
  }
}

/** Prometheus-style buckets (seconds) around the 250 ms target for syscall -> last ACK. */
export const CHAIN_LATENCY_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10];
export const CHAIN_LATENCY_METRIC = "meshward_enforcement_chain_seconds";

export interface HistogramSnapshot {
  /** Cumulative counts per upper bound, `+Inf` last, as Prometheus exposes them. */
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly count: number;
  readonly sum: number;
}

export class LatencyHistogram {
  private readonly counts: number[];
  private count = 0;
  private sum = 0;

  constructor(readonly bounds: readonly number[] = CHAIN_LATENCY_BUCKETS_S) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(seconds: number): void {
    let i = this.bounds.findIndex((b) => seconds <= b);
    if (i < 0) i = this.bounds.length;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count++;
    this.sum += seconds;
  }

  snapshot(): HistogramSnapshot {
    let running = 0;
    const buckets = [...this.bounds, Number.POSITIVE_INFINITY].map((le, i) => {
      running += this.counts[i] ?? 0;
      return { le, count: running };
    });
    return { buckets, count: this.count, sum: this.sum };
  }

  /** Prometheus text exposition of this histogram. */
  exposition(name: string = CHAIN_LATENCY_METRIC, help = "Time from the syscall to the last affected proxy's ACK of its enforcement."): string {
    const s = this.snapshot();
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    for (const b of s.buckets) lines.push(`${name}_bucket{le="${b.le === Number.POSITIVE_INFINITY ? "+Inf" : b.le}"} ${b.count}`);
    lines.push(`${name}_sum ${s.sum}`, `${name}_count ${s.count}`);
    return lines.join("\n") + "\n";
  }
}
