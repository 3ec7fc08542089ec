// A plugged-in `cacerts` directory is read again when it changes, as istiod does: a new
// intermediate, or a step of a root rotation (root-cert.pem old+new, then the new signer, then new
// alone), takes effect without a restart. The files are compared by content every `intervalMs`
// (a Kubernetes Secret mount changes by symlink swaps that file watches miss). A bundle that does
// not load (a key that does not match, a chain that ends at no root, files caught mid-update) is
// logged and the last good one keeps signing.
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { CertificateAuthority } from "./authority.js";
import { CACERTS_FILES, loadCacerts } from "./signer-store.js";

/** How often a plugged-in cacerts directory is read for changes (`--cacerts-poll`). */
export const DEFAULT_CACERTS_POLL_MS = 5_000;

async function digestOf(dir: string): Promise<string> {
  const h = createHash("sha256");
  for (const f of Object.values(CACERTS_FILES)) h.update(f).update(await fs.readFile(path.join(dir, f)).catch(() => Buffer.alloc(0)));
  return h.digest("hex");
}

export class CacertsReloader {
  private timer: NodeJS.Timeout | undefined;
  private last = "";
  private busy = false;
  /** Reloads that took effect (for tests and /debug). */
  reloads = 0;

  constructor(
    private readonly dir: string,
    private readonly ca: CertificateAuthority,
    private readonly log: (line: string) => void,
    private readonly intervalMs = DEFAULT_CACERTS_POLL_MS,
  ) {}

  async start(): Promise<void> {
    this.last = await digestOf(this.dir);
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Reads the directory now; reloads when it changed. */
  async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const digest = await digestOf(this.dir);
      if (digest === this.last) return;
      const signer = await loadCacerts(this.dir).catch((e: Error) => e);
      if (signer instanceof Error) {
        this.log(`meshward ca: ${this.dir} changed but does not load (${signer.message}); still signing with ${this.ca.signingCertificate.subject.replace(/\n/g, ", ")}`);
        return;
      }
      this.last = digest;
      this.ca.rotate(signer);
      this.reloads++;
      this.log(`meshward ca: ${this.dir} reloaded: signing with ${signer.certificate.subject.replace(/\n/g, ", ")}, ${signer.roots.length} root(s) trusted`);
    } finally {
      this.busy = false;
    }
  }
}
