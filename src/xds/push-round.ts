// How a push round walks the streams: in CPU time slices (so ACKs, new streams and other work get
// the event loop between batches), and for an urgent round that names "first" types, in two
// phases: those types to every affected stream, then, once each of those responses is answered
// (or its stream is gone, or FIRST_PHASE_WAIT_MS passed), the rest of the round. The mesh side says
// which types come first for which proxy (enforcement: the resources that cut a pod off); this
// file only orders responses and waits for answers.
import type { Proxy } from "../model/proxy.js";
import { PushOrder, type ProxyChange, type TypeUrl } from "./types.js";

/**
 * The longest the rest of a phased round waits for the first phase's answers. A proxy that never
 * answers must not hold every other proxy's remaining config for long; the chain records it.
 */
export const FIRST_PHASE_WAIT_MS = 2_000;

/** Per proxy: the types an urgent round must deliver (and have answered) before anything else. */
export type FirstTypes = (proxy: Proxy) => readonly TypeUrl[];

/** Both of two FirstTypes (pushNow called again before its round started). */
export function unionFirstTypes(a: FirstTypes | undefined, b: FirstTypes | undefined): FirstTypes | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return (p) => [...new Set([...a(p), ...b(p)])];
}

/**
 * The types a stream is pushed in the first phase: every type up to the last first type in
 * make-before-break order, so that (say) a first LDS never references a cluster the proxy lacks.
 * Types before it that did not change cost a map comparison.
 */
export function firstPhaseTypes(first: readonly TypeUrl[]): ReadonlySet<TypeUrl> {
  const last = Math.max(-1, ...first.map((t) => PushOrder.indexOf(t)));
  return new Set(PushOrder.slice(0, last + 1));
}

export interface SliceBudget {
  /** CPU milliseconds per slice before yielding to the event loop. */
  readonly cpuMs: number;
  /** Streams between looks at the CPU clock. */
  readonly checkEvery: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Calls `each` for every target, yielding to the event loop whenever a slice's CPU budget is spent. */
export async function inSlices<T>(targets: readonly T[], budget: SliceBudget, each: (t: T) => void): Promise<void> {
  let sliceStart = cpuMs();
  let n = 0;
  for (const t of targets) {
    if (++n % budget.checkEvery === 0 && cpuMs() - sliceStart > budget.cpuMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = cpuMs();
    }
    each(t);
  }
}

/**
 * The first phase's responses not yet answered, by stream and type. Only the latest response of a
 * type is ever answered (an ACK of an older nonce is stale and not reported), so any answer on
 * that stream and type after a first-phase push settles it.
 */
export class FirstPhaseBarrier {
  private readonly open = new Set<string>();
  private readonly byStream = new Map<number, Set<string>>();
  private wake: (() => void) | undefined;

  private static key(streamId: number, typeUrl: string): string {
    return `${streamId}\0${typeUrl}`;
  }

  /** A first-phase response went out on this stream. */
  sent(streamId: number, typeUrl: string): void {
    const k = FirstPhaseBarrier.key(streamId, typeUrl);
    this.open.add(k);
    let s = this.byStream.get(streamId);
    if (s === undefined) this.byStream.set(streamId, (s = new Set()));
    s.add(k);
  }

  /** An ACK or NACK on this stream and type. */
  answered(streamId: number, typeUrl: string): void {
    const k = FirstPhaseBarrier.key(streamId, typeUrl);
    if (!this.open.delete(k)) return;
    this.byStream.get(streamId)?.delete(k);
    this.check();
  }

  /** The stream ended: it will answer nothing. */
  gone(streamId: number): void {
    const s = this.byStream.get(streamId);
    if (s === undefined) return;
    this.byStream.delete(streamId);
    for (const k of s) this.open.delete(k);
    this.check();
  }

  get pending(): number {
    return this.open.size;
  }

  /** Resolves once every first-phase response is answered, or after `timeoutMs`; true if all were. */
  settled(timeoutMs: number): Promise<boolean> {
    if (this.open.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }

  private check(): void {
    if (this.open.size === 0) this.wake?.();
  }
}

/** What one push round carries: the changes since the last, and an urgent round's first types. */
export interface Round {
  readonly changes: readonly ProxyChange[];
  /** When the oldest of them arrived (pilot_proxy_convergence_time starts there). */
  readonly changedAtMs: number;
  readonly urgent: boolean;
  readonly first: FirstTypes | undefined;
  /** Whether the round concerns this proxy. */
  affects(proxy: Proxy): boolean;
}

/**
 * When rounds run: provider changes are debounced into one round, pushNow starts one at once (or
 * right after the round in progress), and one round runs at a time. `run` calls done() when its
 * round is over.
 */
export class RoundScheduler {
  private pending: ProxyChange[] = [];
  private pendingSinceMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pushing = false;
  /** pushNow() was asked during a round: the next round starts without the debounce. */
  private urgent = false;
  /** First types asked for the next urgent round. */
  private nextFirst: FirstTypes | undefined;
  private closed = false;

  constructor(
    private readonly debounceMs: number,
    private readonly run: (round: Round) => void,
  ) {}

  get inRound(): boolean {
    return this.pushing;
  }

  changed(change: ProxyChange): void {
    if (this.closed) return;
    this.pendingSinceMs ??= performance.now();
    this.pending.push(change);
    if (this.timer === undefined && !this.pushing) this.timer = setTimeout(() => this.start(false), this.debounceMs);
  }

  /**
   * Pushes pending changes now instead of after the debounce: enforcement (a quarantine) must not
   * wait for more changes to coalesce. During a round, the next round starts right after it.
   */
  pushNow(first: FirstTypes | undefined): void {
    if (this.closed) return;
    this.nextFirst = unionFirstTypes(this.nextFirst, first);
    if (this.pushing) {
      this.urgent = true;
      return;
    }
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.start(true);
  }

  private start(urgent: boolean): void {
    this.timer = undefined;
    this.pushing = true;
    const changes = this.pending;
    this.pending = [];
    const changedAtMs = this.pendingSinceMs ?? performance.now();
    this.pendingSinceMs = undefined;
    const first = urgent ? this.nextFirst : undefined;
    if (urgent) this.nextFirst = undefined;
    const all = changes.some((c) => c.all);
    this.run({ changes, changedAtMs, urgent, first, affects: (p) => all || changes.some((c) => !c.all && c.affects(p)) });
  }

  /** The round is over: the next starts if changes arrived meanwhile. */
  done(): void {
    this.pushing = false;
    const urgentNext = this.urgent;
    this.urgent = false;
    if (this.pending.length > 0 && !this.closed) this.timer = setTimeout(() => this.start(urgentNext), urgentNext ? 0 : this.debounceMs);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
