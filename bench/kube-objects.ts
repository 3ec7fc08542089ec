// What the Kubernetes benchmarks share: a bounded pool for writing many objects to an apiserver,
// the EndpointSlice shape they write and then edit in place, and meshward started on a cluster.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startControlPlane, type ControlPlane, type KubernetesOptions } from "../src/mesh/control-plane.js";

/** Runs `work` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, work: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/** An EndpointSlice as the benchmarks write it (kept to edit: ready conditions, resourceVersion). */
export interface Slice {
  metadata: { name: string; resourceVersion?: string; labels: Record<string, string> };
  addressType: string;
  endpoints: { addresses: string[]; conditions: { ready: boolean }; targetRef: { kind: string; name: string; namespace: string } }[];
  ports: { name: string; port: number; protocol: string }[];
}

/**
 * meshward on a quiet mesh-config directory reading a cluster, as the Kubernetes benchmarks run it;
 * with the process's RSS before and after, and how long listing and the first snapshot took.
 */
export async function startKubeControlPlane(dir: string, kubernetes: KubernetesOptions): Promise<{ cp: ControlPlane; rssBase: number; rssSynced: number; syncMs: number }> {
  writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
  const rssBase = process.memoryUsage().rss;
  const sync0 = performance.now();
  const cp = await startControlPlane({ configDir: dir, xdsAddress: "127.0.0.1:0", monitoringAddress: "127.0.0.1:0", dataDir: join(dir, "data"), log: () => {}, kubernetes });
  return { cp, rssBase, rssSynced: process.memoryUsage().rss, syncMs: performance.now() - sync0 };
}
