// SDS over ADS for Envoy sidecars: `default` (the workload's key and chain) and `ROOTCA` (the trust
// bundle), as istio-agent serves them to Envoy.
//
// Who generates the private key: with istio-agent in the pod (Istio's layout) the agent generates
// it locally, calls our CSR API and serves SDS over a UDS; the key never leaves the pod, and that
// remains the recommended deployment. When meshward serves SDS over ADS directly, Envoy has no way
// to make a key or a CSR, so the control plane must: it generates a fresh ECDSA P-256 key per proxy
// and per rotation, keeps it in memory only (never on disk), and sends it only down that proxy's
// authenticated stream. This does not widen the trust placed in the control plane (a CA can mint
// any identity anyway), but it puts keys on the wire, so serve refuses every call on its plaintext
// port from beyond loopback (security/transport-gates.ts: no bearer token, so no identity and no
// `default`, crosses a readable wire), and passes `identityOf` (the identity each stream authenticated
// as, from authorizeProxy); without it the identity is the Proxy's metadata, safe only once
// authorizeProxy has checked it.
import { create, toBinary } from "@bufbuild/protobuf";
import { createHash, generateKeyPairSync } from "node:crypto";
import { SecretSchema, type Secret } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { Proxy } from "../model/proxy.js";
import { spiffeId, type CallerContext, type WorkloadIdentity } from "../security/identity.js";
import { TypeUrl, type EncodedResource, type ProxyChange, type ResourceProvider } from "../xds/types.js";
import { IssuanceError, type CertificateAuthority } from "./authority.js";
import { createCsr } from "./csr-builder.js";

export const DEFAULT_SECRET = "default";
export const ROOT_SECRET = "ROOTCA";

export function tlsCertificateSecret(name: string, chainPem: string, keyPem: string): Secret {
  return create(SecretSchema, {
    name,
    type: {
      case: "tlsCertificate",
      value: {
        certificateChain: { specifier: { case: "inlineBytes", value: Buffer.from(chainPem) } },
        privateKey: { specifier: { case: "inlineBytes", value: Buffer.from(keyPem) } },
      },
    },
  });
}

export function rootCaSecret(bundlePem: string): Secret {
  return create(SecretSchema, {
    name: ROOT_SECRET,
    type: { case: "validationContext", value: { trustedCa: { specifier: { case: "inlineBytes", value: Buffer.from(bundlePem) } } } },
  });
}

export function encodeSecret(secret: Secret): EncodedResource {
  const bytes = toBinary(SecretSchema, secret);
  return {
    typeUrl: TypeUrl.Secret,
    name: secret.name,
    version: createHash("sha256").update(bytes).digest("hex").slice(0, 16),
    bytes,
  };
}

interface ProxySecret {
  readonly proxy: Proxy;
  readonly identity: WorkloadIdentity;
  readonly resource: EncodedResource;
  readonly timer: NodeJS.Timeout;
}

export interface SdsProviderOptions {
  readonly ttlSeconds?: number;
  /**
   * The identity a proxy's stream authenticated as (from authorizeProxy), or undefined when it has
   * none: such a proxy gets ROOTCA only. Without this option the identity is read from the proxy's
   * node metadata, which is only safe behind authorizeProxy.
   */
  readonly identityOf?: (proxy: Proxy) => WorkloadIdentity | undefined;
  /**
   * How the proxy's stream called (peer, credentials, its pod): passed to the CA so that its
   * issuance policy (quarantine, revoke) judges SDS exactly as it judges the CSR API.
   */
  readonly callerOf?: (proxy: Proxy) => CallerContext | undefined;
  readonly onError?: (proxyId: string, e: Error) => void;
}

/** After a refusal (quarantine), how long before the same proxy and identity are tried again unasked. */
export const SDS_REFUSAL_RETRY_MS = 30_000;

/**
 * Secrets per connected proxy and identity: the key is (node id, identity), so a second workload
 * reusing a node id can neither receive nor displace the first one's secret. `resources` is
 * synchronous (the ResourceProvider contract), so a proxy's first request starts issuance and gets
 * ROOTCA only; `default` follows as a change. Each certificate is re-issued at half its lifetime,
 * and every proxy is notified when the trust bundle changes. A refused issuance (the CA's policy)
 * is not retried for SDS_REFUSAL_RETRY_MS unless reconsider() is called (a release).
 */
export class SdsSecretProvider implements ResourceProvider {
  private readonly secrets = new Map<string, ProxySecret>();
  private readonly pending = new Set<string>();
  /** Bumped by forget/revoke so that an issuance already in flight for the key is discarded. */
  private readonly epochs = new Map<string, number>();
  /** Key -> when the CA last refused it. */
  private readonly refused = new Map<string, { readonly proxyId: string; readonly atMs: number }>();
  private readonly listeners = new Set<(c: ProxyChange) => void>();
  private root: EncodedResource;
  private readonly unsubscribe: () => void;

