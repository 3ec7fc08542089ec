// The agent's certificates for the pods on its node: a key generated here (it never leaves the
// node), a CSR sent to the control plane's CA as the node (ImpersonatedIdentity), a re-issue with a
// fresh key at half the lifetime, and every subscriber (a pod's SDS and Workload API streams) told
// of the new certificate without reconnecting.
//
// The identity cut lives here too: a cut pod's certificate and key are dropped, its rotation stops,
// and nothing more is served to it. A cut comes from the agent's own detection (at once, before the
// control plane has decided anything) or from the CA refusing the pod (a control-plane quarantine).
// It is lifted by `release`, or when the CA grants the pod a certificate again after the hold time
// (the control plane had time to quarantine it and has released it, or chose not to).
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { createCsr } from "../../ca/csr-builder.js";
import { CERTIFICATE, pemDecodeAll } from "../../ca/pem.js";
import { spiffeId, type WorkloadIdentity } from "../../security/identity.js";
import type { PodInfo } from "../attribution/pod-directory.js";

export interface PodSvid {
  readonly podUid: string;
  readonly spiffeId: string;
  /** PKCS#8 private key, PEM and DER. */
  readonly keyPem: string;
  readonly keyDer: Buffer;
  /** Leaf first, then intermediates (no root), PEM and concatenated DER. */
  readonly chainPem: string;
  readonly chainDer: Buffer;
  /** The trust domain's roots, PEM and concatenated DER. */
  readonly bundlePem: string;
  readonly bundleDer: Buffer;
  readonly notAfter: Date;
  /** Increases with every certificate this agent obtained (for SDS versions). */
  readonly serial: number;
}

/** Asks the CA for a pod's certificate; resolves with the chain leaf ... root. */
export interface PodCertificateIssuer {
  issue(pod: PodInfo, identity: WorkloadIdentity, csrPem: string, ttlSeconds?: number): Promise<string[]>;
}

/** Thrown (and given to streams) for a pod whose identity is cut. */
export class IdentityCutError extends Error {}

/** Whether an issuance error is the CA refusing this pod (as opposed to being unreachable). */
export type RefusalTest = (e: Error) => boolean;

export interface PodCertificatesOptions {
  readonly issuer: PodCertificateIssuer;
  readonly trustDomain: string;
  /** Requested lifetime; absent: the CA's default (24 h). */
  readonly ttlSeconds?: number;
  readonly isRefusal: RefusalTest;
  /** How long a cut holds before the CA is asked again (default 30 s). */
  readonly cutHoldMs?: number;
  /**
   * Re-issue at least this often (default: only at half the lifetime), so that a control-plane
   * quarantine the agent did not detect itself reaches the node within it: one CA signature per
   * pod per interval.
   */
  readonly recheckMs?: number;
  /** Whether the pod is still on the node; one that is not is forgotten at its next renewal or re-check. */
  readonly stillPlaced?: (podUid: string) => boolean;
  readonly log?: (msg: string) => void;
}

export const DEFAULT_CUT_HOLD_MS = 30_000;
/** Cuts of pods the agent does not know (detections come from every kubepods cgroup) are kept up to this many. */
const MAX_UNPLACED_CUTS = 4096;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

interface Held {
  readonly pod: PodInfo;
  readonly identity: WorkloadIdentity;
  svid: PodSvid;
  timer: NodeJS.Timeout;
}

interface Cut {
  /** Unknown when the detection named a pod the agent had not placed yet. */
  pod?: PodInfo;
  readonly reason: string;
  /** The control plane withholds the pod's identity too: its release lifts the cut. */
  byControlPlane: boolean;
  readonly sinceMs: number;
  timer?: NodeJS.Timeout;
}

export type PodIdentityEvent =
  | { readonly kind: "rotated"; readonly svid: PodSvid }
  | { readonly kind: "cut"; readonly reason: string }
  | { readonly kind: "restored"; readonly svid: PodSvid };

export class PodCertificates {
  private readonly held = new Map<string, Held>();
  private readonly pending = new Map<string, Promise<PodSvid>>();
  private readonly cuts = new Map<string, Cut>();
  private readonly listeners = new Map<string, Set<(e: PodIdentityEvent) => void>>();
  /** Bumped by cut/forget so an issuance in flight for the pod is discarded. */
  private readonly epochs = new Map<string, number>();
  private serial = 0;
  private closed = false;

  constructor(private readonly opts: PodCertificatesOptions) {}

  /** The pod's current certificate, issuing one if there is none. Throws IdentityCutError for a cut pod. */
  async get(pod: PodInfo): Promise<PodSvid> {
    const identity = this.identityOf(pod);
    const cut = this.cuts.get(pod.uid);
    if (cut !== undefined && cut.pod === undefined) {
      // Cut before the agent knew the pod: from now on the CA is asked about it after the hold.
      cut.pod = pod;
      if (!cut.byControlPlane) this.scheduleRecheck(pod.uid, this.opts.cutHoldMs ?? DEFAULT_CUT_HOLD_MS);
    }
    if (cut !== undefined) throw new IdentityCutError(`identity of pod ${pod.namespace}/${pod.name} is cut: ${cut.reason}`);
    const held = this.held.get(pod.uid);
    if (held !== undefined && spiffeId(held.identity) === spiffeId(identity)) return held.svid;
    return this.issue(pod, identity);
  }

