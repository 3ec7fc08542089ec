// The set of roots workloads trust: more than one during a root rotation or when clusters with
// different roots share a mesh. Consumers (SDS ROOTCA, the TLS port, the client-certificate
// authenticator) subscribe and are told whenever it changes.
import { X509Certificate } from "node:crypto";
import { splitCertificates } from "./pem.js";

export interface TrustAnchor {
  readonly pem: string;
  readonly certificate: X509Certificate;
}

export class TrustBundle {
  private readonly anchors = new Map<string, TrustAnchor>();
  private readonly listeners = new Set<() => void>();
  private generation = 0;

  constructor(pems: Iterable<string> = []) {
    for (const pem of pems) this.addQuietly(pem);
  }

  /** Increases on every change; lets consumers version what they derived from the bundle. */
  get version(): number {
    return this.generation;
  }

  /** Adds every certificate of a PEM bundle; returns how many were new. */
  add(pemBundle: string): number {
    const added = this.addQuietly(pemBundle);
    if (added > 0) this.changed();
    return added;
  }

  /** Removes a root by its SHA-256 fingerprint (as X509Certificate.fingerprint256 prints it). */
  remove(fingerprint256: string): boolean {
    const removed = this.anchors.delete(fingerprint256);
    if (removed) this.changed();
    return removed;
  }

  anchorsList(): TrustAnchor[] {
    return [...this.anchors.values()];
  }

  /** The bundle as one PEM document, roots in the order they were added. */
  pem(): string {
    return this.anchorsList().map((a) => a.pem).join("");
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private addQuietly(pemBundle: string): number {
    let added = 0;
    for (const pem of splitCertificates(pemBundle)) {
      const certificate = new X509Certificate(pem);
      if (!certificate.ca) throw new Error(`trust anchor ${certificate.subject} is not a CA certificate`);
      if (!this.anchors.has(certificate.fingerprint256)) {
        this.anchors.set(certificate.fingerprint256, { pem, certificate });
        added++;
      }
    }
    return added;
  }

  private changed(): void {
    this.generation++;
    for (const l of this.listeners) l();
  }
}
