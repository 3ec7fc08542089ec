// What istio-agent does for a proxyless gRPC pod: keep a key, certificate chain and roots on disk
// for the application's file_watcher certificate provider. The key is generated here and never
// leaves the pod; a fresh one is made at each renewal, at half the certificate's lifetime.
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { commitFiles, KEY_FILE_MODE, PUBLIC_FILE_MODE, stageFile } from "./atomic-file.js";
import type { CaClient } from "./ca-api.js";
import { createCsr } from "./csr-builder.js";
import { CERT_FILES } from "./grpc-bootstrap.js";
import { splitCertificates } from "./pem.js";
import { parseSpiffeId, uriSans } from "../security/certificate-authenticator.js";
import type { WorkloadIdentity } from "../security/identity.js";

export interface WorkloadAgentOptions {
  readonly outDir: string;
  readonly client: CaClient;
  /** Read for every request: projected tokens are rotated by the kubelet. */
  readonly token: () => Promise<string>;
  readonly ttlSeconds?: number;
  /** Roots to trust besides the one the CA returns (a root rotation in progress). */
  readonly extraRoots?: string;
  /** Awaited before renew() resolves (e.g. to write the bootstrap once an identity is known). */
  readonly onRenewed?: (r: RenewedCertificate) => void | Promise<void>;
  readonly onError?: (e: Error) => void;
}

export interface RenewedCertificate {
  readonly identity: WorkloadIdentity;
  readonly notAfter: Date;
  /** When the next renewal is due. */
  readonly renewAt: Date;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;

export class WorkloadCertificateAgent {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: WorkloadAgentOptions) {}

  /** Obtains a certificate and replaces the files. */
  async renew(): Promise<RenewedCertificate> {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const csrPem = createCsr(privateKey, publicKey);
    const chain = await this.opts.client.createCertificate({
      csrPem,
      ttlSeconds: this.opts.ttlSeconds,
      token: await this.opts.token(),
    });
    if (chain.length < 2) throw new Error(`CA returned ${chain.length} certificate(s); want leaf ... root`);
    const leaf = new X509Certificate(chain[0]);
    if (!leaf.checkPrivateKey(privateKey)) throw new Error("CA returned a certificate for a different key");
    const identity = parseSpiffeId(uriSans(leaf)[0] ?? "");
    if (identity === undefined) throw new Error("CA returned a certificate without a SPIFFE ID");
    await writeWorkloadFiles(this.opts.outDir, {
      chainPem: chain.slice(0, -1).join(""),
      keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      rootsPem: chain[chain.length - 1] + (this.opts.extraRoots ?? ""),
    });
    const notBefore = Date.now();
    const notAfter = new Date(leaf.validTo);
    const renewed = { identity, notAfter, renewAt: new Date(notBefore + (notAfter.getTime() - notBefore) / 2) };
    await this.opts.onRenewed?.(renewed);
    return renewed;
  }

  /** Renews now and then keeps renewing at half-life, retrying with backoff on failure. */
  start(): Promise<RenewedCertificate> {
    this.stopped = false;
    const first = this.renew();
    first.then(
      (r) => this.schedule(r.renewAt.getTime() - Date.now()),
      () => undefined, // the caller sees the first failure and decides
    );
    return first;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private schedule(delayMs: number, backoffMs?: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.renew().then(
        (r) => this.schedule(r.renewAt.getTime() - Date.now()),
        (e: Error) => {
          this.opts.onError?.(e);
          const next = Math.min(RETRY_MAX_MS, (backoffMs ?? RETRY_MIN_MS / 2) * 2);
          this.schedule(next, next);
        },
      );
    }, Math.max(0, delayMs));
  }
}

/**
 * Writes cert-chain.pem, key.pem (0600) and root-cert.pem (roots de-duplicated) into `outDir`. All
 * three are staged first and renamed back to back, key before chain, so the window in which a
 * reader could pair a new key with an old chain is a single rename.
 */
export async function writeWorkloadFiles(outDir: string, files: { chainPem: string; keyPem: string; rootsPem: string }): Promise<void> {
  await fs.mkdir(outDir, { recursive: true });
  const file = (n: string): string => path.join(outDir, n);
  const staged = [
    await stageFile(file(CERT_FILES.root), uniqueCertificates(splitCertificates(files.rootsPem)).join(""), PUBLIC_FILE_MODE),
    await stageFile(file(CERT_FILES.key), files.keyPem, KEY_FILE_MODE),
    await stageFile(file(CERT_FILES.chain), files.chainPem, PUBLIC_FILE_MODE),
  ];
  await commitFiles(staged);
}

function uniqueCertificates(pems: string[]): string[] {
  const seen = new Set<string>();
  return pems.filter((p) => {
    const fp = new X509Certificate(p).fingerprint256;
    if (seen.has(fp)) return false;
    seen.add(fp);
    return true;
  });
}