  /** Why the pod's identity is cut, or undefined. */
  cutReason(podUid: string): string | undefined {
    return this.cuts.get(podUid)?.reason;
  }

  subscribe(podUid: string, listener: (e: PodIdentityEvent) => void): () => void {
    let set = this.listeners.get(podUid);
    if (set === undefined) this.listeners.set(podUid, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(podUid);
    };
  }

  /**
   * Cuts the pod's identity now: key and certificate dropped, subscribers told, nothing served until
   * released. `byControlPlane`: the control plane withholds it (lifted by its release).
   */
  cut(podUid: string, reason: string, pod?: PodInfo, byControlPlane = false): void {
    const existing = this.cuts.get(podUid);
    if (existing !== undefined) {
      if (byControlPlane) existing.byControlPlane = true;
      return;
    }
    const held = this.held.get(podUid);
    if (held !== undefined) clearTimeout(held.timer);
    this.held.delete(podUid);
    this.bumpEpoch(podUid);
    const known = pod ?? held?.pod;
    const cut: Cut = { reason, sinceMs: Date.now(), byControlPlane, ...(known ? { pod: known } : {}) };
    if (known === undefined) this.boundUnplacedCuts();
    this.cuts.set(podUid, cut);
    this.opts.log?.(`identity of pod ${known ? `${known.namespace}/${known.name}` : podUid} cut: ${reason}`);
    this.emit(podUid, { kind: "cut", reason });
    // The control plane says when it releases; the CA is not asked in the meantime.
    if (!byControlPlane) this.scheduleRecheck(podUid, this.opts.cutHoldMs ?? DEFAULT_CUT_HOLD_MS);
  }

  /** Pods cut because the control plane withholds their identity. */
  cutByControlPlane(): string[] {
    return [...this.cuts].filter(([, c]) => c.byControlPlane).map(([uid]) => uid);
  }

  /** Forgets the oldest cut of an unknown pod once there are too many (a pod the agent serves is never dropped). */
  private boundUnplacedCuts(): void {
    let unplaced = 0;
    let oldest: string | undefined;
    for (const [uid, c] of this.cuts) {
      if (c.pod !== undefined) continue;
      unplaced++;
      oldest ??= uid;
    }
    if (unplaced >= MAX_UNPLACED_CUTS && oldest !== undefined) this.cuts.delete(oldest);
  }

  /** Lifts a cut at once (an operator's release on the node). */
  release(podUid: string): boolean {
    const cut = this.cuts.get(podUid);
    if (cut === undefined) return false;
    if (cut.timer !== undefined) clearTimeout(cut.timer);
    this.cuts.delete(podUid);
    this.opts.log?.(`identity of pod ${podUid} released`);
    return true;
  }

  /** The pod is gone from the node: drop everything about it. */
  forget(podUid: string): void {
    const held = this.held.get(podUid);
    if (held !== undefined) clearTimeout(held.timer);
    this.held.delete(podUid);
    const cut = this.cuts.get(podUid);
    if (cut?.timer !== undefined) clearTimeout(cut.timer);
    this.cuts.delete(podUid);
    this.bumpEpoch(podUid);
  }

  /** Pods with a certificate now. */
  heldPods(): string[] {
    return [...this.held.keys()];
  }

  /** Re-issues every held certificate now (for the rotation benchmark); resolves when all are done. */
  async rotateAll(): Promise<number> {
    const all = [...this.held.values()];
    await Promise.all(all.map((h) => this.issue(h.pod, h.identity, true)));
    return all.length;
  }

  close(): void {
    this.closed = true;
    for (const h of this.held.values()) clearTimeout(h.timer);
    for (const c of this.cuts.values()) if (c.timer !== undefined) clearTimeout(c.timer);
    this.held.clear();
  }

  identityOf(pod: PodInfo): WorkloadIdentity {
    return { trustDomain: this.opts.trustDomain, namespace: pod.namespace, serviceAccount: pod.serviceAccount };
  }

  private bumpEpoch(podUid: string): void {
    this.epochs.set(podUid, (this.epochs.get(podUid) ?? 0) + 1);
  }

