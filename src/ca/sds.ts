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
// port from beyond loopback (security/plaintext-gate.ts: no bearer token, so no identity and no
// `default`, crosses a readable wire), and passes `identityOf` (the identity each stream authenticated
// as, from authorizeProxy); without it the identity is the Proxy's metadata, safe only once
// authorizeProxy has checked it.
import { create, toBinary } from "@bufbuild/protobuf";
import { createHash, generateKeyPairSync } from "node:crypto";
import { SecretSchema, type Secret } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { Proxy } from "../model/proxy.js";
import type { WorkloadIdentity } from "../security/identity.js";
import { TypeUrl, type EncodedResource, type ProxyChange, type ResourceProvider } from "../xds/types.js";
import type { CertificateAuthority } from "./authority.js";
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
  readonly onError?: (proxyId: string, e: Error) => void;
}

/**
 * Secrets per connected proxy. `resources` is synchronous (the ResourceProvider contract), so a
 * proxy's first request starts issuance and gets ROOTCA only; `default` follows as a change.
 * Each certificate is re-issued at half its lifetime, and every proxy is notified when the trust
 * bundle changes.
 */
export class SdsSecretProvider implements ResourceProvider {
  private readonly secrets = new Map<string, ProxySecret>();
  private readonly pending = new Set<string>();
  /** Bumped by forget/revoke so that an issuance already in flight for the proxy is discarded. */
  private readonly epochs = new Map<string, number>();
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
    const out = new Map<string, EncodedResource>();
    if (typeUrl !== TypeUrl.Secret) return out;
    out.set(ROOT_SECRET, this.root);
    const identity = this.opts.identityOf !== undefined ? this.opts.identityOf(proxy) : identityOf(this.ca, proxy);
    if (identity === undefined) return out;
    const held = this.secrets.get(proxy.id);
    if (held !== undefined && sameIdentity(held.identity, identity)) out.set(DEFAULT_SECRET, held.resource);
    else this.startIssuing(proxy.id, identity);
    return out;
  }

  onChange(listener: (change: ProxyChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Drops a disconnected proxy's key. */
  forget(proxyId: string): void {
    const held = this.secrets.get(proxyId);
    if (held !== undefined) clearTimeout(held.timer);
    this.secrets.delete(proxyId);
    if (this.pending.has(proxyId)) this.epochs.set(proxyId, (this.epochs.get(proxyId) ?? 0) + 1);
    else this.epochs.delete(proxyId);
  }

  /** Drops the secrets of matching proxies (a quarantine) and tells them; re-issuance consults the CA policy again. */
  revoke(matches: (identity: WorkloadIdentity) => boolean): void {
    const dropped = new Set<string>();
    for (const [id, s] of this.secrets) if (matches(s.identity)) dropped.add(id);
    for (const id of this.pending) dropped.add(id); // in flight: identity unknown here, so re-check all
    for (const id of dropped) this.forget(id);
    if (dropped.size > 0) this.emit({ all: false, affects: (p) => dropped.has(p.id) });
  }

  close(): void {
    this.unsubscribe();
    for (const id of [...this.secrets.keys()]) this.forget(id);
  }

  private startIssuing(proxyId: string, identity: WorkloadIdentity): void {
    if (this.pending.has(proxyId)) return;
    this.pending.add(proxyId);
    const epoch = this.epochs.get(proxyId) ?? 0;
    this.issue(identity).then(
      (resource) => {
        // Cleared before emitting, so a proxy that reacts to the change at once can start the next issuance.
        this.pending.delete(proxyId);
        if ((this.epochs.get(proxyId) ?? 0) !== epoch) return; // revoked or forgotten meanwhile
        const previous = this.secrets.get(proxyId);
        if (previous !== undefined) clearTimeout(previous.timer);
        const timer = setTimeout(() => this.startIssuing(proxyId, identity), resource.renewInMs);
        timer.unref();
        this.secrets.set(proxyId, { identity, resource: resource.encoded, timer });
        this.emit({ all: false, affects: (p) => p.id === proxyId });
      },
      (e: Error) => {
        this.pending.delete(proxyId);
        this.opts.onError?.(proxyId, e);
      },
    );
  }

  private async issue(identity: WorkloadIdentity): Promise<{ encoded: EncodedResource; renewInMs: number }> {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const issued = await this.ca.issue({ identity, csrPem: createCsr(privateKey, publicKey), ttlSeconds: this.opts.ttlSeconds });
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

function identityOf(ca: CertificateAuthority, proxy: Proxy): WorkloadIdentity {
  return { trustDomain: ca.trustDomain, namespace: proxy.namespace, serviceAccount: proxy.serviceAccount };
}

function sameIdentity(a: WorkloadIdentity, b: WorkloadIdentity): boolean {
  return a.trustDomain === b.trustDomain && a.namespace === b.namespace && a.serviceAccount === b.serviceAccount;
}
