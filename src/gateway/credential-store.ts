// Where a gateway server's `credentialName` is found: Kubernetes Secrets of the gateway's namespace
// (when the Kubernetes source runs: `tls.crt`/`tls.key`/`ca.crt`, or Istio's generic
// `cert`/`key`/`cacert`), or files before that, in a directory laid out
// `<dir>/<namespace>/<name>/{tls.crt,tls.key,ca.crt}` (`meshward serve --gateway-credentials`).
// The key material stays here, in memory: it never enters the model (so no digest, dump, debug
// page or log holds it), and only the SDS provider reads it (credentials.ts).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { readPrivateKeyFile } from "../security/private-files.js";

/** One credential: PEM strings; a CA-only credential has no key pair. */
export interface GatewayCredential {
  readonly namespace: string;
  readonly name: string;
  readonly certificateChain?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  /** Where it came from, for errors: the directory, or `k8s://<cluster>/v1/Secret ns/name`. */
  readonly origin: string;
}

/** Credentials by namespace and name, from any number of loaders; tells listeners what changed. */
export class GatewayCredentialStore {
  private readonly byKey = new Map<string, GatewayCredential>();
  private readonly listeners = new Set<(namespace: string, name: string) => void>();

  get(namespace: string, name: string): GatewayCredential | undefined {
    return this.byKey.get(`${namespace}/${name}`);
  }

  set(c: GatewayCredential): void {
    this.byKey.set(`${c.namespace}/${c.name}`, c);
    this.emit(c.namespace, c.name);
  }

  delete(namespace: string, name: string): void {
    if (this.byKey.delete(`${namespace}/${name}`)) this.emit(namespace, name);
  }

  /** Every credential whose origin starts with `prefix` (a loader's own), for replacing its set. */
  keysFrom(prefix: string): string[] {
    return [...this.byKey.entries()].filter(([, c]) => c.origin.startsWith(prefix)).map(([k]) => k);
  }

  onChange(listener: (namespace: string, name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(namespace: string, name: string): void {
    for (const l of this.listeners) l(namespace, name);
  }
}

/** Istio's names for the parts of a credential Secret: the TLS Secret keys, then the generic ones. */
const certKeys = ["tls.crt", "cert"];
const keyKeys = ["tls.key", "key"];
const caKeys = ["ca.crt", "cacert"];

function pick(data: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = data[k];
    if (v !== undefined && v !== "") return Buffer.from(v, "base64").toString("utf8");
  }
  return undefined;
}

/**
 * A Kubernetes Secret as a gateway credential (its `data` is base64, as the apiserver returns it);
 * undefined for Secrets that hold none of the parts (service-account tokens, docker configs).
 */
export function credentialFromSecret(secret: { metadata: { name: string; namespace?: string }; data?: unknown }, origin: string): GatewayCredential | undefined {
  const data = secret.data !== null && typeof secret.data === "object" ? (secret.data as Record<string, string>) : {};
  const certificateChain = pick(data, certKeys);
  const privateKey = pick(data, keyKeys);
  const caCertificates = pick(data, caKeys);
  if (certificateChain === undefined && caCertificates === undefined) return undefined;
  return {
    namespace: secret.metadata.namespace ?? "default",
    name: secret.metadata.name,
    ...(certificateChain !== undefined ? { certificateChain } : {}),
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(caCertificates !== undefined ? { caCertificates } : {}),
    origin,
  };
}

function readIfPresent(file: string): string | undefined {
  try {
    return statSync(file).isFile() ? readFileSync(file, "utf8") : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads `<dir>/<namespace>/<name>/{tls.crt,tls.key,ca.crt}` into the store, replacing what an
 * earlier read of the same directory put there. A private key must be a regular file of this
 * process's user with no access for group or others (0600), never a link: anything else is an
 * error naming the file, and that credential is left out. Returns the errors.
 */
export async function loadCredentialDirectory(store: GatewayCredentialStore, dir: string): Promise<string[]> {
  const errors: string[] = [];
  const seen = new Set<string>();
  const entries = (d: string): string[] => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const namespace of entries(dir)) {
    for (const name of entries(join(dir, namespace))) {
      const at = join(dir, namespace, name);
      const certificateChain = readIfPresent(join(at, "tls.crt"));
      const caCertificates = readIfPresent(join(at, "ca.crt"));
      let privateKey: string | undefined;
      if (existsSync(join(at, "tls.key")) || certificateChain !== undefined) {
        try {
          privateKey = await readPrivateKeyFile(join(at, "tls.key"));
        } catch (e) {
          errors.push(`gateway credential ${namespace}/${name}: ${(e as Error).message}`);
          continue;
        }
      }
      if (certificateChain === undefined && caCertificates === undefined) {
        errors.push(`gateway credential ${namespace}/${name}: ${at} holds neither tls.crt nor ca.crt`);
        continue;
      }
      seen.add(`${namespace}/${name}`);
      store.set({ namespace, name, ...(certificateChain ? { certificateChain } : {}), ...(privateKey ? { privateKey } : {}), ...(caCertificates ? { caCertificates } : {}), origin: `${dir}/` });
    }
  }
  for (const key of store.keysFrom(`${dir}/`)) {
    if (seen.has(key)) continue;
    const [namespace = "", name = ""] = key.split("/");
    store.delete(namespace, name);
  }
  return errors;
}
