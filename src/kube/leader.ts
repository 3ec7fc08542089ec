// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it (which
// istiod uses): every replica serves xDS and the CA, but work that must happen once (the
// istio-ca-root-cert ConfigMaps, status writing, WorkloadEnforcement clean-up) runs only while this
// replica holds the Lease.
//
// Rules (client-go's): a Lease is free when it has no holder or when its holder has not renewed it
// for leaseDurationSeconds as observed on *our* clock (we time from the moment we saw its
// resourceVersion change, never from the remote renewTime, so clock skew between replicas does not
// matter). Takeover and renewal are replaces with the resourceVersion read, so two candidates can
// never both win (the apiserver answers 409 to the loser). A holder that cannot renew within
// renewDeadline steps down before anyone else may take over; a holder that stops cleanly clears
// holderIdentity so the next candidate need not wait out the lease.
//
// The Lease is read and written as plain JSON through the generic object API: client-node 1.4's
// typed Lease model has no serializer for MicroTime.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { EventEmitter } from "node:events";
import { apiStatus, isConflict, isNotFound } from "./api-errors.js";

/** Stated timings, client-go's defaults halved where istiod's ttl is 30 s: lease 30 s, renew deadline 15 s, retry 5 s. */
export const DEFAULT_LEASE_DURATION_MS = 30_000;
export const DEFAULT_RENEW_DEADLINE_MS = 15_000;
export const DEFAULT_RETRY_PERIOD_MS = 5_000;
export const DEFAULT_LEASE_NAME = "meshward-leader";

export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** This replica's name in holderIdentity (istiod uses its pod name). */
  readonly identity: string;
  readonly leaseName?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly log?: (line: string) => void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface LeaseObject {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** MicroTime as the apiserver parses it (RFC 3339 with exactly six fractional digits). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

const GROUP = "coordination.k8s.io";
const VERSION = "v1";
const PLURAL = "leases";

/**
 * Emits `leading` when this replica becomes the holder and `stopped-leading` when it stops being
 * it (lost renewal, taken over, or stop()).
 */
export class LeaderElector extends EventEmitter<{ leading: []; "stopped-leading": [] }> {
  private readonly api: CustomObjectsApi;
  private readonly name: string;
  private readonly durationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly log: (line: string) => void;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private leading = false;
  /** The Lease's resourceVersion as last seen, and when (our clock) we saw it change. */
  private observedVersion = "";
  private observedAtMs = 0;
  private lastRenewMs = 0;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LeaderElectionOptions) {
    super();
    this.api = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.name = opts.leaseName ?? DEFAULT_LEASE_NAME;
    this.durationMs = opts.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.retryMs = opts.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    if (!(this.renewDeadlineMs < this.durationMs)) throw new Error(`leader election: renew deadline ${this.renewDeadlineMs} ms must be shorter than the lease duration ${this.durationMs} ms`);
    if (!(this.retryMs < this.renewDeadlineMs)) throw new Error(`leader election: retry period ${this.retryMs} ms must be shorter than the renew deadline ${this.renewDeadlineMs} ms`);
    this.log = opts.log ?? (() => undefined);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get leaseName(): string {
    return `${this.opts.namespace}/${this.name}`;
  }

  get identity(): string {
    return this.opts.identity;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /**
   * Stops campaigning; a holder clears holderIdentity so another replica takes over at once.
   * `release: false` leaves the Lease as a crashed replica would (others wait out its duration).
   */
  async stop(opts: { readonly release?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (!this.leading) return;
    this.setLeading(false);
    if (opts.release === false) return;
    const release = async (): Promise<void> => {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity !== this.opts.identity) return;
      const spec: LeaseSpec = { ...lease.spec, leaseDurationSeconds: 1, renewTime: microTime(Date.now()) };
      delete spec.holderIdentity;
      await this.replace({ ...lease, spec });
    };
    try {
      // Shutting down never waits on an apiserver that does not answer: the Lease then just expires.
      await this.withinDeadline(release(), this.renewDeadlineMs);
    } catch (e) {
      this.log(`meshward leader: releasing Lease ${this.opts.namespace}/${this.name}: ${(e as Error).message}`);
    }
  }

  /** `work`, or a rejection once `budgetMs` has passed without its answer. */
  private async withinDeadline<T>(work: Promise<T>, budgetMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${budgetMs} ms`)), budgetMs);
      timer.unref();
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.tryAcquireOrRenew().finally(() => this.schedule(this.retryMs));
    }, ms);
    this.timer.unref();
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return;
    this.leading = v;
    this.log(`meshward leader: ${this.opts.identity} ${v ? "now holds" : "no longer holds"} Lease ${this.opts.namespace}/${this.name}`);
    this.emit(v ? "leading" : "stopped-leading");
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = Date.now();
    // A request must not outlive the renew deadline (an apiserver that accepts connections but does
    // not answer, as one starting up does): a holder would keep leading on a Lease it cannot renew.
    const budgetMs = this.leading ? Math.max(0, this.lastRenewMs + this.renewDeadlineMs - now) : this.renewDeadlineMs;
    try {
      const won = await this.withinDeadline(this.attempt(now), budgetMs);
      if (!this.running) return;
      if (won) this.lastRenewMs = now;
      this.setLeading(won);
    } catch (e) {
      this.log(`meshward leader: Lease ${this.opts.namespace}/${this.name}: ${(e as Error).message}`);
      // Keep leading through short apiserver trouble, never past the renew deadline: another
      // replica may take over once the lease duration (longer) has passed.
      if (this.leading && Date.now() - this.lastRenewMs >= this.renewDeadlineMs) this.setLeading(false);
    }
  }

  /** One round: true if we hold the Lease afterwards. */
  private async attempt(now: number): Promise<boolean> {
    const lease = await this.read();
    const mine: LeaseSpec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.durationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (lease === undefined) {
      try {
        await this.api.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: this.opts.namespace,
          plural: PLURAL,
          body: { apiVersion: `${GROUP}/${VERSION}`, kind: "Lease", metadata: { name: this.name, namespace: this.opts.namespace }, spec: mine },
        });
        return true;
      } catch (e) {
        if (isConflict(e)) return false; // another replica created it first
        throw e;
      }
    }
    const version = lease.metadata.resourceVersion ?? "";
    if (version !== this.observedVersion) {
      this.observedVersion = version;
      this.observedAtMs = now;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const heldByMe = holder === this.opts.identity;
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (!heldByMe && holder !== "" && this.observedAtMs + durationMs > now) return false;
    const next: LeaseSpec = heldByMe
      ? { ...spec, renewTime: mine.renewTime, leaseDurationSeconds: mine.leaseDurationSeconds }
      : { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + (holder !== "" || spec.acquireTime !== undefined ? 1 : 0) };
    try {
      const updated = await this.replace({ ...lease, spec: next });
      this.observedVersion = updated.metadata.resourceVersion ?? "";
      this.observedAtMs = now;
      return true;
    } catch (e) {
      if (isConflict(e)) return false; // someone else wrote it between our read and our write
      throw e;
    }
  }

  private async read(): Promise<LeaseObject | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.opts.namespace, plural: PLURAL, name: this.name })) as LeaseObject;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw new Error(`reading Lease ${this.opts.namespace}/${this.name}: ${apiStatus(e)}`);
    }
  }

  private async replace(lease: LeaseObject): Promise<LeaseObject> {
    return (await this.api.replaceNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: this.opts.namespace,
      plural: PLURAL,
      name: this.name,
      body: lease,
    })) as LeaseObject;
  }
}