  private issue(pod: PodInfo, identity: WorkloadIdentity, force = false): Promise<PodSvid> {
    const inflight = this.pending.get(pod.uid);
    if (inflight !== undefined && !force) return inflight;
    const epoch = this.epochs.get(pod.uid) ?? 0;
    const p = this.obtain(pod, identity).then(
      (svid) => {
        this.pending.delete(pod.uid);
        if ((this.epochs.get(pod.uid) ?? 0) !== epoch || this.closed) throw new IdentityCutError(`identity of pod ${pod.namespace}/${pod.name} was cut while its certificate was issued`);
        const previous = this.held.get(pod.uid);
        if (previous !== undefined) clearTimeout(previous.timer);
        this.held.set(pod.uid, { pod, identity, svid, timer: this.rotationTimer(pod.uid, svid) });
        if (previous !== undefined) this.emit(pod.uid, { kind: "rotated", svid });
        return svid;
      },
      (e: Error) => {
        this.pending.delete(pod.uid);
        if (this.opts.isRefusal(e) && (this.epochs.get(pod.uid) ?? 0) === epoch) this.cut(pod.uid, `the CA refused: ${e.message}`, pod);
        throw e;
      },
    );
    this.pending.set(pod.uid, p);
    return p;
  }

  private async obtain(pod: PodInfo, identity: WorkloadIdentity): Promise<PodSvid> {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const chain = await this.opts.issuer.issue(pod, identity, createCsr(privateKey, publicKey, spiffeId(identity)), this.opts.ttlSeconds);
    if (chain.length < 2) throw new Error(`CA returned ${chain.length} certificate(s); want leaf ... root`);
    const leaf = new X509Certificate(chain[0]);
    if (!leaf.checkPrivateKey(privateKey)) throw new Error("CA returned a certificate for a different key");
    const want = `URI:${spiffeId(identity)}`;
    if (leaf.subjectAltName !== want) throw new Error(`CA returned ${leaf.subjectAltName ?? "no SAN"}, want ${want}`);
    const chainPem = chain.slice(0, -1).join("");
    const bundlePem = chain[chain.length - 1];
    return {
      podUid: pod.uid,
      spiffeId: spiffeId(identity),
      keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      keyDer: privateKey.export({ type: "pkcs8", format: "der" }),
      chainPem,
      chainDer: Buffer.concat(pemDecodeAll(chainPem, [CERTIFICATE])),
      bundlePem,
      bundleDer: Buffer.concat(pemDecodeAll(bundlePem, [CERTIFICATE])),
      notAfter: new Date(leaf.validTo),
      serial: ++this.serial,
    };
  }

  /** Re-issues at half the remaining lifetime; on failure retries with backoff while the old one is valid. */
  private rotationTimer(podUid: string, svid: PodSvid, backoffMs?: number): NodeJS.Timeout {
    const halfLife = Math.max(RETRY_MIN_MS, (svid.notAfter.getTime() - Date.now()) / 2);
    const delay = backoffMs ?? Math.min(halfLife, Math.max(RETRY_MIN_MS, this.opts.recheckMs ?? halfLife));
    const timer = setTimeout(() => {
      const held = this.held.get(podUid);
      if (held === undefined || this.closed) return;
      if (this.opts.stillPlaced?.(podUid) === false) return this.forget(podUid);
      this.issue(held.pod, held.identity, true).catch((e: Error) => {
        const still = this.held.get(podUid);
        if (still === undefined) return; // cut (refused) or forgotten
        this.opts.log?.(`renewing the certificate of pod ${held.pod.namespace}/${held.pod.name} failed: ${e.message}`);
        const next = Math.min(RETRY_MAX_MS, (backoffMs ?? RETRY_MIN_MS / 2) * 2);
        still.timer = this.rotationTimer(podUid, still.svid, next);
      });
    }, delay);
    timer.unref();
    return timer;
  }

  /** After the hold, asks the CA for the cut pod again; a certificate lifts the cut. */
  private scheduleRecheck(podUid: string, delayMs: number): void {
    const cut = this.cuts.get(podUid);
    if (cut === undefined || cut.pod === undefined || this.closed) return;
    const pod = cut.pod;
    const identity = this.identityOf(pod);
    cut.timer = setTimeout(() => {
      if (this.cuts.get(podUid) !== cut) return;
      if (this.opts.stillPlaced?.(podUid) === false) return this.forget(podUid);
      const epoch = this.epochs.get(podUid) ?? 0;
      this.obtain(pod, identity).then(
        (svid) => {
          if (this.cuts.get(podUid) !== cut || (this.epochs.get(podUid) ?? 0) !== epoch || this.closed) return;
          this.cuts.delete(podUid);
          this.held.set(podUid, { pod, identity, svid, timer: this.rotationTimer(podUid, svid) });
          this.opts.log?.(`identity of pod ${pod.namespace}/${pod.name} restored: the CA issues to it again`);
          this.emit(podUid, { kind: "restored", svid });
        },
        () => this.scheduleRecheck(podUid, Math.min(RETRY_MAX_MS, delayMs * 2)),
      );
    }, delayMs);
    cut.timer.unref();
  }

  private emit(podUid: string, e: PodIdentityEvent): void {
    for (const l of [...(this.listeners.get(podUid) ?? [])]) l(e);
  }
}