  constructor(private readonly ca: CertificateAuthority, private readonly opts: SdsProviderOptions = {}) {
    this.root = encodeSecret(rootCaSecret(ca.bundle.pem()));
    this.unsubscribe = ca.bundle.onChange(() => {
      this.root = encodeSecret(rootCaSecret(ca.bundle.pem()));
      this.emit({ all: true });
    });
  }

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    return this.secretsOf(proxy, typeUrl, true);
  }

  /** The secrets held for the proxy right now; never starts an issuance (CSDS, config dumps). */
  held(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    return this.secretsOf(proxy, typeUrl, false);
  }

  private secretsOf(proxy: Proxy, typeUrl: TypeUrl, issue: boolean): ReadonlyMap<string, EncodedResource> {
    const out = new Map<string, EncodedResource>();
    if (typeUrl !== TypeUrl.Secret) return out;
    out.set(ROOT_SECRET, this.root);
    const identity = this.identityOf(proxy);
    if (identity === undefined) return out;
    const key = secretKey(proxy.id, identity);
    const held = this.secrets.get(key);
    if (held !== undefined) out.set(DEFAULT_SECRET, held.resource);
    else if (issue) this.startIssuing(key, proxy, identity);
    return out;
  }

  onChange(listener: (change: ProxyChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Drops a disconnected proxy's keys (for every identity it held). */
  forget(proxyId: string): void {
    for (const [key, held] of this.secrets) if (held.proxy.id === proxyId) this.drop(key);
    for (const key of this.pending) if (key.startsWith(`${proxyId}\n`)) this.drop(key);
    for (const [key, r] of this.refused) if (r.proxyId === proxyId) this.refused.delete(key);
  }

  /**
   * Withdraws the secrets of matching proxies (a quarantine or revoke) and tells them: their next
   * response carries no `default`, and re-issuance goes through the CA's policy again.
   */
  revoke(matches: (identity: WorkloadIdentity, proxy: Proxy) => boolean): void {
    const dropped = new Set<string>();
    for (const [key, s] of this.secrets) {
      if (!matches(s.identity, s.proxy)) continue;
      dropped.add(s.proxy.id);
      this.drop(key);
    }
    for (const key of [...this.pending]) this.drop(key); // in flight: re-check all against the policy
    if (dropped.size > 0) this.emit({ all: false, affects: (p) => dropped.has(p.id) });
  }

  /** The CA's policy may now allow what it refused (a release, an expiry): ask again at once. */
  reconsider(): void {
    const proxies = new Set([...this.refused.values()].map((r) => r.proxyId));
    this.refused.clear();
    if (proxies.size > 0) this.emit({ all: false, affects: (p) => proxies.has(p.id) });
  }

  close(): void {
    this.unsubscribe();
    for (const key of [...this.secrets.keys(), ...this.pending]) this.drop(key);
  }

  private identityOf(proxy: Proxy): WorkloadIdentity | undefined {
    return this.opts.identityOf !== undefined ? this.opts.identityOf(proxy) : identityOf(this.ca, proxy);
  }

  private drop(key: string): void {
    const held = this.secrets.get(key);
    if (held !== undefined) clearTimeout(held.timer);
    this.secrets.delete(key);
    if (this.pending.has(key)) this.epochs.set(key, (this.epochs.get(key) ?? 0) + 1);
    else this.epochs.delete(key);
  }

  private startIssuing(key: string, proxy: Proxy, identity: WorkloadIdentity): void {
    if (this.pending.has(key)) return;
    const refusedAt = this.refused.get(key)?.atMs;
    if (refusedAt !== undefined && Date.now() - refusedAt < SDS_REFUSAL_RETRY_MS) return;
    this.refused.delete(key);
    this.pending.add(key);
    const epoch = this.epochs.get(key) ?? 0;
    this.issue(proxy, identity).then(
      (resource) => {
        // Cleared before emitting, so a proxy that reacts to the change at once can start the next issuance.
        this.pending.delete(key);
        if ((this.epochs.get(key) ?? 0) !== epoch) {
          // Revoked or forgotten meanwhile: discarded, and the proxy (if still there) is asked
          // again, so its next issuance goes through the policy instead of never happening.
          this.emit({ all: false, affects: (p) => p.id === proxy.id });
          return;
        }
        const previous = this.secrets.get(key);
        if (previous !== undefined) clearTimeout(previous.timer);
        const timer = setTimeout(() => this.startIssuing(key, proxy, identity), resource.renewInMs);
        timer.unref();
        this.secrets.set(key, { proxy, identity, resource: resource.encoded, timer });
        this.emit({ all: false, affects: (p) => p.id === proxy.id });
      },
      (e: Error) => {
        this.pending.delete(key);
        if (e instanceof IssuanceError && e.code === "permission-denied") {
          this.refused.set(key, { proxyId: proxy.id, atMs: Date.now() });
          // A renewal refused: the certificate held so far is withdrawn as well.
          if (this.secrets.has(key)) {
            this.drop(key);
            this.emit({ all: false, affects: (p) => p.id === proxy.id });
          }
        }
        this.opts.onError?.(proxy.id, e);
      },
    );
  }

  private async issue(proxy: Proxy, identity: WorkloadIdentity): Promise<{ encoded: EncodedResource; renewInMs: number }> {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const caller = this.opts.callerOf?.(proxy);
    const issued = await this.ca.issue({
      identity,
      csrPem: createCsr(privateKey, publicKey),
      ttlSeconds: this.opts.ttlSeconds,
      ...(caller !== undefined ? { caller } : {}),
    });
    const chain = issued.certChain.slice(0, -1).join("");
    const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const now = Date.now();
    return {
      encoded: encodeSecret(tlsCertificateSecret(DEFAULT_SECRET, chain, keyPem)),
      renewInMs: Math.max(1000, (issued.notAfter.getTime() - now) / 2),
    };
  }

  private emit(change: ProxyChange): void {
    for (const l of this.listeners) l(change);
  }
}

function secretKey(proxyId: string, identity: WorkloadIdentity): string {
  return `${proxyId}\n${spiffeId(identity)}`;
}

function identityOf(ca: CertificateAuthority, proxy: Proxy): WorkloadIdentity {
  return { trustDomain: ca.trustDomain, namespace: proxy.namespace, serviceAccount: proxy.serviceAccount };
}
