// Kubernetes churn benchmark: N pods behind S Services (one EndpointSlice each) in a real
// kube-apiserver + etcd, meshward reading them through its Kubernetes source, M simulated Envoy
// sidecars (bench/xds-push-client.ts workers) connected; then R object changes per second for D
// seconds, alternating an EndpointSlice change (one endpoint's ready condition flipped) and a Pod
// change (a label that every endpoint carries). Each change's convergence is measured per sidecar,
// from the write to the apiserver to that sidecar's ACK of an EDS response for the changed Service
// pushed after meshward's model reflected the change (every sidecar sees every Service, so every
// sidecar is affected by every change).
// Usage: npm run bench:k8s-churn -- --pods N --rate R [--services S] [--sidecars M] [--seconds D]
// Prints figures; the last line is one JSON object. Never pass/fail on time.
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeClient } from "../src/kube/client.js";
import { TypeUrl } from "../src/xds/types.js";
import type { MeshSnapshot } from "../src/model/snapshot.js";
import { kubeApiserverBinaries, startKubeApiserver } from "../test/support/kube-apiserver.js";
import { intFlag } from "./args.js";
import { percentile } from "./stats.js";
import { pool, startKubeControlPlane, type Slice } from "./kube-objects.js";

const pods = intFlag("pods", 1000);
const rate = intFlag("rate", 100);
const services = intFlag("services", Math.max(1, Math.ceil(pods / 100)));
const sidecars = intFlag("sidecars", 50);
const seconds = intFlag("seconds", 20);
const NS = "churn";
const round = (x: number): number => Math.round(x * 10) / 10;
const host = (s: number): string => `svc-${s}.${NS}.svc.cluster.local`;
const cluster = (s: number): string => `outbound|80||${host(s)}`;
const podIp = (i: number): string => `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const podName = (i: number): string => `pod-${i}`;
const serviceOf = (i: number): number => i % services;



/** A change waiting to be seen: in the model (`reflected`), then in every sidecar's ACK. */
interface Change {
  readonly t0: number;
  readonly service: number;
  readonly seen: (s: MeshSnapshot) => boolean;
  reflectedAt?: number;
  readonly acked: Map<string, number>;
}

async function main(): Promise<void> {
  const b = kubeApiserverBinaries();
  if ("skip" in b) throw new Error(b.skip);
  const kas = startKubeApiserver();
  const dir = mkdtempSync(join(tmpdir(), "meshward-k8s-churn-"));
  const children: ChildProcess[] = [];
  try {
    const client = new KubeClient({ kubeconfig: kas.kubeconfig });
    const setup0 = performance.now();
    await client.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
    await pool([...Array(services).keys()], 8, (s) =>
      client.request("POST", `/api/v1/namespaces/${NS}/services`, { apiVersion: "v1", kind: "Service", metadata: { name: `svc-${s}` }, spec: { selector: { app: `svc-${s}` }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } }),
    );
    await pool([...Array(pods).keys()], 32, async (i) => {
      const created = await client.request<Record<string, unknown>>("POST", `/api/v1/namespaces/${NS}/pods`, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: podName(i), labels: { app: `svc-${serviceOf(i)}`, rev: "0" } },
        spec: { serviceAccountName: `svc-${serviceOf(i)}`, containers: [{ name: "app", image: "app", ports: [{ name: "http", containerPort: 8080 }] }] },
      });
      await client.request("PUT", `/api/v1/namespaces/${NS}/pods/${podName(i)}/status`, { ...created, status: { phase: "Running", podIP: podIp(i), podIPs: [{ ip: podIp(i) }] } });
    });
    const slices: Slice[] = [];
    for (let s = 0; s < services; s++) {
      const members = [...Array(pods).keys()].filter((i) => serviceOf(i) === s);
      slices.push({
        metadata: { name: `svc-${s}-abc`, labels: { "kubernetes.io/service-name": `svc-${s}` } },
        addressType: "IPv4",
        endpoints: members.map((i) => ({ addresses: [podIp(i)], conditions: { ready: true }, targetRef: { kind: "Pod", name: podName(i), namespace: NS } })),
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      });
    }
    await pool(slices, 8, async (slice) => {
      const created = await client.request<Slice>("POST", `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", ...slice });
      slice.metadata.resourceVersion = created.metadata.resourceVersion;
    });
    console.log(`k8s-churn: ${pods} pods behind ${services} Services written to the apiserver in ${round((performance.now() - setup0) / 1000)} s`);

    const { cp, rssBase, rssSynced, syncMs } = await startKubeControlPlane(dir, { kubeconfig: kas.kubeconfig });
    console.log(
      `k8s-churn: meshward listed the cluster and built its first snapshot in ${round(syncMs / 1000)} s; ` +
        `RSS ${rssSynced} bytes, ${Math.round((rssSynced - rssBase) / pods)} bytes per pod over the ${rssBase} before`,
    );

    // Sidecars: the push benchmark's workers (one ADS stream each, Envoy's subscriptions, every response ACKed).
    const script = fileURLToPath(new URL("./xds-push-client.js", import.meta.url));
    const workers = Math.min(4, sidecars);
    const per = Math.ceil(sidecars / workers);
    await new Promise<void>((resolve) => {
      const synced = new Map<ChildProcess, number>();
      for (let w = 0; w < workers; w++) {
        const count = Math.min(per, sidecars - w * per);
        if (count <= 0) continue;
        const child = fork(script, [cp.xdsAddress, String(w * per), String(count), "1"], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
        children.push(child);
        child.on("message", (m: { synced?: number; error?: string }) => {
          if (m.error !== undefined) console.error(`k8s-churn: sidecar: ${m.error}`);
          if (m.synced === undefined) return;
          synced.set(child, m.synced);
          if ([...synced.values()].reduce((a, x) => a + x, 0) >= sidecars) resolve();
        });
      }
    });
    console.log(`k8s-churn: ${sidecars} sidecars synced`);

    const pending: Change[] = [];
    const done: Change[] = [];
    const proxies = new Set<string>();
    cp.xds.on("connect", (s) => proxies.add(s.proxyId));
    for (const p of cp.xds.proxies()) proxies.add(p.id);
    const byHost = (s: MeshSnapshot, h: string) => s.services.find((x) => x.hostname === h);
    cp.provider.onChange(() => {
      const now = performance.now();
      for (const c of pending) if (c.reflectedAt === undefined && c.seen(cp.provider.snapshot)) c.reflectedAt = now;
    });
    cp.xds.on("ack", (e) => {
      if (e.typeUrl !== TypeUrl.ClusterLoadAssignment) return;
      const pushedAt = e.timeMs - e.latencyMs;
      for (let k = 0; k < pending.length; k++) {
        const c = pending[k]!;
        if (c.reflectedAt === undefined || pushedAt < c.reflectedAt || c.acked.has(e.proxyId) || !e.names.includes(cluster(c.service))) continue;
        c.acked.set(e.proxyId, e.timeMs - c.t0);
        if (c.acked.size === proxies.size) {
          pending.splice(k--, 1);
          done.push(c);
        }
      }
    });

    const stats0 = Object.values(cp.kubernetes!.stats()).reduce((a, s) => a + s.watchEvents, 0);
    const churn0 = performance.now();
    const total = rate * seconds;
    let writeErrors = 0;
    let labelRev = 0;
    const sliceChains: Promise<void>[] = [];
    const writes: Promise<unknown>[] = [];
    for (let k = 0; k < total; k++) {
      const due = churn0 + (k * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const i = Math.floor(Math.random() * pods);
      const s = serviceOf(i);
      const t0 = performance.now();
      if (k % 2 === 0) {
        // EndpointSlice churn: flip one endpoint's readiness. Writes to one slice go one after
        // another (each needs the resourceVersion the previous one returned).
        const slice = slices[s]!;
        const write = (sliceChains[s] ?? Promise.resolve()).then(async () => {
          const ep = slice.endpoints.find((e) => e.addresses[0] === podIp(i))!;
          ep.conditions.ready = !ep.conditions.ready;
          const ready = ep.conditions.ready;
          const c: Change = { t0: performance.now(), service: s, acked: new Map(), seen: (snap) => (byHost(snap, host(s))?.endpoints.some((e) => e.address === podIp(i)) ?? false) === ready };
          pending.push(c);
          try {
            const r = await client.request<Slice>("PUT", `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/${slice.metadata.name}`, { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", ...slice });
            slice.metadata.resourceVersion = r.metadata.resourceVersion;
          } catch {
            writeErrors++;
            pending.splice(pending.indexOf(c), 1);
            ep.conditions.ready = !ready;
          }
        });
        sliceChains[s] = write;
        writes.push(write);
      } else {
        // Pod churn: a label every endpoint of the pod carries (merge patches need no resourceVersion).
        const rev = String(++labelRev);
        const c: Change = { t0, service: s, acked: new Map(), seen: (snap) => byHost(snap, host(s))?.endpoints.find((e) => e.address === podIp(i))?.labels["rev"] === rev || !(byHost(snap, host(s))?.endpoints.some((e) => e.address === podIp(i)) ?? false) };
        pending.push(c);
        writes.push(client.request("PATCH", `/api/v1/namespaces/${NS}/pods/${podName(i)}`, { metadata: { labels: { rev } } }, "application/merge-patch+json").catch(() => (writeErrors++, pending.splice(pending.indexOf(c), 1))));
      }
    }
    await Promise.all(writes);
    const writeSeconds = (performance.now() - churn0) / 1000;
    const deadline = performance.now() + 30_000;
    while (pending.length > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const events = Object.values(cp.kubernetes!.stats()).reduce((a, s) => a + s.watchEvents, 0) - stats0;
    const times = done.flatMap((c) => [...c.acked.values()]).sort((a, b) => a - b);
    const lastPerChange = done.map((c) => Math.max(...c.acked.values())).sort((a, b) => a - b);
    const reflected = done.map((c) => c.reflectedAt! - c.t0).sort((a, b) => a - b);
    const modelToAck = done.flatMap((c) => [...c.acked.values()].map((t) => t - (c.reflectedAt! - c.t0))).sort((a, b) => a - b);
    console.log(`k8s-churn: from the write to meshward's model reflecting it p50 ${round(percentile(reflected, 50))} ms p99 ${round(percentile(reflected, 99))} ms (apiserver write, watch event, model rebuild)`);
    console.log(`k8s-churn: from the model to each sidecar's ACK p50 ${round(percentile(modelToAck, 50))} ms p99 ${round(percentile(modelToAck, 99))} ms (debounce, translation, push, the sidecar workers' ACK)`);
    console.log(
      `k8s-churn: ${total} changes in ${round(writeSeconds)} s (${writeErrors} writes failed), ${done.length} converged on all ${proxies.size} sidecars, ${pending.length} not within 30 s; ` +
        `per sidecar p50 ${round(percentile(times, 50))} ms p99 ${round(percentile(times, 99))} ms; last sidecar per change p50 ${round(percentile(lastPerChange, 50))} ms p99 ${round(percentile(lastPerChange, 99))} ms`,
    );
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    console.log(`k8s-churn: ${events} apiserver watch events in ${round(writeSeconds)} s; peak RSS ${peakRssBytes} bytes (control plane and driver in one process; the apiserver and etcd are apart)`);
    for (const c of children) c.send({ stop: true });
    await cp.stop();
    console.log(
      JSON.stringify({
        pods,
        rate,
        convergeMsP50: round(percentile(times, 50)),
        convergeMsP99: round(percentile(times, 99)),
        peakRssBytes,
        apiserverEventsPerSec: round(events / writeSeconds),
        services,
        sidecars,
        changes: total,
        converged: done.length,
        bytesPerPod: Math.round((rssSynced - rssBase) / pods),
        writeToModelMsP50: round(percentile(reflected, 50)),
        modelToAckMsP50: round(percentile(modelToAck, 50)),
        modelToAckMsP99: round(percentile(modelToAck, 99)),
      }),
    );
  } finally {
    for (const c of children) c.kill();
    kas.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack : String(err));
    process.exit(1);
  },
);
