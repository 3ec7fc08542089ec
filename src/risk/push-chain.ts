// From translation to the last affected proxy's ACK: which xDS pushes carry a signal's
// enforcement, and which ACKs confirm it, fed to the audit store (openTranslation, recordPush,
// recordAck, sealTranslation).
//
// The affected proxies are the ones that actually receive a push after the translation, not the
// ones a ProxyChange might touch: a proxy whose resources come out unchanged (no inbound listener,
// say) is sent nothing and would hold the chain open until it timed out. Which pushes those are
// is not "the next round" alone: the provider serves its newest snapshot to whoever asks, so a
// round already in progress when the translation lands (in its time slices, or waiting for its
// first phase's ACKs) carries the enforcement to the streams it has not reached yet, and the next
// round carries it to the rest (and may then have nothing left to send). So a translation's chain
// is open from the translation on, takes every push until the end of the first round that starts
// after it, and is then sealed: complete once each of those proxies has ACKed.
import type { XdsAckEvent, XdsNackEvent, XdsPushEvent, XdsStreams } from "../xds/server.js";
import type { AuditStore } from "./audit.js";
import { systemClock, type Clock } from "./clock.js";

/**
 * An event's time on `clock`: events carry performance.now() (sub-ms, monotonic) besides a
 * whole-ms Date.now(); the chain compares stages a few ms apart, so the finer one is converted.
 */
function eventWallMs(clock: Clock, monotonicMs: number): number {
  return clock.nowMs() - (performance.now() - monotonicMs);
}

interface OpenTranslation {
  readonly causes: readonly string[];
  /**
   * When the chain was opened, on the events' monotonic clock (wall clocks drift from it in a
   * long-running process): a push made before it cannot carry the translation.
   */
  readonly openedMs: number;
  /** A round started after the translation: its end seals the chain. */
  inRound: boolean;
}

export class PushChainRecorder {
  private open: OpenTranslation[] = [];
  /** The signal ids of every open translation: what a push now carries. */
  private carried: readonly string[] = [];
  private readonly detach: () => void;

  constructor(
    private readonly audit: AuditStore,
    xds: XdsStreams,
    private readonly clock: Clock = systemClock,
  ) {
    const flushing = (): void => this.flushing();
    const flushed = (): void => this.flushed();
    const push = (e: XdsPushEvent): void => this.pushed(e);
    const ack = (e: XdsAckEvent): void => this.answer(e, false);
    const nack = (e: XdsNackEvent): void => this.answer(e, true);
    xds.on("flushing", flushing);
    xds.on("flushed", flushed);
    xds.on("push", push);
    xds.on("ack", ack);
    xds.on("nack", nack);
    this.detach = () => {
      xds.off("flushing", flushing);
      xds.off("flushed", flushed);
      xds.off("push", push);
      xds.off("ack", ack);
      xds.off("nack", nack);
    };
  }

  /**
   * A snapshot carrying these signals' enforcement was built at `atMs` and handed to the provider;
   * `pushes` false: it changes no proxy, so no round will carry it and the chain ends here.
   */
  translated(causes: readonly string[], atMs: number, pushes = true): void {
    if (causes.length === 0) return;
    if (!pushes) return void this.audit.recordTranslation(causes, [], atMs);
    this.audit.openTranslation(causes, atMs);
    this.open.push({ causes, openedMs: performance.now(), inRound: false });
    this.carried = this.open.flatMap((t) => t.causes);
  }

  private flushing(): void {
    for (const t of this.open) t.inRound = true;
  }

  private pushed(p: XdsPushEvent): void {
    if (this.carried.length === 0) return;
    const atMs = eventWallMs(this.clock, p.timeMs);
    // Stream workers report a push after the fact: one made before a translation, reported after
    // it, carries an older snapshot.
    const made = (t: OpenTranslation): boolean => t.openedMs <= p.timeMs;
    const carried = this.open.every(made) ? this.carried : this.open.filter(made).flatMap((t) => t.causes);
    if (carried.length === 0) return;
    const first = p.first === true ? { first: true } : {};
    this.audit.recordPush({ signalIds: carried, proxyId: p.proxyId, typeUrl: p.typeUrl, version: p.version, nonce: p.nonce, atMs, ...first });
  }

  private answer(e: XdsAckEvent | XdsNackEvent, nack: boolean): void {
    this.audit.recordAck({ proxyId: e.proxyId, typeUrl: e.typeUrl, nonce: e.nonce, atMs: eventWallMs(this.clock, e.timeMs), nack });
  }

  private flushed(): void {
    const done = this.open.filter((t) => t.inRound);
    if (done.length === 0) return;
    this.open = this.open.filter((t) => !t.inRound);
    this.carried = this.open.flatMap((t) => t.causes);
    for (const t of done) this.audit.sealTranslation(t.causes);
  }

  close(): void {
    this.detach();
  }
}
