// A container of a generated or injected pod spec run as a local process: its volume mounts become
// directories under a test directory, filled as the kubelet would fill them (the istio-ca-root-cert
// ConfigMap meshward publishes, a projected token), and its `$(VAR)` arguments are expanded.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { KubeClient } from "../../src/kube/client.js";
import { eventually } from "./eventually.js";

/** mountPath -> a fresh local directory for each of the container's volume mounts. */
export function localMounts(dir: string, volumeMounts: readonly { name: string; mountPath: string }[]): Map<string, string> {
  const mounts = new Map(volumeMounts.map((m) => [m.mountPath, join(dir, m.name)]));
  for (const p of mounts.values()) mkdirSync(p, { recursive: true });
  return mounts;
}

/** root-cert.pem of the istio-ca-root-cert ConfigMap, once meshward has published it in `namespace`. */
export function publishedRoot(client: KubeClient, namespace: string): Promise<string> {
  return eventually(`istio-ca-root-cert in ${namespace}`, async () => {
    try {
      return (await client.request<{ data: Record<string, string> }>("GET", `/api/v1/namespaces/${namespace}/configmaps/istio-ca-root-cert`)).data["root-cert.pem"];
    } catch {
      return undefined;
    }
  }, 60_000);
}

/** One argument with `$(VAR)` expanded from env and every `=<mountPath>` (or `=unix://<mountPath>`) prefix replaced by its local directory. */
export function localArg(arg: string, env: Readonly<Record<string, string>>, mounts: ReadonlyMap<string, string>): string {
  let out = arg.replace(/\$\(([A-Z_]+)\)/g, (_, n: string) => env[n] ?? "");
  // Longest mount path first, so /a/b is not taken for /a.
  for (const [path, local] of [...mounts].sort((x, y) => y[0].length - x[0].length)) out = out.replace(`=${path}`, `=${local}`).replace(`=unix://${path}`, `=unix://${local}`);
  return out;
}
