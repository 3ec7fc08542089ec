// From translation to the last affected proxy's ACK: which xDS pushes carry a signal's
// enforcement, and which ACKs confirm it, fed to the audit store (recordTranslation, recordPush,
// recordAck).
//
// The affected proxies are the ones that actually receive a push in the round that follows the
// translation, not the ones a ProxyChange might touch: a proxy whose resources come out unchanged
// (no inbound listener, say) is sent nothing and would hold the chain open until it timed out.
// So a translation waits for the next round ("flushing"); pushes (and ACKs, which may arrive
// between the batches of a long round) are held until the round ends ("flushed"), when the chain
// learns its proxies and is replayed everything in order.
import type { XdsAckEvent, XdsNackEvent, XdsPushEvent, XdsServer } from "../xds/server.js";
import type { AuditStore } from "./audit.js";
import { systemClock, type Clock } from "./clock.js";

/**
 * An event's time on `clock`: events carry performance.now() (sub-ms, monotonic) besides a
 * whole-ms Date.now(); the chain compares stages a few ms apart, so the finer one is converted.
 */
function eventWallMs(clock: Clock, monotonicMs: number): number {
  return clock.nowMs() - (performance.now() - monotonicMs);
}

interface Translation {
  readonly causes: readonly string[];
  readonly atMs: number;
}

type Answer = { readonly event: XdsAckEvent | XdsNackEvent; readonly nack: boolean };

export class PushChainRecorder {
  /** Translations not yet in a push round. */
  private waiting: Translation[] = [];
  /** The round in progress, if it carries any enforcement. */
  private round: { translations: Translation[]; pushes: XdsPushEvent[]; answers: Answer[] } | undefined;
  private readonly detach: () => void;

  constructor(
    private readonly audit: AuditStore,
    xds: XdsServer,
    private readonly clock: Clock = systemClock,
  ) {
    const flushing = (): void => this.flushing();
    const flushed = (): void => this.flushed();
    const push = (e: XdsPushEvent): void => void this.round?.pushes.push(e);
    const ack = (e: XdsAckEvent): void => this.answer({ event: e, nack: false });
    const nack = (e: XdsNackEvent): void => this.answer({ event: e, nack: true });
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
    if (pushes) this.waiting.push({ causes, atMs });
    else this.audit.recordTranslation(causes, [], atMs);
  }

  private flushing(): void {
    if (this.waiting.length === 0) return;
    this.round = { translations: this.waiting, pushes: [], answers: [] };
    this.waiting = [];
  }

  private answer(a: Answer): void {
    if (this.round) this.round.answers.push(a);
    else this.recordAnswer(a);
  }

  private recordAnswer({ event: e, nack }: Answer): void {
    this.audit.recordAck({ proxyId: e.proxyId, typeUrl: e.typeUrl, nonce: e.nonce, atMs: eventWallMs(this.clock, e.timeMs), nack });
  }

  private flushed(): void {
    const round = this.round;
    if (round === undefined) return;
    this.round = undefined;
    const proxies = [...new Set(round.pushes.map((p) => p.proxyId))];
    const signalIds = round.translations.flatMap((t) => t.causes);
    for (const t of round.translations) this.audit.recordTranslation(t.causes, proxies, t.atMs);
    for (const p of round.pushes) {
      const first = p.first === true ? { first: true } : {};
      this.audit.recordPush({ signalIds, proxyId: p.proxyId, typeUrl: p.typeUrl, version: p.version, nonce: p.nonce, atMs: eventWallMs(this.clock, p.timeMs), ...first });
    }
    for (const a of round.answers) this.recordAnswer(a);
  }

  close(): void {
    this.detach();
  }
}
